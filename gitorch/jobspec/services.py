"""The ``service`` and ``check`` blocks: what the decoder reads beyond plain attributes,
(what gitorch does not do is in :mod:`gitorch.jobspec.unsupported`), and the semantic
checks on decoded services (names, providers, address modes, port labels, checks).
"""

from __future__ import annotations

import re

from gitorch.core.model.job import TaskGroup
from gitorch.core.model.service import CheckRestart, Service, ServiceCheck
from gitorch.jobspec.providers import service_provider_problem
from gitorch.jobspec.reader import BlockReader
from gitorch.jobspec.redact import excerpt

Problem = tuple[str, str, str]  # (block path, message, key of the line)

CHECK_TYPES = ("http", "tcp", "grpc", "script")
ADDRESS_MODES = ("auto", "host", "alloc")
CHECK_ADDRESS_MODES = ("", "host", "alloc")
ON_UPDATE = ("require_healthy", "ignore_warnings", "ignore")
INITIAL_STATUS = ("", "passing", "critical")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


def check_header(c: BlockReader) -> dict[str, list[str]]:
    """``header { Name = ["value", ...] }``: each value a list of strings (or one)."""
    out: dict[str, list[str]] = {}
    for key, value in (c.mapping("header") or {}).items():
        values = value if isinstance(value, list) else [value]
        if all(isinstance(v, str | int | float) for v in values):
            out[str(key)] = [str(v) for v in values]
        else:
            line = c.lines.get(f"{c.path}.header", c.body.line)
            c.error(f'"header.{key}": expected a list of strings, as in ["value"]', line)
    return out


def check_restart(c: BlockReader, _: str) -> CheckRestart:
    return CheckRestart(
        limit=c.integer("limit", 0),
        grace=c.duration("grace", 1_000_000_000),
        ignore_warnings=c.boolean("ignore_warnings"),
    )


# -- semantic checks ------------------------------------------------------------------


def problems(where: str, services: list[Service], checks: object = None) -> list[Problem]:
    """Every problem of the ``service`` blocks at ``where`` (a group or a task);
    ``checks`` (a :class:`~gitorch.jobspec.providers.PluginChecks`) knows the installed
    service providers."""
    out: list[Problem] = []
    for i, svc in enumerate(services):
        at, key = f'{where} > service "{svc.name}"', f"{where} > service#{i}"
        if not re.fullmatch(r"[A-Za-z0-9$]([A-Za-z0-9${}._-]*[A-Za-z0-9}])?", svc.name):
            out.append((at, "a service name uses letters, digits and dashes only", key))
        problem = service_provider_problem(svc.provider, checks)
        if problem:  # the attribute's line is known when the block is the only one
            out.append((at, problem, f"{where} > service.provider" if len(services) == 1 else key))
        if svc.address_mode not in ADDRESS_MODES:
            msg = _mode_message(svc.address_mode, ADDRESS_MODES)
            out.append((at, msg, f"{at}.address_mode"))
        if svc.address and svc.address_mode != "auto":
            msg = 'address may only be set with address_mode = "auto" (Nomad)'
            out.append((at, msg, f"{at}.address"))
        if svc.port_label.isdigit() and svc.address_mode == "host":
            msg = 'address_mode "host" needs a port label from the network block, not a number'
            out.append((at, msg, f"{at}.port"))
        if svc.on_update not in ON_UPDATE:
            out.append((at, f"on_update must be one of {', '.join(ON_UPDATE)}", key))
        _restart(out, at, key, svc.check_restart)
        for j, check in enumerate(svc.checks):
            _check(out, f"{at} > check", f"{where} > service > check#{j}", svc, check)
    return out


def port_problems(where: str, group: TaskGroup) -> list[Problem]:
    """Services and checks whose port label the group's network does not define."""
    labels = {p.label for n in group.networks for p in [*n.reserved_ports, *n.dynamic_ports]}
    out: list[Problem] = []
    scopes = [(where, group.services)]
    scopes += [(f'{where} > task "{t.name}"', t.services) for t in group.tasks]
    for scope, services in scopes:
        for i, svc in enumerate(services):
            at, key = f'{scope} > service "{svc.name}"', f"{scope} > service#{i}"
            for label, what, k in [(svc.port_label, "service", f"{at}.port")] + [
                (c.port_label, "check", f"{scope} > service > check#{j}")
                for j, c in enumerate(svc.checks)
                if c.type != "script"
            ]:
                if label and not label.isdigit() and label not in labels:
                    known = ", ".join(sorted(labels)) or "none"
                    msg = (
                        f"{what} port {excerpt(label)} is not a port label of the group's "
                        f"network block (labels: {known})"
                    )
                    out.append((at, msg, k or key))
            probed = [c for c in svc.checks if c.type != "script"]
            if probed and not svc.port_label and any(not c.port_label for c in probed):
                msg = "a check needs a port: set port on the service or on the check"
                out.append((at, msg, key))
            tasks = [t.name for t in group.tasks]
            out += _script_task_problems(at, key, svc, tasks, group_scope=scope == where)
            if scope == where and svc.task_name not in ("", *[t.name for t in group.tasks]):
                msg = f"task {excerpt(svc.task_name)} is not a task of the group"
                out.append((at, msg, f"{at}.task"))
    return out


