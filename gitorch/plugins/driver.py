"""The task driver base class, mirroring Nomad's DriverPlugin.

A driver is constructed once per agent with its plugin configuration (the agent
config's ``plugin "raw_exec" { config { enabled = true } }`` block, as a dict). The task
runner then calls, per task::

    validate_config(cfg.config) -> problems     before anything else
    start(cfg) -> TaskHandle                     persist the handle
    wait(handle, timeout) -> ExitResult | None   None while it still runs
    signal(handle, "SIGHUP") / exec(handle, cmd, timeout) / stats / inspect
    exec_command(handle, cmd, tty) -> ExecCommand   an interactive exec (alloc exec)
    stop(handle, kill_signal, kill_timeout)      signal, then SIGKILL after the timeout
    destroy(handle, force)                       free everything the task held

After an agent restart a new driver instance gets the persisted handle through
``recover(handle)`` and carries on with ``wait``/``stop``/``destroy``. Operations that
fail raise ``gitorch.errors.DriverError`` with a message naming the task.

Config validation is declarative: ``config_schema`` maps each key of the task's
``config {}`` block to a ``Field``; ``validate_config`` reports problems as
``"config.<key>: <what is wrong>"``. Override it to add checks across fields.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from gitorch.core.task import (
    DriverFingerprint,
    ExecCommand,
    ExitResult,
    FSIsolation,
    TaskConfig,
    TaskHandle,
    TaskStats,
    TaskStatus,
)
from gitorch.errors import DriverError

__all__ = ["Driver", "DriverError", "Field", "parse_duration", "validate_fields"]

FieldKind = Literal[
    "string", "bool", "integer", "number", "duration", "list(string)", "map(string)", "any"
]

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(value: object) -> float:
    """Seconds in a Go-style duration (``"1m30s"``, ``"250ms"``) or a plain number of
    seconds. Raises ValueError on anything else."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"negative duration: {value!r}")
        return float(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip()
    try:
        return parse_duration(float(text))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"not a duration (want e.g. '5s', '1m30s', '250ms'): {value!r}")
    return total


@dataclass(frozen=True)
class Field:
    """One key of a driver's config block."""

    kind: FieldKind
    required: bool = False
    doc: str = ""
    choices: tuple[str, ...] = ()


def _kind_problem(kind: FieldKind, value: object, choices: tuple[str, ...]) -> str | None:
    if kind == "any":
        return None
    if kind == "string":
        if not isinstance(value, str):
            return "must be a string"
        if choices and value not in choices:
            return f"must be one of {', '.join(choices)} (got {value!r})"
        return None
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "must be an integer"
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if kind == "duration":
        try:
            parse_duration(value)
        except ValueError as exc:
            return str(exc)
        return None
    if kind == "list(string)":
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        return None if ok else "must be a list of strings"
    ok = isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
    return None if ok else "must be a map of strings"


def validate_fields(
    schema: Mapping[str, Field], config: Mapping[str, Any], prefix: str = "config"
) -> list[str]:
    """Problems of ``config`` against ``schema``: required, type and unknown keys."""
    if not isinstance(config, Mapping):
        return [f"{prefix}: must be a block of key = value settings"]
    problems = [
        f"{prefix}.{key}: required"
        for key, spec in schema.items()
        if spec.required and key not in config
    ]
    for key, value in config.items():
        spec = schema.get(key)
        if spec is None:
            known = ", ".join(sorted(schema)) or "none"
            problems.append(f"{prefix}.{key}: unknown field (known: {known})")
            continue
        problem = _kind_problem(spec.kind, value, spec.choices)
        if problem:
            problems.append(f"{prefix}.{key}: {problem}")
    return problems


