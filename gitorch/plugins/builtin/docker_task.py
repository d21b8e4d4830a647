"""One container the docker driver watches: its log followers, its exit, and the calls
made on it (kill, stats, exec). Talks to the daemon through the APIClient that
``docker`` hands it, so that module stays the only one importing the SDK.

The watcher thread follows stdout (and starts a second thread for stderr); a follow
stream ends when the container stops, after which the exit status is read with one
inspect. A daemon whose log driver cannot be read back is waited on instead.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from gitorch.core.task import ExitResult, TaskHandle, TaskStats
from gitorch.errors import DriverError
from gitorch.plugins.builtin.docker_logs import LogFollower, LogsUnsupported
from gitorch.plugins.builtin.process import exit_result

log = logging.getLogger(__name__)

STREAMS = ("stdout", "stderr")


class Gone(DriverError):
    """The handle's container no longer exists."""


def checkpoint_paths(handle: TaskHandle) -> list[str]:
    """The log checkpoint files of the handle's container (in the driver's state dir)."""
    state_dir = str(handle.state.get("state_dir", ""))
    cid = str(handle.state.get("container_id", ""))[:12]
    return [os.path.join(state_dir, f"docker-{cid}.{s}.pos") for s in STREAMS] if cid else []


def forget_checkpoints(handle: TaskHandle) -> None:
    """Delete the container's log checkpoints, and the state dir once it is empty."""
    paths = checkpoint_paths(handle)
    for path in paths:
        for name in (path, f"{path}.tmp"):
            try:
                os.unlink(name)
            except OSError:
                pass
    try:
        os.rmdir(str(handle.state.get("state_dir", "")))
    except OSError:
        pass


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


