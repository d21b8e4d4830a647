"""A resolved HCL body to a :class:`Job`, with Nomad's grammar and defaults.

The block and attribute names are those of Nomad's ``api`` package hcl tags. Blocks and
attributes that Nomad knows but gitorch does not use yet are listed, by ``kind.name``, in
:data:`ACCEPTED_NOT_YET_USED`; they are accepted and ignored. Anything else unknown is
an error naming the line and block path, with a "did you mean" hint when one is close.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, TypeVar

from gitorch.core.model.base import replace
from gitorch.core.model.job import (
    BATCH_RESTART,
    SECOND,
    Constraint,
    Job,
    LogConfig,
    Resources,
    RestartPolicy,
    Service,
    ServiceCheck,
    Task,
    TaskGroup,
    Template,
)
from gitorch.errors import JobspecError
from gitorch.jobspec.durations import parse_duration
from gitorch.jobspec.hcl import Attribute, Block, Body
from gitorch.jobspec.validate import combine

_NOT_YET_USED = {
    "job": "node_pool affinity update multiregion spread periodic parameterized reschedule "
    "migrate ui vault secret consul_token vault_token",
    "group": "affinity spread volume disconnect reschedule ephemeral_disk update migrate "
    "network scaling shutdown_delay max_run_duration stop_after_client_disconnect "
    "max_client_disconnect consul prevent_reschedule_on_lost vault secret",
    "task": "lifecycle affinity artifact vault consul dispatch_payload volume_mount csi_plugin "
    "shutdown_delay kind scaling secret identity action schedule",
    "resources": "cores network device numa secrets iops",
    "restart": "render_templates",
    "logs": "disabled enabled",
    "service": "canary_tags enable_tag_override address check_restart connect canary_meta "
    "tagged_addresses task on_update identity weights cluster kind",
    "check": "protocol expose address_mode advertise initial_status notes tls_server_name "
    "tls_skip_verify header method check_restart grpc_service grpc_use_tls task "
    "success_before_passing failures_before_critical failures_before_warning body on_update",
    "template": "change_script once splay uid gid vault_grace wait error_on_missing_key",
}
ACCEPTED_NOT_YET_USED: frozenset[str] = frozenset(
    f"{kind}.{name}" for kind, names in _NOT_YET_USED.items() for name in names.split()
)
"""Nomad's blocks and attributes gitorch accepts and ignores for now, as ``kind.name``."""

# Nomad's constraint shorthands: ``regexp = "x"`` means operator "regexp", value "x".
_SHORTHAND_RTARGET = ("version", "semver", "regexp", "set_contains", "set_contains_all",
                      "set_contains_any")  # fmt: skip
_SHORTHAND_LTARGET = ("distinct_property", "is_set", "is_not_set")
T = TypeVar("T")


