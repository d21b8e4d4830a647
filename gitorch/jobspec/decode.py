"""A resolved HCL body to a :class:`Job`, with Nomad's grammar and defaults.

The block and attribute names are those of Nomad's ``api`` package hcl tags. Blocks and
attributes that Nomad knows but gitorch does not do are in the one table of
:mod:`gitorch.jobspec.unsupported`: each is a located warning (the job runs; gitorch
says what it does instead) or a located error. Anything else unknown is an error naming
the line and block path, with a "did you mean" hint when one is close.
"""

from __future__ import annotations

from typing import Any

from gitorch.core.model.base import replace
from gitorch.core.model.deployment import UpdateStrategy
from gitorch.core.model.drain import MigrateStrategy
from gitorch.core.model.job import (
    BATCH_RESTART,
    SECOND,
    Affinity,
    Constraint,
    EphemeralDisk,
    Job,
    LogConfig,
    NetworkResource,
    Port,
    RequestedDevice,
    ReschedulePolicy,
    Resources,
    RestartPolicy,
    Service,
    ServiceCheck,
    Task,
    TaskGroup,
    TaskLifecycle,
    Template,
    default_reschedule,
)
from gitorch.core.model.vault import Vault
from gitorch.errors import JobspecError
from gitorch.jobspec.artifacts import decode_artifacts
from gitorch.jobspec.hcl import Body
from gitorch.jobspec.identity import decode_identity
from gitorch.jobspec.launch import decode_dispatch_payload, decode_parameterized, decode_periodic
from gitorch.jobspec.migrate import decode_disconnect, decode_migrate, decode_old_disconnect
from gitorch.jobspec.placement import (
    check_distinct,
    check_mounts,
    decode_spreads,
    decode_volume_mounts,
    decode_volumes,
)
from gitorch.jobspec.reader import BlockReader, each, one
from gitorch.jobspec.scaling import decode_scaling
from gitorch.jobspec.services import check_header, check_restart
from gitorch.jobspec.templates import decode_template
from gitorch.jobspec.validate import combine
from gitorch.jobspec.vault import decode_vault
from gitorch.jobspec.warnings import JobspecWarning

# Nomad's constraint shorthands: ``regexp = "x"`` means operator "regexp", value "x".
_SHORTHAND_RTARGET = ("version", "semver", "regexp", "set_contains", "set_contains_all",
                      "set_contains_any")  # fmt: skip
_SHORTHAND_LTARGET = ("distinct_property", "is_set", "is_not_set")
_TASK_NETWORK = (
    'a "network" block in a task\'s resources is not supported (Nomad deprecated it): '
    "declare ports in the group's network block"
)


def decode(
    body: Body,
    file: str,
    lines: dict[str, int] | None = None,
    warnings: list[JobspecWarning] | None = None,
) -> Job:
    """The one ``job`` block of a resolved document, as a Job with Nomad's defaults.

    ``lines``, when given, is filled with the line of each block path (``job "x" > group
    "y"``), of each block by position (``... > constraint#0``) and of each attribute
    (``... > task "z".kill_signal``), for :func:`~gitorch.jobspec.validate.validate`.
    ``warnings``, when given, receives the located warnings (see
    :mod:`gitorch.jobspec.unsupported`); errors raise, all of them at once.
    """
    problems: list[JobspecError] = []
    table = {} if lines is None else lines
    top = BlockReader(problems, table, file, "file", "", body, warnings)
    jobs = each(top, "job", 1, _job)
    top.finish()
    found = top.body.blocks_of("job")
    if len(found) != 1:
        what = f"{len(found)} job blocks" if found else "none"
        line = found[1].line if len(found) > 1 else 0
        msg = f"a jobspec file holds exactly one job block; found {what}"
        problems.append(JobspecError(msg, file=file, line=line))
    if problems or not jobs:
        raise combine(problems, file)
    return jobs[0]


