"""The ``gitorch`` command: ``gitorch <noun> <verb>`` like ``nomad``, plus ``sync``,
``diff``, ``plugin list`` and ``agent``.

Exit codes: 0 success, 1 an error (its message on stderr), 2 a usage error or a job
that could not be placed. Every command but ``job validate``, ``plugin list`` and
``agent`` talks to a server only through the HTTP API.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from gitorch.cli import agentcmds
from gitorch.cli.acl import acl
from gitorch.cli.alloc import alloc
from gitorch.cli.alloc_ops import alloc_exec, alloc_fs, alloc_restart, alloc_signal
from gitorch.cli.cluster import operator, server
from gitorch.cli.completion import completion
from gitorch.cli.deployment import deployment
from gitorch.cli.drain import drain
from gitorch.cli.evals import evals
from gitorch.cli.gitops import diff, gitops, sync
from gitorch.cli.job import job
from gitorch.cli.namespace import namespace
from gitorch.cli.node import node
from gitorch.cli.opstate import scheduler, snapshot
from gitorch.cli.options import TlsOptions, general_options, hoist
from gitorch.cli.output import Context, emit_json, pass_context, table
from gitorch.cli.overview import status
from gitorch.cli.service import service
from gitorch.cli.system import alloc_stop, job_scale, system
from gitorch.cli.var import root, var
from gitorch.errors import GitorchError


class GitorchGroup(click.Group):
    """A command group that turns gitorch errors into ``Error: ...`` and exit code 1."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:  # the root: general options may follow any subcommand
            args = hoist(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GitorchError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=GitorchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@general_options
@click.version_option(package_name="gitorch")
@click.pass_context
def cli(
    ctx: click.Context, /, as_json: bool, tls_skip_verify: bool, no_color: bool, **given: str | None
) -> None:
    """gitorch: a Git-driven workload orchestrator in the shape of Nomad.

    The general options (-address, -token, -namespace, -region, -ca-cert, -ca-path,
    -client-cert, -client-key, -tls-server-name, -tls-skip-verify, -json, -no-color) may
    also follow any command.
    """
    tls = TlsOptions.resolve(
        ca_cert=given["ca_cert"],
        ca_path=given["ca_path"],
        client_cert=given["client_cert"],
        client_key=given["client_key"],
        skip_verify=tls_skip_verify,
        server_name=given["tls_server_name"],
    )
    ctx.obj = Context(
        address=given["address"],
        token=given["token"],
        json=as_json,
        namespace=given["namespace"],
        region=given["region"],
        tls=tls,
    )


cli.add_command(job)
cli.add_command(alloc)
node.add_command(drain)
cli.add_command(node)
cli.add_command(server)
cli.add_command(operator)
cli.add_command(acl)
cli.add_command(var)
operator.add_command(root)
operator.add_command(scheduler)
operator.add_command(snapshot)
agentcmds.register(cli, server)
for _command in (evals, deployment, service, status, completion, sync, diff, gitops, namespace):
    cli.add_command(_command)
cli.add_command(importlib.import_module("gitorch.cli.tls").tls)
for _group, _sub in ((cli, system), (alloc, alloc_stop), (job, job_scale)):
    _group.add_command(_sub)
for _sub in (alloc_fs, alloc_exec, alloc_restart, alloc_signal):
    alloc.add_command(_sub)


@cli.group()
def plugin() -> None:
    """Inspect the installed driver and device plugins."""


@plugin.command("list")
@click.option("-json", "--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def plugin_list(ctx: Context, as_json: bool) -> None:
    """Plugins found in this Python environment: name, version, drivers, devices,
    providers, hooks."""
    try:
        manager = importlib.import_module("gitorch.plugins.manager")
    except ImportError as exc:
        raise click.ClickException(f"the plugin manager is not available: {exc}") from exc
    pm = manager.load()
    infos = pm.plugin_info()
    if as_json or ctx.json:
        emit_json({"Plugins": infos, "Errors": pm.errors})
        return
    rows = [
        (i.name, i.version or "", i.dist or "", ",".join(i.drivers), ",".join(i.devices),
         ",".join(i.providers), ",".join(i.hooks))
        for i in infos
    ]  # fmt: skip
    heads = ("Name", "Version", "Package", "Drivers", "Devices", "Providers", "Hooks")
    click.echo(table(heads, rows))
    for err in pm.errors:
        click.echo(f"plugin {err.name} skipped: {err.message}", err=True)


@cli.command()
@click.option("-dev", "--dev", is_flag=True, help="One server and client in this process.")
@click.option("-config", "--config", multiple=True, help="Agent config file (repeatable).")
@click.option("--repo", default=None, help="Git repository to sync from.")
@click.option("--branch", default=None, help="Branch of the repository.")
@click.option("--path", default=None, help="Folder of jobspecs inside the repository.")
@click.option("-data-dir", "--data-dir", default=None, help="State directory.")
@click.option("--http-port", type=int, default=None, help="HTTP API port.")
@click.option("--rpc-port", type=int, default=None, help="Raft port (ports { rpc }).")
@click.option("-bind", "--bind", default=None, help="Address to bind.")
def agent(**options: Any) -> None:
    """Run a gitorch agent (server and/or client)."""
    run = importlib.import_module("gitorch.agent.run")
    code = run.main(options)
    if isinstance(code, int) and code:
        raise SystemExit(code)


def main() -> None:
    """Console-script entry point: plugins may add subcommands (``register_commands``)."""
    _plugin_commands()
    cli(prog_name="gitorch")


def _plugin_commands() -> None:
    """Let plugins add subcommands; a broken plugin is reported on stderr and skipped."""
    from gitorch.plugins import manager

    pm = manager.load()
    pm.register_commands(cli)
    for err in pm.errors:
        click.echo(f"gitorch: plugin {err.name!r} skipped: {err.message}", err=True)


__all__ = ["cli", "main"]


if __name__ == "__main__":
    main()
