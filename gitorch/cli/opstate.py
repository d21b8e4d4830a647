"""``gitorch operator scheduler get-config|set-config`` and ``gitorch operator snapshot
save|restore``, as Nomad's (registered into ``operator`` by ``gitorch.cli.main``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from gitorch.cli.output import Context, emit, fields, pass_context, template_option

PATH = "/v1/operator/scheduler/configuration"
FC = TypeVar("FC", bound=Callable[..., Any])
_BOOLS = {
    "memory_oversubscription": ("MemoryOversubscriptionEnabled",),
    "reject_job_registration": ("RejectJobRegistration",),
    "pause_eval_broker": ("PauseEvalBroker",),
    "preempt_batch_scheduler": ("PreemptionConfig", "BatchSchedulerEnabled"),
    "preempt_service_scheduler": ("PreemptionConfig", "ServiceSchedulerEnabled"),
    "preempt_sysbatch_scheduler": ("PreemptionConfig", "SysBatchSchedulerEnabled"),
    "preempt_system_scheduler": ("PreemptionConfig", "SystemSchedulerEnabled"),
}


@click.group()
def scheduler() -> None:
    """Read and change the cluster's scheduler configuration."""


@scheduler.command("get-config")
@template_option
@pass_context
def get_config(ctx: Context, template: str | None) -> None:
    """Show the scheduler configuration."""
    config: dict[str, Any] = ctx.client().request("GET", PATH).json()["SchedulerConfig"]
    if emit(ctx, config, template):
        return
    preempt = config.get("PreemptionConfig") or {}
    click.echo(
        fields(
            [
                ("Scheduler Algorithm", config["SchedulerAlgorithm"]),
                ("Memory Oversubscription", _b(config["MemoryOversubscriptionEnabled"])),
                ("Reject Job Registration", _b(config["RejectJobRegistration"])),
                ("Pause Eval Broker", _b(config["PauseEvalBroker"])),
                ("Preemption System Scheduler", _b(preempt.get("SystemSchedulerEnabled"))),
                ("Preemption Service Scheduler", _b(preempt.get("ServiceSchedulerEnabled"))),
                ("Preemption Batch Scheduler", _b(preempt.get("BatchSchedulerEnabled"))),
                ("Preemption SysBatch Scheduler", _b(preempt.get("SysBatchSchedulerEnabled"))),
                ("Node Limit For Feasibility Checks", config["NodeLimitForFeasibilityChecks"]),
                ("Modify Index", config["ModifyIndex"]),
            ]
        )
    )


def _b(value: object) -> str:
    return str(bool(value)).lower()


def _bool_option(name: str) -> Callable[[FC], FC]:
    flag = name.replace("_", "-")
    return click.option(f"-{flag}", f"--{flag}", name, type=click.BOOL, default=None)


@scheduler.command("set-config")
@click.option("-scheduler-algorithm", "--scheduler-algorithm", "algorithm", default=None,
              type=click.Choice(["binpack", "spread"]), help="binpack or spread.")  # fmt: skip
@click.option("-check-index", "--check-index", "check_index", type=int, default=None,
              help="Change only if the configuration's modify index is this.")  # fmt: skip
@click.option("-node-limit-for-feasibility-checks", "--node-limit-for-feasibility-checks",
              "node_limit", type=click.IntRange(min=0), default=None)  # fmt: skip
@_bool_option("memory_oversubscription")
@_bool_option("reject_job_registration")
@_bool_option("pause_eval_broker")
@_bool_option("preempt_batch_scheduler")
@_bool_option("preempt_service_scheduler")
@_bool_option("preempt_sysbatch_scheduler")
@_bool_option("preempt_system_scheduler")
@pass_context
def set_config(
    ctx: Context,
    /,
    algorithm: str | None,
    check_index: int | None,
    node_limit: int | None,
    **flags: bool | None,
) -> None:
    """Change the scheduler configuration: what is not given stays as it is. The change
    is check-and-set against the configuration read first, as Nomad's."""
    client = ctx.client()
    config: dict[str, Any] = client.request("GET", PATH).json()["SchedulerConfig"]
    if check_index is not None and check_index != config["ModifyIndex"]:
        raise click.ClickException(
            f"check-index {check_index} does not match the current modify index "
            f"{config['ModifyIndex']}"
        )
    if algorithm is not None:
        config["SchedulerAlgorithm"] = algorithm
    if node_limit is not None:
        config["NodeLimitForFeasibilityChecks"] = node_limit
    for name, value in flags.items():
        if value is not None:
            *parents, key = _BOOLS[name]
            target = config
            for parent in parents:
                target = target.setdefault(parent, {})
            target[key] = value
    cas = {"cas": config["ModifyIndex"]}
    result = client.request("PUT", PATH, params=cas, body=config).json()
    if not result.get("Updated"):
        raise click.ClickException(
            "Scheduler configuration could not be atomically updated, please try again"
        )
    click.echo("Scheduler configuration updated!")


@click.group()
def snapshot() -> None:
    """Save and restore a snapshot of the cluster's state."""


@snapshot.command("save")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def save(ctx: Context, file: Path) -> None:
    """Save a consistent snapshot of the cluster's state to FILE (it holds ACL token
    hashes and encrypted variables: it is written readable by its owner only)."""
    data = ctx.client().request("GET", "/v1/operator/snapshot", timeout=600.0).content
    tmp = file.with_name(f".{file.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(file)
    click.echo(f"State file written to {file}")


@snapshot.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_context
def restore(ctx: Context, file: Path) -> None:
    """Replace the cluster's state with the snapshot in FILE, on every server."""
    ctx.client().request("PUT", "/v1/operator/snapshot", content=file.read_bytes(), timeout=600.0)
    click.echo("Snapshot Restored")