class Driver(ABC):
    """Base class of task drivers. Subclasses set ``name`` and the schemas and
    implement the abstract methods; the docstrings state the contract."""

    name: ClassVar[str]
    config_schema: ClassVar[Mapping[str, Field]] = {}
    """Keys of a task's ``config {}`` block."""
    plugin_config_schema: ClassVar[Mapping[str, Field]] = {}
    """Keys of the agent's ``plugin "<name>" { config {} }`` block."""
    fs_isolation: ClassVar[FSIsolation] = "none"
    """"none": the task sees host paths; "chroot"/"image": /alloc, /local, /secrets."""

    def __init__(self, plugin_config: Mapping[str, Any] | None = None) -> None:
        self.plugin_config: dict[str, Any] = dict(plugin_config or {})

    @classmethod
    def validate_plugin_config(cls, config: Mapping[str, Any]) -> list[str]:
        """Problems of the agent's plugin config block, named ``plugin.<name>.config.<key>``."""
        return validate_fields(cls.plugin_config_schema, config, f"plugin.{cls.name}.config")

    @classmethod
    def schema_problems(cls, config: Mapping[str, Any]) -> list[str]:
        """Problems of a task's ``config {}`` block that any server can see without this
        agent's plugin config (field names, types, required keys, exclusive keys), each
        naming the field (``"config.command: required"``). Run at validate time."""
        return validate_fields(cls.config_schema, config)

    def validate_config(self, config: Mapping[str, Any]) -> list[str]:
        """All problems of a task's ``config {}`` on this agent: the schema, plus what
        this agent's plugin config forbids. Empty when the config is valid."""
        return self.schema_problems(config)

    def check_config(self, cfg: TaskConfig) -> None:
        """Raise DriverError naming the task when ``cfg.config`` is invalid."""
        problems = self.validate_config(cfg.config)
        if problems:
            raise DriverError(f"task {cfg.id}: invalid {self.name} config: {'; '.join(problems)}")

    @abstractmethod
    def fingerprint(self) -> DriverFingerprint:
        """Whether the driver can run tasks on this node, and its node attributes."""

    @abstractmethod
    def start(self, cfg: TaskConfig) -> TaskHandle:
        """Start the task and return at once. Logs go to ``cfg.stdout_path()`` and
        ``cfg.stderr_path()``. The task must outlive the agent process."""

    @abstractmethod
    def wait(self, handle: TaskHandle, timeout: float | None = None) -> ExitResult | None:
        """Block until the task exits (or ``timeout`` seconds pass: then None)."""

    @abstractmethod
    def stop(self, handle: TaskHandle, signal: str, timeout: float) -> None:
        """Send ``signal``; SIGKILL the task if it still runs after ``timeout`` seconds.
        Returns once the task has exited. A task that already exited is fine."""

    @abstractmethod
    def destroy(self, handle: TaskHandle, force: bool = False) -> None:
        """Free what the task holds. A running task is an error unless ``force``,
        which kills it first."""

    @abstractmethod
    def inspect(self, handle: TaskHandle) -> TaskStatus:
        """The task's current state (running / exited with its result)."""

    @abstractmethod
    def recover(self, handle: TaskHandle) -> bool:
        """Re-attach to a task started by an earlier agent process. False when the
        task is gone without trace (the task runner then treats it as lost)."""

    @abstractmethod
    def signal(self, handle: TaskHandle, sig: str) -> None:
        """Deliver a signal (``"SIGHUP"``, ``"HUP"`` or a number) to the task."""

    def stats(self, handle: TaskHandle) -> TaskStats:
        """Resource usage of the task's processes."""
        raise DriverError(f"task {handle.id}: driver {self.name} does not report stats")

    def exec(self, handle: TaskHandle, cmd: Sequence[str], timeout: float) -> tuple[bytes, int]:
        """Run ``cmd`` in the task's context; (stdout+stderr, exit code)."""
        raise DriverError(f"task {handle.id}: driver {self.name} does not support exec")

    def exec_command(self, handle: TaskHandle, cmd: Sequence[str], tty: bool) -> ExecCommand:
        """How to run ``cmd`` interactively inside the running task's isolation (Nomad's
        streaming ExecTask, behind ``alloc exec``): the agent spawns the returned argv
        with pipes, or with a terminal when ``tty``. Raises DriverError naming the task
        when the task is not running or the driver cannot exec."""
        raise DriverError(f"task {handle.id}: driver {self.name} does not support exec")