def _job(r: BlockReader, job_id: str) -> Job:
    job_id = r.string("id", job_id)
    name = r.string("name", job_id)
    job_type = r.string("type", "service")
    base = BATCH_RESTART if job_type in ("batch", "sysbatch") else RestartPolicy()
    resched = _reschedule(r, default_reschedule(job_type))  # the job's block over defaults
    update = _update(r, None)  # the job's update block, merged into each group's
    migrate = decode_migrate(r, None)  # likewise the job's migrate block
    vault = one(r, "vault", None, decode_vault)  # each task's without its own
    # A task outside any group gets a group of its own, as in Nomad.
    alone = each(r, "task", 1, lambda t, x: _task(t, x, f"{name}-{x}-{x}", base, vault))
    groups = [
        TaskGroup(
            name=t.name,
            tasks=[t],
            restart_policy=base,
            reschedule_policy=resched,
            update=update,
            migrate=migrate,
        )
        for t in alone
    ]
    groups += each(
        r,
        "group",
        1,
        lambda g, label: _group(g, label, name, base, resched, update, migrate, vault),
    )
    fields: dict[str, Any] = {"type": job_type, "datacenters": r.strings("datacenters") or ["*"]}
    return Job(
        id=job_id,
        name=name,
        namespace=r.string("namespace", "default"),
        region=r.string("region", "global"),
        priority=r.integer("priority", 50),
        all_at_once=r.boolean("all_at_once"),
        constraints=_constraints(r),
        affinities=each(r, "affinity", 0, _affinity),
        spreads=decode_spreads(r),
        node_pool=r.string("node_pool", "default"),
        task_groups=groups,
        meta=r.string_map("meta"),
        update=update,
        periodic=one(r, "periodic", None, decode_periodic),
        parameterized_job=one(r, "parameterized", None, decode_parameterized),
        **fields,
    )


def _group(
    r: BlockReader,
    name: str,
    job_name: str,
    base: RestartPolicy,
    resched: ReschedulePolicy,
    update: UpdateStrategy | None,
    migrate: MigrateStrategy | None = None,
    vault: Vault | None = None,
) -> TaskGroup:
    restart = _restart(r, base)
    prefix = f"{job_name}-{name}"
    max_client_disconnect, stop_after_client_disconnect = decode_old_disconnect(r)
    vault = one(r, "vault", vault, decode_vault)
    tasks = each(
        r, "task", 1, lambda t, label: _task(t, label, f"{prefix}-{label}", restart, vault)
    )
    volumes = decode_volumes(r)
    check_mounts(r, volumes, tasks)
    scaling = one(r, "scaling", None, decode_scaling)
    count = r.integer("count", 1)
    if scaling is not None and scaling.min is not None and "count" not in r.body.attributes:
        count = scaling.min  # Nomad: a group that scales and sets no count starts at min
    return TaskGroup(
        name=name,
        count=count,
        scaling=scaling,
        constraints=_constraints(r),
        tasks=tasks,
        restart_policy=restart,
        reschedule_policy=_reschedule(r, resched),
        services=_services(r, prefix),
        meta=r.string_map("meta"),
        networks=each(r, "network", 0, _network),
        affinities=each(r, "affinity", 0, _affinity),
        update=_update(r, update),
        migrate=decode_migrate(r, migrate),
        disconnect=decode_disconnect(r),
        max_client_disconnect=max_client_disconnect,
        stop_after_client_disconnect=stop_after_client_disconnect,
        spreads=decode_spreads(r),
        volumes=volumes,
        ephemeral_disk=one(r, "ephemeral_disk", None, _ephemeral_disk),
    )


def _ephemeral_disk(c: BlockReader, _: str) -> EphemeralDisk:
    """``ephemeral_disk { size }``, counted with the tasks' disk when placing; ``sticky``
    and ``migrate`` are in the unsupported table."""
    size = c.integer("size", 300)
    if size < 0:
        c.error(f'"size" must be 0 or more MB; got {size}', c.lines.get(f"{c.path}.size", 0))
    return EphemeralDisk(size_mb=max(size, 0))


def _task(
    r: BlockReader,
    name: str,
    service_name: str,
    restart: RestartPolicy,
    vault: Vault | None = None,
) -> Task:
    return Task(
        name=name,
        driver=r.string("driver"),
        user=r.string("user"),
        config=r.mapping("config") or {},
        env=r.string_map("env"),
        services=_services(r, service_name),
        constraints=_constraints(r, task=True),
        resources=one(r, "resources", Resources(), _resources),
        meta=r.string_map("meta"),
        kill_timeout=r.duration("kill_timeout", 5 * SECOND),
        kill_signal=r.string("kill_signal", "SIGINT"),
        templates=each(r, "template", 0, _template),
        log_config=one(r, "logs", LogConfig(), _logs),
        leader=r.boolean("leader"),
        lifecycle=one(r, "lifecycle", None, _lifecycle),
        affinities=each(r, "affinity", 0, _affinity),
        restart_policy=_restart(r, restart),
        dispatch_payload=one(r, "dispatch_payload", None, decode_dispatch_payload),
        identity=one(r, "identity", None, decode_identity),
        volume_mounts=decode_volume_mounts(r),
        artifacts=decode_artifacts(r),
        vault=one(r, "vault", vault, decode_vault),
    )


