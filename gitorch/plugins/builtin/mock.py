"""The mock driver: tasks without processes, for scheduler and agent tests (Nomad's
mock_driver). Never proof that a real driver works.

Task config (all optional):

* ``run_for``: how long the task runs ("5s", or seconds; default 0: exits at once);
* ``exit_code`` / ``exit_signal`` / ``exit_err_msg``: how it ends on its own;
* ``start_error``: ``start`` raises DriverError with this message;
* ``start_block_for``: ``start`` takes this long;
* ``kill_after``: after the stop signal the task takes this long to exit (beyond the
  stop timeout it is SIGKILLed); default: it exits on the signal;
* ``stdout_string`` / ``stderr_string``: written to the task's log files at start;
* ``signal_error``: ``signal`` raises DriverError with this message.

Time comes from ``clock`` and passes through ``sleep`` (both injectable: a fake clock
makes every wait instant and deterministic). Tasks live in a per-process registry, so a
new MockDriver instance (an "agent restart" inside one test process) can ``recover``
them; a destroyed task is gone.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gitorch.core.task import (
    DriverFingerprint,
    ExitResult,
    TaskConfig,
    TaskHandle,
    TaskStats,
    TaskStatus,
)
from gitorch.errors import DriverError
from gitorch.plugins.builtin.process import signal_number
from gitorch.plugins.driver import Driver, Field, parse_duration


@dataclass
class _MockTask:
    handle: TaskHandle
    started: float
    natural_end: float | None
    natural: ExitResult
    kill_after: float | None
    end: float | None = None
    stopped: ExitResult | None = None
    result: ExitResult | None = None
    signals: list[int] = field(default_factory=list)
    changed: threading.Event = field(default_factory=threading.Event)

    def finish_at(self) -> float | None:
        ends = [t for t in (self.natural_end, self.end) if t is not None]
        return min(ends) if ends else None

    def outcome(self) -> ExitResult:
        if self.end is not None and (self.natural_end is None or self.end < self.natural_end):
            assert self.stopped is not None
            return self.stopped
        return self.natural


_REGISTRY: dict[str, _MockTask] = {}
_LOCK = threading.Lock()


class MockDriver(Driver):
    name: ClassVar[str] = "mock"
    config_schema: ClassVar[dict[str, Field]] = {
        "run_for": Field("duration"),
        "exit_code": Field("integer"),
        "exit_signal": Field("integer"),
        "exit_err_msg": Field("string"),
        "start_error": Field("string"),
        "start_block_for": Field("duration"),
        "kill_after": Field("duration"),
        "stdout_string": Field("string"),
        "stderr_string": Field("string"),
        "signal_error": Field("string"),
    }
    plugin_config_schema: ClassVar[dict[str, Field]] = {
        "health": Field("string", choices=("healthy", "unhealthy", "undetected")),
        "health_description": Field("string"),
    }

    def __init__(
        self,
        plugin_config: Any = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(plugin_config)
        self._clock = clock
        self._sleep = sleep

    def fingerprint(self) -> DriverFingerprint:
        health = self.plugin_config.get("health", "healthy")
        attributes = {"driver.mock": "1"} if health == "healthy" else {}
        return DriverFingerprint(
            health=health,
            health_description=self.plugin_config.get("health_description", health.title()),
            attributes=attributes,
        )

    def _pause(self, task: _MockTask, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            task.changed.wait(seconds)
            task.changed.clear()

    def start(self, cfg: TaskConfig) -> TaskHandle:
        self.check_config(cfg)
        conf = cfg.config
        if "start_block_for" in conf:
            delay = parse_duration(conf["start_block_for"])
            (self._sleep or time.sleep)(delay)
        if conf.get("start_error"):
            raise DriverError(f"task {cfg.id}: {conf['start_error']}")
        for path, key in (
            (cfg.stdout_path(), "stdout_string"),
            (cfg.stderr_path(), "stderr_string"),
        ):
            os.makedirs(cfg.log_dir, exist_ok=True)
            with open(path, "a") as f:
                f.write(conf.get(key, ""))
        now = self._clock()
        signal = int(conf.get("exit_signal", 0))
        natural = ExitResult(
            exit_code=int(conf.get("exit_code", 128 + signal if signal else 0)),
            signal=signal,
            err=conf.get("exit_err_msg") or None,
        )
        handle = TaskHandle(
            driver=self.name,
            alloc_id=cfg.alloc_id,
            task_name=cfg.task_name,
            started_at_ns=time.time_ns(),
            state={"config": dict(conf)},
        )
        kill_after = conf.get("kill_after")
        task = _MockTask(
            handle=handle,
            started=now,
            natural_end=now + parse_duration(conf.get("run_for", 0)),
            natural=natural,
            kill_after=None if kill_after is None else parse_duration(kill_after),
        )
        with _LOCK:
            _REGISTRY[handle.id] = task
        return handle

    def _task(self, handle: TaskHandle) -> _MockTask:
        task = _REGISTRY.get(handle.id)
        if task is None or task.handle.started_at_ns != handle.started_at_ns:
            raise DriverError(f"task {handle.id}: unknown to the mock driver")
        return task

    def _done(self, task: _MockTask) -> ExitResult | None:
        with _LOCK:
            if task.result is None:
                end = task.finish_at()
                if end is not None and end <= self._clock():
                    task.result = task.outcome()
            return task.result

    def wait(self, handle: TaskHandle, timeout: float | None = None) -> ExitResult | None:
        task = self._task(handle)
        deadline = None if timeout is None else self._clock() + timeout
        while (result := self._done(task)) is None:
            end = task.finish_at()
            now = self._clock()
            if deadline is not None and now >= deadline:
                return None
            step = [t - now for t in (end, deadline) if t is not None]
            self._pause(task, max(0.0, min(step)) if step else 3600.0)
        return result

    def stop(self, handle: TaskHandle, signal: str, timeout: float) -> None:
        task = self._task(handle)
        if self._done(task) is not None:
            return
        signum = _signum(handle, signal)
        now = self._clock()
        with _LOCK:
            task.signals.append(signum)
            if task.kill_after is not None and task.kill_after > timeout:
                task.end, task.stopped = now + timeout, ExitResult(exit_code=137, signal=9)
            else:
                delay = task.kill_after or 0.0
                task.end = now + delay
                task.stopped = ExitResult(exit_code=128 + signum, signal=signum)
        task.changed.set()
        self.wait(handle)

    def signal(self, handle: TaskHandle, sig: str) -> None:
        task = self._task(handle)
        signum = _signum(handle, sig)
        if self._done(task) is not None:
            raise DriverError(f"task {handle.id}: cannot deliver {sig}: task is not running")
        error = task.handle.state["config"].get("signal_error")
        if error:
            raise DriverError(f"task {handle.id}: {error}")
        task.signals.append(signum)

    def signals(self, handle: TaskHandle) -> list[int]:
        """The signals the task has received (for tests)."""
        return list(self._task(handle).signals)

    def destroy(self, handle: TaskHandle, force: bool = False) -> None:
        task = _REGISTRY.get(handle.id)
        if task is None:
            return
        if self._done(task) is None and not force:
            raise DriverError(
                f"task {handle.id} is still running: stop it first or destroy with force"
            )
        with _LOCK:
            _REGISTRY.pop(handle.id, None)
        task.changed.set()

    def recover(self, handle: TaskHandle) -> bool:
        task = _REGISTRY.get(handle.id)
        return task is not None and task.handle.started_at_ns == handle.started_at_ns

    def inspect(self, handle: TaskHandle) -> TaskStatus:
        task = self._task(handle)
        result = self._done(task)
        return TaskStatus(
            alloc_id=handle.alloc_id,
            task_name=handle.task_name,
            driver=self.name,
            state="running" if result is None else "exited",
            started_at_ns=handle.started_at_ns,
            exit_result=result,
        )

    def stats(self, handle: TaskHandle) -> TaskStats:
        self._task(handle)
        return TaskStats(timestamp_ns=time.time_ns())

    def exec(self, handle: TaskHandle, cmd: Sequence[str], timeout: float) -> tuple[bytes, int]:
        """Understands ``echo ...``, ``true`` and ``false``; anything else exits 127."""
        task = self._task(handle)
        if self._done(task) is not None:
            raise DriverError(f"task {handle.id}: cannot exec: task is not running")
        if cmd and cmd[0] == "echo":
            return (" ".join(cmd[1:]) + "\n").encode(), 0
        if list(cmd) in (["true"], ["false"]):
            return b"", 0 if cmd[0] == "true" else 1
        return f"mock: {cmd[0] if cmd else ''}: not found\n".encode(), 127


def _signum(handle: TaskHandle, sig: str) -> int:
    try:
        return signal_number(sig)
    except ValueError as exc:
        raise DriverError(f"task {handle.id}: {exc}") from None