def _check(out: list[Problem], at: str, key: str, svc: Service, check: ServiceCheck) -> None:
    if check.type not in CHECK_TYPES:
        kinds = ", ".join(CHECK_TYPES)
        out.append((at, f"unknown check type {excerpt(check.type)}; use one of {kinds}", key))
    if check.interval <= 0 or check.timeout <= 0:
        out.append((at, "a check needs a positive interval and timeout", key))
    if check.type == "http":
        if not check.path:
            out.append((at, 'an http check needs a path, as in path = "/health"', key))
        if check.protocol not in ("", "http", "https"):
            out.append((at, 'protocol must be "http" or "https"', key))
        if check.method and check.method.upper() not in HTTP_METHODS:
            out.append((at, f"unknown HTTP method {excerpt(check.method)}", key))
    _by_type(out, at, key, check)
    if check.address_mode not in CHECK_ADDRESS_MODES:
        out.append((at, _mode_message(check.address_mode, CHECK_ADDRESS_MODES[1:]), key))
    if check.initial_status not in INITIAL_STATUS:
        out.append((at, 'initial_status must be "passing" or "critical"', key))
    counts = (check.success_before_passing, check.failures_before_critical)
    if min(*counts, check.failures_before_warning) < 0:
        msg = (
            "success_before_passing, failures_before_critical and failures_before_warning "
            "may not be negative"
        )
        out.append((at, msg, key))
    elif check.failures_before_warning > max(1, check.failures_before_critical):
        msg = (
            f"failures_before_warning ({check.failures_before_warning}) may not exceed "
            f"failures_before_critical ({max(1, check.failures_before_critical)})"
        )
        out.append((at, msg, key))
    if check.on_update not in ON_UPDATE:
        out.append((at, f"on_update must be one of {', '.join(ON_UPDATE)}", key))
    _restart(out, at, key, check.check_restart)


def _script_task_problems(
    at: str, key: str, svc: Service, tasks: list[str], *, group_scope: bool
) -> list[Problem]:
    """A script check runs in one task: a group service's names it (``task`` on the
    check, or the service's ``task``); a task's service runs it in that task."""
    out: list[Problem] = []
    for check in svc.checks:
        if check.type != "script":
            continue
        if not group_scope:
            if check.task_name:
                msg = "task is set for a script check of a group's service only"
                out.append((at, msg, key))
            continue
        task = check.task_name or svc.task_name
        if not task:
            msg = (
                f"script check {excerpt(check.name)} of a group service needs the task to "
                'run in: set task = "<task name>" on the check'
            )
            out.append((at, msg, key))
        elif task not in tasks:
            out.append((at, f"script check task {excerpt(task)} is not a task of the group", key))
    return out


def _by_type(out: list[Problem], at: str, key: str, check: ServiceCheck) -> None:
    """What only some check types take: ``grpc_*`` for grpc, ``command``/``args``/``task``
    for script."""
    if check.type != "grpc" and (check.grpc_service or check.grpc_use_tls):
        out.append((at, "grpc_service and grpc_use_tls are only for grpc checks", key))
    if check.type == "script":
        if not check.command:
            out.append((at, 'a script check needs a command, as in command = "/bin/check"', key))
    elif check.command or check.args or check.task_name:
        out.append((at, "command, args and task are only for script checks", key))
    if check.type == "grpc" and check.protocol not in ("", "grpc"):
        out.append((at, "a grpc check takes no protocol: use grpc_use_tls = true for TLS", key))
    if check.type == "grpc" and check.tls_skip_verify:
        msg = (
            "tls_skip_verify is not supported on grpc checks (grpcio always verifies the "
            "server's certificate): give the server a certificate the host trusts, or use "
            "a tcp check"
        )
        out.append((at, msg, key))


def _restart(out: list[Problem], at: str, key: str, cr: CheckRestart | None) -> None:
    if cr is not None and (cr.limit < 0 or cr.grace < 0):
        out.append((f"{at} > check_restart", "limit and grace may not be negative", key))


def _mode_message(mode: str, modes: tuple[str, ...]) -> str:
    if mode == "driver":
        return (
            'address_mode "driver" is not supported yet: no gitorch driver reports a '
            f"network of its own; use {', '.join(modes)}"
        )
    return f"unknown address_mode {excerpt(mode)}; use one of {', '.join(modes)}"