_HOOKS = ("prestart", "poststart", "poststop")


def _lifecycle(c: BlockReader, _: str) -> TaskLifecycle | None:
    """``lifecycle { hook, sidecar }``; Nomad rejects any other hook."""
    hook, sidecar = c.string("hook"), c.boolean("sidecar")
    if hook not in _HOOKS:
        line = c.lines.get(f"{c.path}.hook", c.body.line)
        c.error(f'lifecycle "hook" must be one of {", ".join(_HOOKS)}; got {hook!r}', line)
        return None
    return TaskLifecycle(hook=hook, sidecar=sidecar)  # type: ignore[arg-type]


def _restart(r: BlockReader, base: RestartPolicy) -> RestartPolicy:
    """``base`` with the fields a ``restart`` block sets (Nomad's RestartPolicy.Merge)."""

    def merge(c: BlockReader, _: str) -> RestartPolicy:
        return replace(
            base,
            attempts=c.integer("attempts", base.attempts),
            interval=c.duration("interval", base.interval),
            delay=c.duration("delay", base.delay),
            mode=c.string("mode", base.mode),
        )

    return one(r, "restart", base, merge)


def _reschedule(r: BlockReader, base: ReschedulePolicy) -> ReschedulePolicy:
    """``base`` with the fields a ``reschedule`` block sets (a group's over the job's)."""

    def merge(c: BlockReader, _: str) -> ReschedulePolicy:
        return replace(
            base,
            attempts=c.integer("attempts", base.attempts),
            interval=c.duration("interval", base.interval),
            delay=c.duration("delay", base.delay),
            delay_function=c.string("delay_function", base.delay_function),
            max_delay=c.duration("max_delay", base.max_delay),
            unlimited=c.boolean("unlimited", base.unlimited),
        )

    return one(r, "reschedule", base, merge)


def _update(r: BlockReader, base: UpdateStrategy | None) -> UpdateStrategy | None:
    """``base`` (the job's strategy, else Nomad's defaults) with the fields an ``update``
    block sets; ``base`` itself when there is none (Nomad's UpdateStrategy.Merge)."""

    def merge(c: BlockReader, _: str) -> UpdateStrategy:
        b = base or UpdateStrategy()
        return UpdateStrategy(
            stagger=c.duration("stagger", b.stagger),
            max_parallel=c.integer("max_parallel", b.max_parallel),
            health_check=c.string("health_check", b.health_check),  # type: ignore[arg-type]
            min_healthy_time=c.duration("min_healthy_time", b.min_healthy_time),
            healthy_deadline=c.duration("healthy_deadline", b.healthy_deadline),
            progress_deadline=c.duration("progress_deadline", b.progress_deadline),
            auto_revert=c.boolean("auto_revert", b.auto_revert),
            auto_promote=c.boolean("auto_promote", b.auto_promote),
            canary=c.integer("canary", b.canary),
        )

    return one(r, "update", base, merge)


def _resources(c: BlockReader, _: str) -> Resources:
    for block in c.blocks("network"):
        c.error(_TASK_NETWORK, block.line)
    return Resources(
        cpu=c.integer("cpu", 100),
        memory_mb=c.integer("memory", 300),
        memory_max_mb=c.integer("memory_max", 0),
        disk_mb=c.integer("disk", 0),
        devices=each(c, "device", 1, _device),
    )


def _network(c: BlockReader, _: str) -> NetworkResource:
    """A group's ``network``: ports with ``static`` are reserved, the others dynamic."""
    reserved: list[Port] = []
    dynamic: list[Port] = []

    def port(p: BlockReader, label: str) -> None:
        static = p.integer("static", 0)
        to, host_network = p.integer("to", 0), p.string("host_network", "default")
        found = Port(label=label, value=static, to=to, host_network=host_network)
        (reserved if static else dynamic).append(found)

    each(c, "port", 1, port)
    return NetworkResource(
        mode=c.string("mode", "host"), reserved_ports=reserved, dynamic_ports=dynamic
    )