class _Reader:
    """Typed, located access to one block's body; remembers what the decoder asked for."""

    def __init__(self, problems: list[JobspecError], lines: dict[str, int], file: str,
                 kind: str, path: str, body: Body) -> None:  # fmt: skip
        self.problems, self.lines, self.file = problems, lines, file
        self.kind, self.path, self.body = kind, path, body
        self.asked: set[str] = set()

    def error(self, message: str, line: int) -> None:
        self.problems.append(JobspecError(message, file=self.file, line=line, path=self.path))

    def child(self, block: Block, labels: int = 0, index: int = 0) -> _Reader | None:
        if len(block.labels) != labels:
            want = f'one label: {block.type} "name" {{ ... }}' if labels else "no label"
            self.error(f'a "{block.type}" block takes {want}', block.line)
            return None
        name = f'{block.type} "{block.labels[0]}"' if labels else block.type
        path = f"{self.path} > {name}" if self.path else name
        self.lines.setdefault(path, block.line)
        self.lines[f"{path}#{index}"] = block.line
        return _Reader(self.problems, self.lines, self.file, block.type, path, block.body)

    def _get(self, name: str) -> Attribute | None:
        self.asked.add(name)
        attr = self.body.attributes.get(name)
        if attr is not None:
            self.lines[f"{self.path}.{name}"] = attr.line
        return None if attr is None or attr.value is None else attr

    def _as(self, name: str, default: T, convert: Callable[[Any], T]) -> T:
        attr = self._get(name)
        if attr is None:
            return default
        try:
            return convert(attr.value)
        except ValueError as exc:
            self.error(f'"{name}": {exc}', attr.line)
            return default

    def string(self, name: str, default: str = "") -> str:
        return self._as(name, default, _to_str)

    def integer(self, name: str, default: int) -> int:
        return self._as(name, default, _to_int)

    def boolean(self, name: str, default: bool = False) -> bool:
        return self._as(name, default, _to_bool)

    def duration(self, name: str, default: int) -> int:
        return self._as(name, default, _to_duration)

    def strings(self, name: str) -> list[str]:
        return self._as(name, [], _to_strings)

    def mapping(self, name: str) -> dict[str, Any] | None:
        """``name = { ... }`` or one ``name { ... }`` block, as a plain dict."""
        attr, blocks = self._get(name), self.body.blocks_of(name)
        if attr is not None and not isinstance(attr.value, dict):
            self.error(f'"{name}": expected a map, as in {name} = {{ key = value }}', attr.line)
        for extra in [b for b in blocks if b.labels] + blocks[1:]:
            self.error(f'use one "{name}" block, without a label', extra.line)
        if attr is not None:
            return attr.value if isinstance(attr.value, dict) else None
        if not blocks:
            return None
        self.lines[f"{self.path}.{name}"] = blocks[0].line
        return blocks[0].body.to_dict()

    def string_map(self, name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in (self.mapping(name) or {}).items():
            if _scalar(value):
                out[key] = _text(value)
            else:
                self.error(f'"{name}.{key}": expected a string, got {value!r}', self._line(name))
        return out

    def _line(self, name: str) -> int:
        attr, blocks = self.body.attributes.get(name), self.body.blocks_of(name)
        return attr.line if attr else blocks[0].line if blocks else self.body.line

    def blocks(self, name: str) -> list[Block]:
        self.asked.add(name)
        attr = self.body.attributes.get(name)
        if attr is not None:
            self.error(f'"{name}" is a block: write {name} {{ ... }}, without "="', attr.line)
        return self.body.blocks_of(name)

    def finish(self) -> None:
        """Report every attribute and block the decoder did not ask for."""
        known = sorted(self.asked | _accepted(self.kind))
        items = [(a.name, a.line, "attribute") for a in self.body.attributes.values()]
        items += [(b.type, b.line, "block") for b in self.body.blocks]
        for name, line, what in items:
            if name in self.asked or f"{self.kind}.{name}" in ACCEPTED_NOT_YET_USED:
                continue
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.error(f'unknown {what} "{name}"{hint}', line)


def decode(body: Body, file: str, lines: dict[str, int] | None = None) -> Job:
    """The one ``job`` block of a resolved document, as a Job with Nomad's defaults.

    ``lines``, when given, is filled with the line of each block path (``job "x" > group
    "y"``), of each block by position (``... > constraint#0``) and of each attribute
    (``... > task "z".kill_signal``), for :func:`~gitorch.jobspec.validate.validate`.
    """
    problems: list[JobspecError] = []
    top = _Reader(problems, {} if lines is None else lines, file, "file", "", body)
    jobs = _each(top, "job", 1, _job)
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


def _each(r: _Reader, name: str, labels: int, fn: Callable[[_Reader, str], T]) -> list[T]:
    """``fn(reader, label)`` for every ``name`` block of ``r``, each checked when done."""
    out: list[T] = []
    for index, block in enumerate(r.blocks(name)):
        c = r.child(block, labels, index)
        if c is not None:
            out.append(fn(c, block.labels[0] if labels else ""))
            c.finish()
    return out


def _one(r: _Reader, name: str, default: T, fn: Callable[[_Reader, str], T]) -> T:
    """``fn`` of the one ``name`` block of ``r``, or ``default`` when there is none."""
    found = _each(r, name, 0, fn)
    if len(found) > 1:
        r.error(f'only one "{name}" block is allowed', r.body.blocks_of(name)[1].line)
    return found[0] if found else default


def _job(r: _Reader, job_id: str) -> Job:
    job_id = r.string("id", job_id)
    name = r.string("name", job_id)
    job_type = r.string("type", "service")
    base = BATCH_RESTART if job_type in ("batch", "sysbatch") else RestartPolicy()
    # A task outside any group gets a group of its own, as in Nomad.
    alone = _each(r, "task", 1, lambda t, x: _task(t, x, f"{name}-{x}-{x}", base))
    groups = [TaskGroup(name=t.name, tasks=[t], restart_policy=base) for t in alone]
    groups += _each(r, "group", 1, lambda g, label: _group(g, label, name, base))
    fields: dict[str, Any] = {"type": job_type, "datacenters": r.strings("datacenters") or ["*"]}
    return Job(
        id=job_id,
        name=name,
        namespace=r.string("namespace", "default"),
        region=r.string("region", "global"),
        priority=r.integer("priority", 50),
        all_at_once=r.boolean("all_at_once"),
        constraints=_constraints(r),
        task_groups=groups,
        meta=r.string_map("meta"),
        **fields,
    )


def _group(r: _Reader, name: str, job_name: str, base: RestartPolicy) -> TaskGroup:
    restart = _restart(r, base)
    prefix = f"{job_name}-{name}"
    return TaskGroup(
        name=name,
        count=r.integer("count", 1),
        constraints=_constraints(r),
        tasks=_each(r, "task", 1, lambda t, label: _task(t, label, f"{prefix}-{label}", restart)),
        restart_policy=restart,
        services=_services(r, prefix),
        meta=r.string_map("meta"),
    )


def _task(r: _Reader, name: str, service_name: str, restart: RestartPolicy) -> Task:
    return Task(
        name=name,
        driver=r.string("driver"),
        user=r.string("user"),
        config=r.mapping("config") or {},
        env=r.string_map("env"),
        services=_services(r, service_name),
        constraints=_constraints(r),
        resources=_one(r, "resources", Resources(), _resources),
        meta=r.string_map("meta"),
        kill_timeout=r.duration("kill_timeout", 5 * SECOND),
        kill_signal=r.string("kill_signal", "SIGINT"),
        templates=_each(r, "template", 0, _template),
        log_config=_one(r, "logs", LogConfig(), _logs),
        leader=r.boolean("leader"),
        restart_policy=_restart(r, restart),
    )


def _restart(r: _Reader, base: RestartPolicy) -> RestartPolicy:
    """``base`` with the fields a ``restart`` block sets (Nomad's RestartPolicy.Merge)."""

    def merge(c: _Reader, _: str) -> RestartPolicy:
        return replace(
            base,
            attempts=c.integer("attempts", base.attempts),
            interval=c.duration("interval", base.interval),
            delay=c.duration("delay", base.delay),
            mode=c.string("mode", base.mode),
        )

    return _one(r, "restart", base, merge)


def _resources(c: _Reader, _: str) -> Resources:
    return Resources(
        cpu=c.integer("cpu", 100),
        memory_mb=c.integer("memory", 300),
        memory_max_mb=c.integer("memory_max", 0),
        disk_mb=c.integer("disk", 0),
    )


def _logs(c: _Reader, _: str) -> LogConfig:
    return LogConfig(
        max_files=c.integer("max_files", 10), max_file_size_mb=c.integer("max_file_size", 10)
    )


def _template(c: _Reader, _: str) -> Template:
    return Template(
        source_path=c.string("source"),
        dest_path=c.string("destination"),
        embedded_tmpl=c.string("data"),
        change_mode=c.string("change_mode", "restart"),
        change_signal=c.string("change_signal"),
        perms=c.string("perms", "0644"),
        left_delim=c.string("left_delimiter", "{{"),
        right_delim=c.string("right_delimiter", "}}"),
        env=c.boolean("env"),
    )


def _services(r: _Reader, default_name: str) -> list[Service]:
    def service(c: _Reader, _: str) -> Service:
        name = c.string("name", default_name)
        fields: dict[str, Any] = {"provider": c.string("provider", "nomad")}
        return Service(
            name=name,
            port_label=c.string("port"),
            tags=c.strings("tags"),
            address_mode=c.string("address_mode", "auto"),
            checks=_each(c, "check", 0, lambda k, _: _check(k, name)),
            meta=c.string_map("meta"),
            **fields,
        )

    return _each(r, "service", 0, service)


def _check(c: _Reader, service: str) -> ServiceCheck:
    return ServiceCheck(
        name=c.string("name", f'service: "{service}" check'),
        type=c.string("type"),
        path=c.string("path"),
        port_label=c.string("port"),
        interval=c.duration("interval", 0),
        timeout=c.duration("timeout", 0),
        command=c.string("command"),
        args=c.strings("args"),
    )


def _constraints(r: _Reader) -> list[Constraint]:
    """Nomad's decodeConstraint: ``attribute``/``operator``/``value`` or a shorthand."""

    def constraint(c: _Reader, _: str) -> Constraint:
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
        return Constraint(ltarget=ltarget, rtarget=rtarget, operand=operand or "=")

    return _each(r, "constraint", 0, constraint)


def _accepted(kind: str) -> set[str]:
    return {k.split(".", 1)[1] for k in ACCEPTED_NOT_YET_USED if k.startswith(kind + ".")}


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _to_str(value: Any) -> str:
    if _scalar(value):
        return _text(value)
    raise ValueError(f"expected a string, got {value!r}")


def _to_int(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"expected a whole number, got {value!r}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise ValueError(f"expected true or false, got {value!r}")


def _to_duration(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # a number is nanoseconds, as in Nomad
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f'expected a duration such as "30s", got {value!r}')


def _to_strings(value: Any) -> list[str]:
    if isinstance(value, list) and all(_scalar(v) for v in value):
        return [_text(v) for v in value]
    raise ValueError(f'expected a list of strings, as in ["a", "b"], got {value!r}')