class Container:
    """A started container: ``done`` is set (and ``result`` known) once it exited."""

    def __init__(self, api: Any, handle: TaskHandle) -> None:
        self.api = api
        self.handle = handle
        self.container_id = str(handle.state["container_id"])
        self.done = threading.Event()
        self.result: ExitResult | None = None
        self.closed = False
        self._last_cpu: tuple[int, int] | None = None
        offsets = handle.state.get("log_offsets") or [0, 0]
        os.makedirs(str(handle.state["state_dir"]), exist_ok=True)
        self.followers = [
            LogFollower(
                api,
                self.container_id,
                stream,
                str(handle.state[f"{stream}_path"]),
                pos,
                int(base),
                tty=handle.state.get("tty") is True,
            )
            for stream, pos, base in zip(STREAMS, checkpoint_paths(handle), offsets, strict=True)
        ]

    # -- watching --------------------------------------------------------------------

    def watch(self) -> None:
        """Start following the logs and waiting for the exit (in the background)."""
        name = f"docker-{self.container_id[:12]}"
        threading.Thread(target=self._watch, name=name, daemon=True).start()

    def _follow(self, follower: LogFollower) -> bool:
        """Follow one stream until the container stops; False if logs are unreadable."""
        try:
            follower.run(self.running)
        except LogsUnsupported as exc:
            log.warning("container %s: no logs: %s", self.container_id[:12], exc)
            return False
        return True

    def _watch(self) -> None:
        stdout, stderr = self.followers
        other = threading.Thread(target=self._follow, args=(stderr,), daemon=True)
        other.start()
        readable = self._follow(stdout)
        other.join()
        if not readable:
            self._wait_exit()
        if not self.closed:
            self.result = self._exit_result()
            self.done.set()

    def running(self) -> bool:
        """Whether the container runs (True while the daemon cannot tell)."""
        try:
            state = self.api.inspect_container(self.container_id)["State"]
        except Exception as exc:  # noqa: BLE001
            return _status(exc) != 404
        return bool(state.get("Running") or state.get("Restarting"))

    def _wait_exit(self) -> None:
        while not self.closed:
            try:
                self.api.wait(self.container_id)
                return
            except Exception as exc:  # noqa: BLE001 - daemon restarting: try again
                if _status(exc) == 404:
                    return
                time.sleep(1.0)

    def _exit_result(self) -> ExitResult:
        for _ in range(100):
            try:
                state = self.api.inspect_container(self.container_id)["State"]
            except Exception as exc:  # noqa: BLE001
                return ExitResult(
                    exit_code=-1, err=f"container is gone, exit status unknown: {exc}"
                )
            if not state.get("Running"):
                oom = bool(state.get("OOMKilled"))
                return exit_result(int(state.get("ExitCode", -1)), None, oom_killed=oom)
            self._wait_exit()
        return ExitResult(exit_code=-1, err="container never stopped")

    def close(self) -> None:
        """Stop watching (the container is left as it is)."""
        self.closed = True
        for follower in self.followers:
            follower.close()

    def forget_logs(self) -> None:
        """Delete the log checkpoints (and the state dir once empty)."""
        forget_checkpoints(self.handle)

    # -- calls -----------------------------------------------------------------------

    def kill(self, signum: int) -> bool:
        """Send a signal to the container's PID 1; False when it is not running."""
        try:
            self.api.kill(self.container_id, signal=signum)
        except Exception as exc:  # noqa: BLE001
            if _status(exc) in (404, 409):
                return False
            raise DriverError(f"task {self.handle.id}: cannot signal: {exc}") from exc
        return True

    def stats(self) -> TaskStats:
        one_shot = _api_version(self.api) >= (1, 41)
        try:
            raw = self.api.stats(self.container_id, stream=False, one_shot=one_shot or None)
        except Exception as exc:  # noqa: BLE001
            raise DriverError(f"task {self.handle.id}: no stats: {exc}") from exc
        cpu = raw.get("cpu_stats") or {}
        usage = cpu.get("cpu_usage") or {}
        total, system = int(usage.get("total_usage", 0)), int(cpu.get("system_cpu_usage", 0))
        before = self._last_cpu
        pre = raw.get("precpu_stats") or {}
        if before is None and pre.get("system_cpu_usage"):
            before = (int(pre["cpu_usage"]["total_usage"]), int(pre["system_cpu_usage"]))
        percent = 0.0
        if before is not None and system > before[1]:
            cpus = int(cpu.get("online_cpus") or len(usage.get("percpu_usage") or []) or 1)
            percent = (total - before[0]) / (system - before[1]) * cpus * 100.0
        self._last_cpu = (total, system)
        memory = raw.get("memory_stats") or {}
        mstats = memory.get("stats") or {}
        inactive = int(mstats.get("total_inactive_file", mstats.get("inactive_file", 0)))
        return TaskStats(
            timestamp_ns=time.time_ns(),
            cpu_user_s=int(usage.get("usage_in_usermode", 0)) / 1e9,
            cpu_system_s=int(usage.get("usage_in_kernelmode", 0)) / 1e9,
            cpu_percent=max(0.0, percent),
            memory_rss_bytes=int(mstats.get("rss", mstats.get("anon", 0))),
            memory_usage_bytes=max(0, int(memory.get("usage", 0)) - inactive),
        )

    def exec(self, cmd: list[str], timeout: float) -> tuple[bytes, int]:
        """Run ``cmd`` in the container; (stdout+stderr, exit code)."""
        what = f"task {self.handle.id}: cannot exec {cmd[0]!r}"
        try:
            exec_id = self.api.exec_create(self.container_id, cmd, stdout=True, stderr=True)["Id"]
        except Exception as exc:  # noqa: BLE001
            raise DriverError(f"{what}: {getattr(exc, 'explanation', None) or exc}") from exc
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["out"] = self.api.exec_start(exec_id)
            except Exception as exc:  # noqa: BLE001
                box["err"] = exc

        worker = threading.Thread(target=run, name=f"exec-{exec_id[:8]}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise DriverError(f"{what}: still running after {timeout}s")
        if "err" in box:
            raise DriverError(f"{what}: {box['err']}")
        code = self.api.exec_inspect(exec_id).get("ExitCode")
        return bytes(box.get("out") or b""), int(code if code is not None else -1)


def _api_version(api: Any) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(api.api_version).split("."))
    except (AttributeError, ValueError):
        return (0,)