def _device(c: BlockReader, name: str) -> RequestedDevice:
    return RequestedDevice(
        name=name,
        count=c.integer("count", 1),
        constraints=_constraints(c),
        affinities=each(c, "affinity", 0, _affinity),
    )


def _affinity(c: BlockReader, _: str) -> Affinity:
    """Nomad's affinity: ``attribute``/``operator``/``value``/``weight`` or a shorthand."""
    ltarget, rtarget, operand = c.string("attribute"), c.string("value"), c.string("operator")
    for op in _SHORTHAND_RTARGET:
        if shorthand := c.string(op):
            operand, rtarget = op, shorthand
    weight = c.integer("weight", 50)
    return Affinity(ltarget=ltarget, rtarget=rtarget, operand=operand or "=", weight=weight)


def _logs(c: BlockReader, _: str) -> LogConfig:
    return LogConfig(
        max_files=c.integer("max_files", 10), max_file_size_mb=c.integer("max_file_size", 10)
    )


def _template(c: BlockReader, name: str) -> Template:
    return decode_template(c, name)


def _services(r: BlockReader, default_name: str) -> list[Service]:
    def service(c: BlockReader, _: str) -> Service:
        name = c.string("name", default_name)
        fields: dict[str, Any] = {"provider": c.string("provider", "nomad")}
        return Service(
            name=name,
            task_name=c.string("task"),
            port_label=c.string("port"),
            address=c.string("address"),
            tags=c.strings("tags"),
            canary_tags=c.strings("canary_tags"),
            address_mode=c.string("address_mode", "auto"),
            checks=each(c, "check", 0, lambda k, _: _check(k, name)),
            check_restart=one(c, "check_restart", None, check_restart),
            meta=c.string_map("meta"),
            canary_meta=c.string_map("canary_meta"),
            on_update=c.string("on_update", "require_healthy"),
            **fields,
        )

    return each(r, "service", 0, service)


def _check(c: BlockReader, service: str) -> ServiceCheck:
    return ServiceCheck(
        name=c.string("name", f'service: "{service}" check'),
        type=c.string("type"),
        path=c.string("path"),
        protocol=c.string("protocol"),
        method=c.string("method"),
        header=check_header(c),
        body=c.string("body"),
        tls_skip_verify=c.boolean("tls_skip_verify"),
        grpc_service=c.string("grpc_service"),
        grpc_use_tls=c.boolean("grpc_use_tls"),
        port_label=c.string("port"),
        address_mode=c.string("address_mode"),
        interval=c.duration("interval", 0),
        timeout=c.duration("timeout", 0),
        command=c.string("command"),
        args=c.strings("args"),
        task_name=c.string("task"),
        initial_status=c.string("initial_status"),
        success_before_passing=c.integer("success_before_passing", 0),
        failures_before_critical=c.integer("failures_before_critical", 0),
        failures_before_warning=c.integer("failures_before_warning", 0),
        on_update=c.string("on_update", "require_healthy"),
        check_restart=one(c, "check_restart", None, check_restart),
    )


def _constraints(r: BlockReader, *, task: bool = False) -> list[Constraint]:
    """Nomad's decodeConstraint: ``attribute``/``operator``/``value`` or a shorthand.
    ``distinct_hosts`` and ``distinct_property`` belong to a job or group (Nomad)."""

    def constraint(c: BlockReader, _: str) -> Constraint:
        ltarget, rtarget, operand = c.string("attribute"), c.string("value"), c.string("operator")
        for op in _SHORTHAND_RTARGET:
            if shorthand := c.string(op):
                operand, rtarget = op, shorthand
        if "distinct_hosts" in c.body.attributes:
            operand, rtarget = "distinct_hosts", "true" if c.boolean("distinct_hosts") else "false"
        c.asked.add("distinct_hosts")
        for op in _SHORTHAND_LTARGET:
            if shorthand := c.string(op):
                operand, ltarget = op, shorthand
        check_distinct(c, operand, rtarget, task=task)
        return Constraint(ltarget=ltarget, rtarget=rtarget, operand=operand or "=")

    return each(r, "constraint", 0, constraint)
