"""Cgroups for the exec driver: detect v1 or v2, make one cgroup per task with its
memory and CPU limits, kill what is left in it, remove it.

* v1 (separate ``memory`` and ``cpu`` hierarchies): the task cgroup is
  ``<hierarchy>/<agent's own cgroup>/<parent>/<alloc_id>.<task>`` in each, so the tasks
  stay accounted under the agent's cgroup. Limits: ``memory.limit_in_bytes`` (hard),
  ``memory.soft_limit_in_bytes`` (with memory_max), ``cpu.shares = cpu_mhz``,
  ``cpu.cfs_quota_us`` for a hard CPU cap.
* v2 (unified, with the memory and cpu controllers available): the task cgroup is
  ``<mount>/gitorch.slice/<alloc_id>.<task>`` (Nomad uses ``nomad.slice``); limits in
  ``memory.max``, ``memory.low``, ``memory.swap.max = 0``, ``cpu.weight``, ``cpu.max``.

A parent given in the plugin config as an absolute path (``/gitorch``) is taken from
each hierarchy's root instead. The wrapper of ``process`` joins the task into the
cgroup (writes its PID to ``cgroup.procs``) before the task's command runs.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Literal

CONTROLLERS = ("memory", "cpu")
CFS_PERIOD_US = 100_000


def _mounts() -> tuple[dict[str, str], str | None]:
    """v1 controller -> mount point, and the cgroup2 mount point (if any)."""
    v1: dict[str, str] = {}
    v2: str | None = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) < 5 or len(tail) < 3:
                continue
            if tail[0] == "cgroup2" and v2 is None:
                v2 = fields[4]
            elif tail[0] == "cgroup":
                for option in tail[2].split(","):
                    if option in CONTROLLERS:
                        v1.setdefault(option, fields[4])
    return v1, v2


def _own_paths() -> dict[str, str]:
    """The agent's own cgroup per v1 controller, and under "" for v2."""
    out: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                out[name] = path
    return out


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


