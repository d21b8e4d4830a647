"""Semantic checks on a decoded Job, reporting every problem at once with its block path.

Driver-specific ``config`` checks belong to the driver plugins; pass them in as
``driver_check(driver, config) -> [problem, ...]``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping

from gitorch.core.model.job import (
    Affinity,
    Constraint,
    Job,
    NetworkResource,
    RequestedDevice,
    ReschedulePolicy,
    RestartPolicy,
    Service,
    Task,
    TaskGroup,
)
from gitorch.errors import JobspecError
from gitorch.jobspec.durations import format_duration
from gitorch.jobspec.launch import launch_problems
from gitorch.jobspec.providers import vault_problems
from gitorch.jobspec.redact import excerpt
from gitorch.jobspec.scaling import scaling_problems
from gitorch.jobspec.services import port_problems
from gitorch.jobspec.services import problems as service_problems
from gitorch.jobspec.templates import template_problems
from gitorch.jobspec.validate_update import update_problems

DriverCheck = Callable[[str, dict[str, object]], list[str]]

JOB_TYPES = ("service", "batch", "system", "sysbatch")
SYSTEM_TYPES = ("system", "sysbatch")
OPERANDS = frozenset(
    {
        "=", "==", "is", "!=", "not", ">", ">=", "<", "<=", "regexp", "set_contains",
        "set_contains_all", "set_contains_any", "version", "semver", "distinct_hosts",
        "distinct_property", "is_set", "is_not_set",
    }
)  # fmt: skip
# Operands that compare the attribute against a value, so both must be given.
_NEEDS_RTARGET = OPERANDS - {"distinct_hosts", "distinct_property", "is_set", "is_not_set"}
SIGNALS = frozenset(
    "SIG" + s
    for s in (
        "ABRT ALRM BUS CHLD CONT FPE HUP ILL INT IO IOT KILL PIPE PROF PWR QUIT SEGV STKFLT "
        "STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ"
    ).split()
)
CHANGE_MODES = ("restart", "signal", "noop", "script")
MIN_RESTART_INTERVAL = 5_000_000_000
DELAY_FUNCTIONS = ("constant", "exponential", "fibonacci")
NETWORK_MODES = ("host", "bridge", "none")  # and "cni/<name>"
MAX_PORT = 65535


class _Found:
    """Problems as (block path, message, key of the line in the decoder's table)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def add(self, path: str, message: str, key: str = "") -> None:
        self.items.append((path, message, key or path))


def validate(
    job: Job,
    file: str = "",
    driver_check: DriverCheck | None = None,
    *,
    lines: Mapping[str, int] | None = None,
) -> None:
    """Raise JobspecError listing every problem of ``job`` (in ``.problems``), if any.

    ``lines`` is the table :func:`~gitorch.jobspec.decode.decode` fills, to add line numbers.
    """
    found = _check(job, driver_check, lines)
    if found:
        at = lines or {}
        errors = [
            JobspecError(msg, file=file, line=at.get(key) or at.get(path, 0), path=path)
            for path, msg, key in found
        ]
        raise combine(errors, file)


def combine(problems: list[JobspecError], file: str) -> JobspecError:
    """One error carrying all ``problems`` (one per line of its message), sorted by line."""
    problems = sorted(problems, key=lambda p: (p.file, p.line))
    if len(problems) == 1:
        return problems[0]
    lines = "\n".join(f"  {p.located()}" for p in problems)
    line = min((p.line for p in problems if p.line), default=0)
    msg = f"{len(problems)} problems:\n{lines}"
    return JobspecError(msg, file=file, line=line, problems=problems)


def problems(job: Job, driver_check: DriverCheck | None = None) -> list[tuple[str, str]]:
    """Every problem of ``job`` as (block path, message)."""
    return [(path, message) for path, message, _ in _check(job, driver_check)]


def _check(
    job: Job, driver_check: DriverCheck | None, lines: Mapping[str, int] | None = None
) -> list[tuple[str, str, str]]:
    f, where = _Found(), f'job "{job.id}"'
    if not job.id:
        f.add(where, "the job ID is empty")
    elif re.search(r"[\s/\x00]", job.id):
        f.add(where, f"the job ID {excerpt(job.id)} may not contain spaces, tabs or '/'")
    if "\x00" in job.name:
        f.add(where, "the job name contains a null character", f"{where}.name")
    if job.type not in JOB_TYPES:
        msg = f"unknown job type {excerpt(job.type)}; use one of {', '.join(JOB_TYPES)}"
        f.add(where, msg, f"{where}.type")
    if not 1 <= job.priority <= 100:
        msg = f"priority must be between 1 and 100, got {job.priority}"
        f.add(where, msg, f"{where}.priority")
    if not job.region or not job.namespace:
        f.add(where, "region and namespace may not be empty")
    if not job.datacenters or any(not dc for dc in job.datacenters):
        msg = 'datacenters must be a list of non-empty names (or ["*"])'
        f.add(where, msg, f"{where}.datacenters")
    _constraints(f, where, job.constraints)
    _affinities(f, where, job.affinities)
    if not job.task_groups:
        f.add(where, 'a job needs at least one group "name" { task "name" { ... } }')
    _duplicates(f, where, "group", [g.name for g in job.task_groups])
    f.items += update_problems(job, where)
    f.items += launch_problems(job, where)
    f.items += scaling_problems(job, where)
    for group in job.task_groups:
        _group(f, f'{where} > group "{group.name}"', group, driver_check)
        if job.type in SYSTEM_TYPES and _has_affinity(job, group):
            msg = f"{job.type} jobs may not have an affinity block (Nomad): every node runs one"
            f.add(f'{where} > group "{group.name}"', msg)
        if job.type in SYSTEM_TYPES and group.count > 1:
            msg = f"count is {group.count}: the {job.type} scheduler runs one per node (count 1)"
            f.add(f'{where} > group "{group.name}"', msg, f'{where} > group "{group.name}".count')
    f.items += vault_problems(job, driver_check, lines)
    return f.items


def _has_affinity(job: Job, group: TaskGroup) -> bool:
    return bool(job.affinities or group.affinities or any(t.affinities for t in group.tasks))


def _group(f: _Found, where: str, group: TaskGroup, driver_check: DriverCheck | None) -> None:
    if not group.name or "/" in group.name:
        f.add(where, "a group needs a name without '/'")
    if group.count < 0:
        f.add(where, f"count may not be negative, got {group.count}", f"{where}.count")
    if not group.tasks:
        f.add(where, 'a group needs at least one task "name" { driver = ... }')
    _duplicates(f, where, "task", [t.name for t in group.tasks])
    leaders = [t.name for t in group.tasks if t.leader]
    if len(leaders) > 1:
        f.add(where, f"only one task may be the leader, got {', '.join(leaders)}")
    _constraints(f, where, group.constraints)
    _affinities(f, where, group.affinities)
    if group.restart_policy is not None:
        _restart(f, f"{where} > restart", group.restart_policy)
    if group.reschedule_policy is not None:
        _reschedule(f, f"{where} > reschedule", group.reschedule_policy)
    _services(f, where, group.services, driver_check)
    f.items += port_problems(where, group)
    _networks(f, where, group.networks)
    for task in group.tasks:
        _task(f, f'{where} > task "{task.name}"', task, driver_check)
        if task.restart_policy not in (None, group.restart_policy):
            _restart(f, f'{where} > task "{task.name}" > restart', task.restart_policy)


def _task(f: _Found, where: str, task: Task, driver_check: DriverCheck | None) -> None:
    if not task.name or "/" in task.name:
        f.add(where, "a task needs a name without '/'")
    if not task.driver:
        f.add(where, 'a task needs a driver, as in driver = "exec"', f"{where}.driver")
    elif driver_check is not None:
        for msg in driver_check(task.driver, task.config):
            f.add(f"{where} > config", msg, f"{where}.config")
    res, at = task.resources, f"{where} > resources"
    if res.cpu < 1:
        f.add(at, f"cpu must be at least 1 MHz, got {res.cpu}", f"{at}.cpu")
    if res.memory_mb < 10:
        f.add(at, f"memory must be at least 10 MB, got {res.memory_mb}", f"{at}.memory")
    if res.memory_max_mb and res.memory_max_mb < res.memory_mb:
        msg = f"memory_max ({res.memory_max_mb}) is below memory ({res.memory_mb})"
        f.add(at, msg, f"{at}.memory_max")
    if res.disk_mb < 0:
        f.add(at, f"disk may not be negative, got {res.disk_mb}", f"{at}.disk")
    for device in res.devices:
        _device(f, f'{at} > device "{device.name}"', device)
    if task.kill_timeout < 0:
        f.add(where, "kill_timeout may not be negative", f"{where}.kill_timeout")
    if task.kill_signal not in SIGNALS:
        msg = f"unknown kill_signal {excerpt(task.kill_signal)}, use a name like SIGTERM"
        f.add(where, msg, f"{where}.kill_signal")
    if task.log_config.max_files < 1 or task.log_config.max_file_size_mb < 1:
        f.add(f"{where} > logs", "max_files and max_file_size must be at least 1")
    _constraints(f, where, task.constraints)
    _affinities(f, where, task.affinities)
    _services(f, where, task.services, driver_check)
    for i, tmpl in enumerate(task.templates):
        at, key = f"{where} > template", f"{where} > template#{i}"
        if not tmpl.dest_path:
            f.add(at, "a template needs a destination", key)
        if bool(tmpl.embedded_tmpl) == bool(tmpl.source_path):
            f.add(at, "a template needs exactly one of data or source", key)
        if tmpl.change_mode not in CHANGE_MODES:
            modes = ", ".join(CHANGE_MODES)
            f.add(at, f"unknown change_mode {excerpt(tmpl.change_mode)}; use one of {modes}", key)
        if tmpl.change_mode == "signal" and tmpl.change_signal not in SIGNALS:
            f.add(at, 'change_mode "signal" needs change_signal, as in "SIGHUP"', key)
        if not re.fullmatch(r"0?[0-7]{3}", tmpl.perms):
            f.add(at, f'perms must be octal like "0644", got {excerpt(tmpl.perms)}', key)
        for problem in template_problems(tmpl):
            f.add(at, problem, key)


def _restart(f: _Found, where: str, policy: RestartPolicy) -> None:
    """Nomad's RestartPolicy.Validate."""
    if policy.mode not in ("fail", "delay"):
        f.add(
            where,
            f'unknown restart mode {excerpt(policy.mode)}; use "fail" or "delay"',
            f"{where}.mode",
        )
    if policy.attempts < 0 or policy.delay < 0:
        f.add(where, "attempts and delay may not be negative")
    elif policy.attempts == 0 and policy.mode != "fail":
        f.add(where, f'restart mode "{policy.mode}" with 0 attempts is ambiguous')
    interval = format_duration(policy.interval)
    if policy.interval < MIN_RESTART_INTERVAL:
        f.add(where, f"interval must be at least 5s, got {interval}", f"{where}.interval")
    elif policy.attempts * policy.delay > policy.interval:
        delay = format_duration(policy.delay)
        msg = f"{policy.attempts} attempts {delay} apart do not fit in an interval of {interval}"
        f.add(where, msg)


def _reschedule(f: _Found, where: str, policy: ReschedulePolicy) -> None:
    """Nomad's ReschedulePolicy.Validate, without its 5 s floor on delay and 15 s floor
    on interval (short delays make fast tests and demos; they are the user's call)."""
    p = policy
    if min(p.attempts, p.interval, p.delay, p.max_delay) < 0:
        f.add(where, "attempts, interval, delay and max_delay may not be negative")
        return
    if p.delay_function not in DELAY_FUNCTIONS:
        names = ", ".join(DELAY_FUNCTIONS)
        msg = f"unknown delay_function {excerpt(p.delay_function)}; use one of {names}"
        f.add(where, msg, f"{where}.delay_function")
        return
    if p.attempts > 0 and p.unlimited:
        msg = f"attempts = {p.attempts} with unlimited = true is ambiguous; set unlimited = false"
        f.add(where, msg, f"{where}.unlimited")
    elif p.delay_function != "constant" and p.max_delay < p.delay:
        f.add(where, "max_delay may not be less than delay", f"{where}.max_delay")
    elif not p.unlimited and p.attempts > 0:
        if p.interval <= 0:
            f.add(where, "attempts need an interval to count them in", f"{where}.interval")
            return
        needed = total_delay(p, stop_above=p.interval)
        if needed > p.interval:
            msg = (
                f"{p.attempts} attempts with {p.delay_function} delays need "
                f"{format_duration(needed)}, more than the interval of "
                f"{format_duration(p.interval)}"
            )
            f.add(where, msg, f"{where}.interval")


def total_delay(p: ReschedulePolicy, stop_above: int) -> int:
    """The delays before a limited policy's attempts, added up by arithmetic.

    ``attempts`` may be 30,000,000 or 10**18: no list of delays is built. The sum stops
    growing once it passes ``stop_above`` (all a caller compares it with), and once
    the delay is capped by ``max_delay`` (or stays constant) the rest is one product.
    """
    if p.attempts <= 0:
        return 0
    if p.delay_function == "constant":
        return p.attempts * p.delay
    cap = p.max_delay or None
    total, prev, cur = 0, 0, p.delay
    for done in range(p.attempts):
        d = min(cur, cap) if cap is not None else cur
        total += d
        if total > stop_above:
            return total
        settled = d == cap or (d == 0 and (prev == 0 or p.delay_function == "exponential"))
        if settled:
            return total + d * (p.attempts - done - 1)  # every later delay is d
        if p.delay_function == "exponential":
            prev, cur = d, d * 2
        else:  # fibonacci: delay, delay, then the sum of the two before
            prev, cur = d, (d + prev if done >= 1 else p.delay)
    return total


def _services(
    f: _Found, where: str, services: list[Service], checks: DriverCheck | None = None
) -> None:
    f.items += service_problems(where, services, checks)


def _constraints(f: _Found, where: str, constraints: list[Constraint]) -> None:
    """Nomad's Constraint.Validate, operand by operand."""
    for i, c in enumerate(constraints):
        at, key, op = f"{where} > constraint", f"{where} > constraint#{i}", c.operand
        if op not in OPERANDS:
            f.add(
                at, f"unknown operator {excerpt(op)}; use one of {', '.join(sorted(OPERANDS))}", key
            )
            continue
        if op != "distinct_hosts" and not c.ltarget:
            f.add(at, f'operator "{op}" needs an attribute', key)
        if op in _NEEDS_RTARGET and op != "regexp" and not c.rtarget:
            f.add(at, f'operator "{op}" needs a value', key)
        if op in ("is_set", "is_not_set") and c.rtarget:
            f.add(at, f'operator "{op}" takes no value', key)
        if op == "distinct_property" and c.rtarget and not re.fullmatch(r"[1-9]\d*", c.rtarget):
            f.add(
                at, f"distinct_property allows a count of 1 or more, got {excerpt(c.rtarget)}", key
            )
        if op == "regexp":
            try:
                re.compile(c.rtarget)
            except re.error as exc:
                f.add(at, f"invalid regular expression {excerpt(c.rtarget)}: {exc}", key)


def _networks(f: _Found, where: str, networks: list[NetworkResource]) -> None:
    """Nomad's NetworkResource and port checks; one network block per group."""
    if len(networks) > 1:
        f.add(where, f"only one network block is allowed per group, got {len(networks)}")
    labels: list[str] = []
    statics: list[int] = []
    for n, net in enumerate(networks):
        at = f"{where} > network"
        if net.mode not in NETWORK_MODES and not re.fullmatch(r"cni/\S+", net.mode):
            modes = ", ".join(f'"{m}"' for m in NETWORK_MODES)
            f.add(
                at,
                f'unknown network mode {excerpt(net.mode)}; use {modes} or "cni/<name>"',
                f"{at}#{n}",
            )
        for port in [*net.reserved_ports, *net.dynamic_ports]:
            p_at = f'{at} > port "{port.label}"'
            labels.append(port.label)
            if not port.label:
                f.add(at, 'a port needs a label, as in port "http" {}', f"{at}#{n}")
            if port in net.reserved_ports:
                statics.append(port.value)
                if not 1 <= port.value <= MAX_PORT:
                    msg = f"static port must be between 1 and {MAX_PORT}, got {port.value}"
                    f.add(p_at, msg, f"{p_at}.static")
            if not -1 <= port.to <= MAX_PORT:
                msg = f"to must be between 1 and {MAX_PORT} (or -1: the host port), got {port.to}"
                f.add(p_at, msg, f"{p_at}.to")
            if not port.host_network:
                f.add(p_at, "host_network may not be empty", f"{p_at}.host_network")
    for label, k in Counter(labels).items():
        if k > 1:
            f.add(where, f'port label "{label}" is used {k} times in the group')
    for value, k in Counter(statics).items():
        if k > 1:
            f.add(where, f"static port {value} is asked for {k} times in the group")


def _device(f: _Found, where: str, device: RequestedDevice) -> None:
    """Nomad's RequestedDevice.Validate: a name, a count, its constraints and affinities."""
    parts = device.name.split("/", 2)
    if any(re.search(r"\s", part) or not part for part in parts[:2]) or not parts[-1].strip():
        name = excerpt(device.name)
        msg = f'device name {name} must be "type", "vendor/type" or "vendor/type/model"'
        f.add(where, msg)
    if device.count < 1:
        f.add(where, f"device count must be at least 1, got {device.count}", f"{where}.count")
    for i, c in enumerate(device.constraints):
        if c.operand in ("distinct_hosts", "distinct_property"):
            msg = f'operator "{c.operand}" cannot constrain a device'
            f.add(f"{where} > constraint", msg, f"{where} > constraint#{i}")
    _constraints(f, where, device.constraints)
    _affinities(f, where, device.affinities)


def _affinities(f: _Found, where: str, affinities: list[Affinity]) -> None:
    """Nomad's Affinity.Validate."""
    for i, a in enumerate(affinities):
        at, key, op = f"{where} > affinity", f"{where} > affinity#{i}", a.operand
        if op not in OPERANDS or op in ("distinct_hosts", "distinct_property"):
            f.add(at, f"unknown operator {excerpt(op)} for an affinity", key)
        elif not a.ltarget or (op in _NEEDS_RTARGET and not a.rtarget):
            f.add(at, f'operator "{op}" needs an attribute and a value', key)
        if a.weight == 0 or not -100 <= a.weight <= 100:
            f.add(at, f"weight must be between -100 and 100 and not 0, got {a.weight}", key)


def _duplicates(f: _Found, where: str, what: str, names: list[str]) -> None:
    for name, k in Counter(names).items():
        if k > 1:
            f.add(where, f'{what} "{name}" is defined {k} times')
