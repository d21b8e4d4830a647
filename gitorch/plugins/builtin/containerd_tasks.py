"""How the containerd driver learns that its tasks ended, and with which exit code.

One ``ctr events`` stream per driver reports ``/tasks/exit`` of the namespace; for a
watched container the driver then deletes the ended task (``ctr tasks rm``: the shim
first lets the logging process drain, so the log files are complete) and takes the
exit code ctr states. The code is kept as a container label (``com.gitorch.exit_code``)
so that an agent started later still knows it. A task that ended while no agent ran is
found by ``recover`` (``ctr tasks ls`` says STOPPED) and collected the same way.

If the event stream breaks, it is started again and every watched task is checked
with ``ctr tasks ls``, so no exit goes unnoticed.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from collections.abc import Callable

from gitorch.core.task import ExitResult
from gitorch.plugins.builtin.containerd_config import EXIT_LABEL
from gitorch.plugins.builtin.containerd_ctr import Ctr, CtrError, NotFound

log = logging.getLogger(__name__)
RESTART_PAUSE_S = 1.0
LABEL_WAIT_S = 3.0


def exit_result(code: int) -> ExitResult:
    """containerd reports a task killed by signal N as 128 + N (as ExitResult does)."""
    return ExitResult(exit_code=code, signal=code - 128 if 128 < code < 160 else 0)


class Watched:
    """One container the driver watches."""

    def __init__(self, cid: str) -> None:
        self.cid = cid
        self.done = threading.Event()
        self.result: ExitResult | None = None
        self.last_cpu: tuple[int, float] | None = None
        """(when, CPU seconds) of the last stats sample, for ``cpu_percent``."""
        self.started = threading.Event()
        """Set once ``ctr run`` returned: before, a task missing from ``ctr tasks ls``
        is one not created yet, not one that ended."""
        self._collecting = threading.Lock()

    def collect(self, ctr: Ctr) -> None:
        """Delete the ended task and record its exit code (once; safe to repeat)."""
        with self._collecting:
            if self.done.is_set():
                return
            try:
                code = ctr.delete_task(self.cid)
            except NotFound:
                self._finish(ctr, None)
                return
            except CtrError as exc:
                if "running" in str(exc):  # not ended after all (a stale event)
                    return
                log.warning("containerd: cannot collect %s: %s", self.cid, exc)
                self._finish(ctr, None, str(exc))
                return
            try:
                ctr.set_label(self.cid, EXIT_LABEL, str(code))
            except CtrError as exc:
                log.warning("containerd: cannot label %s with its exit code: %s", self.cid, exc)
            self.result = exit_result(code)
            self.done.set()

    def _finish(self, ctr: Ctr, code: int | None, err: str = "") -> None:
        """The task is gone: take the code a collector left as a label, if any."""
        # Another agent process may have deleted the task and not labelled it yet.
        deadline = time.monotonic() + LABEL_WAIT_S
        while code is None:
            try:
                label = ctr.container_labels(self.cid).get(EXIT_LABEL, "")
            except CtrError:
                break
            if label.isdigit():
                code = int(label)
            elif time.monotonic() >= deadline:
                break
            else:
                time.sleep(0.05)
        if code is not None:
            self.result = exit_result(code)
        else:
            self.result = ExitResult(exit_code=-1, err=err or "the task's exit code was lost")
        self.done.set()


class ExitWatcher:
    """The ``ctr events`` stream of one driver, started on first use."""

    def __init__(
        self,
        ctr: Ctr,
        lookup: Callable[[str], Watched | None],
        all_watched: Callable[[], list[Watched]],
    ) -> None:
        self.ctr = ctr
        self._lookup = lookup
        self._all = all_watched
        self._ready = threading.Event()
        self._started = False
        self._closed = False
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def ensure(self) -> None:
        """Start following events (once); returns when the subscription is live enough
        that ``ctr events`` has been started (a later ``reconcile`` covers the gap)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._follow, name="containerd-events", daemon=True).start()
        self._ready.wait(5.0)

    def close(self) -> None:
        self._closed = True
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()  # its guard ends ``ctr events``

    def reconcile(self) -> None:
        """Collect every watched task that ``ctr tasks ls`` shows ended or missing."""
        try:
            tasks = self.ctr.tasks()
        except CtrError as exc:
            log.warning("containerd: cannot list tasks: %s", exc)
            return
        for watched in self._all():
            state = tasks.get(watched.cid)
            if (
                watched.started.is_set()
                and not watched.done.is_set()
                and (state is None or state.status == "STOPPED")
            ):
                self._collect_soon(watched)

    def _collect_soon(self, watched: Watched) -> None:
        threading.Thread(
            target=watched.collect, args=(self.ctr,), name=f"collect-{watched.cid}", daemon=True
        ).start()

    def _follow(self) -> None:
        while not self._closed:
            proc = self.ctr.events()
            self._proc = proc
            self._ready.set()
            self.reconcile()
            assert proc.stdout is not None
            for line in proc.stdout:
                self._on_line(line)
            if proc.stdin is not None and not proc.stdin.closed:
                proc.stdin.close()
            proc.wait()
            if not self._closed:
                log.warning("containerd: the event stream ended; following it again")
                time.sleep(RESTART_PAUSE_S)

    def _on_line(self, line: str) -> None:
        start = line.find("{")
        if start < 0:
            return
        try:
            event = json.loads(line[start:])
        except ValueError:
            return
        cid = event.get("container_id")
        if not isinstance(cid, str) or event.get("id") != cid:
            return  # an exec'd process, not the task
        watched = self._lookup(cid)
        if watched is not None:
            self._collect_soon(watched)