@dataclass(frozen=True)
class Cgroups:
    """The cgroup layout of this machine and where task cgroups go."""

    version: Literal[1, 2]
    root: str
    """v1: "" (one root per controller); v2: the cgroup2 mount point."""
    parents: dict[str, str]
    """Controller ("memory", "cpu"; "" for v2) -> directory holding task cgroups."""

    @classmethod
    def detect(cls, parent: str = "") -> Cgroups | str:
        """The usable layout, or a sentence saying why cgroups cannot be used."""
        try:
            v1, v2 = _mounts()
            own = _own_paths()
        except OSError as exc:
            return f"cannot read cgroup mounts: {exc}"
        if all(c in v1 for c in CONTROLLERS):
            parents = {}
            for c in CONTROLLERS:
                base = v1[c] if parent.startswith("/") else v1[c] + own.get(c, "/").rstrip("/")
                parents[c] = os.path.join(base, (parent or "gitorch").lstrip("/"))
            return cls._usable(cls(version=1, root="", parents=parents))
        if v2 is not None:
            try:
                available = _read(os.path.join(v2, "cgroup.controllers")).split()
            except OSError as exc:
                return f"cannot read {v2}/cgroup.controllers: {exc}"
            missing = [c for c in CONTROLLERS if c not in available]
            if missing:
                return f"cgroup v2 at {v2} lacks the {', '.join(missing)} controller(s)"
            base = v2 if parent.startswith("/") or not parent else v2 + own.get("", "/")
            target = os.path.join(base, (parent or "gitorch.slice").lstrip("/"))
            return cls._usable(cls(version=2, root=v2, parents={"": target}))
        return "no cgroup v1 memory+cpu hierarchies and no cgroup v2 mount"

    @staticmethod
    def _usable(layout: Cgroups) -> Cgroups | str:
        try:
            layout.ensure_parents()
        except OSError as exc:
            return f"cgroups not writable: {exc}"
        return layout

    def ensure_parents(self) -> None:
        """Create the parent cgroups (v2: enabling memory+cpu on the way down)."""
        for parent in self.parents.values():
            if self.version == 1:
                os.makedirs(parent, exist_ok=True)
                continue
            below = os.path.relpath(parent, self.root).split(os.sep)
            here = self.root
            for part in below:
                _write(os.path.join(here, "cgroup.subtree_control"), "+memory +cpu")
                here = os.path.join(here, part)
                os.makedirs(here, exist_ok=True)
            _write(os.path.join(here, "cgroup.subtree_control"), "+memory +cpu")

    def create(
        self, name: str, *, memory_mb: int, memory_max_mb: int, cpu_mhz: int, cpu_cores: float
    ) -> list[str]:
        """Make the task's cgroup(s) with limits; the directories made."""
        limit = max(memory_mb, memory_max_mb) << 20
        soft = memory_mb << 20 if memory_max_mb > memory_mb else 0
        quota = int(CFS_PERIOD_US * cpu_cores) if cpu_cores > 0 else 0
        made: list[str] = []
        try:
            if self.version == 1:
                mem = os.path.join(self.parents["memory"], name)
                cpu = os.path.join(self.parents["cpu"], name)
                for d in (mem, cpu):
                    os.mkdir(d)
                    made.append(d)
                _write(f"{mem}/memory.limit_in_bytes", str(limit))
                if soft:
                    _write(f"{mem}/memory.soft_limit_in_bytes", str(soft))
                _write(f"{cpu}/cpu.shares", str(max(2, cpu_mhz)))
                if quota:
                    _write(f"{cpu}/cpu.cfs_period_us", str(CFS_PERIOD_US))
                    _write(f"{cpu}/cpu.cfs_quota_us", str(quota))
            else:
                d = os.path.join(self.parents[""], name)
                os.mkdir(d)
                made.append(d)
                _write(f"{d}/memory.max", str(limit))
                if soft:
                    _write(f"{d}/memory.low", str(soft))
                if os.path.exists(f"{d}/memory.swap.max"):
                    _write(f"{d}/memory.swap.max", "0")
                shares = max(2, min(cpu_mhz, 262144))
                _write(f"{d}/cpu.weight", str(1 + ((shares - 2) * 9999) // 262142))
                if quota:
                    _write(f"{d}/cpu.max", f"{quota} {CFS_PERIOD_US}")
        except OSError:
            remove(made)
            raise
        return made

    @staticmethod
    def procs_files(dirs: list[str]) -> list[str]:
        return [os.path.join(d, "cgroup.procs") for d in dirs]


def pids(dirs: list[str]) -> list[int]:
    """Processes in the first of the task's cgroups (every one joins all of them)."""
    try:
        return [int(p) for p in _read(os.path.join(dirs[0], "cgroup.procs")).split()]
    except (OSError, IndexError):
        return []


def kill_all(dirs: list[str], timeout: float = 5.0, spare: frozenset[int] = frozenset()) -> None:
    """SIGKILL every process in the task's cgroups but ``spare`` until none is left."""
    if not spare and dirs and os.path.exists(os.path.join(dirs[0], "cgroup.kill")):
        _write(os.path.join(dirs[0], "cgroup.kill"), "1")
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids(dirs) if p not in spare]) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)


def remove(dirs: list[str], timeout: float = 5.0) -> None:
    """Kill what is left and remove the cgroup directories."""
    kill_all(dirs, timeout)
    for d in dirs:
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)


def oom_killed(dirs: list[str]) -> bool:
    """Whether the kernel OOM-killed a process of the task (v1 oom_control, v2 events)."""
    for d in dirs:
        for name in ("memory.events", "memory.oom_control"):
            try:
                text = _read(os.path.join(d, name))
            except OSError:
                continue
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
                    return True
    return False


def memory_usage(dirs: list[str]) -> int | None:
    for d in dirs:
        for name in ("memory.current", "memory.usage_in_bytes"):
            try:
                return int(_read(os.path.join(d, name)))
            except (OSError, ValueError):
                continue
    return None
