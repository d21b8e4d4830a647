"""The IO shell around one allocation's alloc runner: it carries out the runner's
instructions with the task drivers and feeds what happened back as events.

* Events for one allocation are handled one at a time, in order, on a shared bounded
  thread pool (an actor per allocation; no thread per allocation).
* A task's exit is watched by one thread per running task, blocked in ``driver.wait``
  (the drivers wait on a pidfd, so it costs no CPU); a stop, which may take the task's
  kill timeout, runs in a thread of its own.
* Restart delays are served by one ``Timers`` thread for the whole client.
* Before anything else the state is saved (``save``), so a task handle reaches the
  disk right after ``driver.start`` returns; ``shutdown`` leaves the tasks running.
"""

from __future__ import annotations

import heapq
import logging
import os
import pwd
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from gitorch.agent import allocrunner as ar
from gitorch.agent.artifacts import ArtifactFailed, fetch_artifacts
from gitorch.agent.devices import DeviceManager
from gitorch.agent.hooks.secrets import (
    SecretsHook,
    SecretsUnavailable,
    task_identity,
    vault_identity,
)
from gitorch.agent.identity import IdentityHook, hand_over
from gitorch.agent.payload import write_payload
from gitorch.agent.templates import TemplateFailed, TemplateWaiting, render_templates
from gitorch.agent.templatesource import ServerTemplateSource
from gitorch.agent.templatewatch import RunnerActions, TaskWatch, TemplateWatcher, watched
from gitorch.agent.volumes import check_host_mounts
from gitorch.core.commands import AllocClientUpdate
from gitorch.core.model import Task
from gitorch.core.task import ExitResult, TaskConfig, TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.driver import Driver
from gitorch.templating.source import DataSource

log = logging.getLogger(__name__)
REWATCH_FIRST_S = 1.0  # after an agent restart, the first retry of a template re-watch
REWATCH_MAX_S = 15.0
WAIT_SLICE_S = 1.0  # how often a waiter thread checks whether the client shuts down


class Timers:
    """One thread that calls callbacks at unix-nanosecond times."""

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="gitorch-timers", daemon=True)
        self._thread.start()

    def call_at(self, at: int, fn: Callable[[], None]) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (at, self._seq, fn))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > self._clock()):
                    wait = (self._heap[0][0] - self._clock()) / 1e9 if self._heap else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:
                log.exception("timer callback failed")


SECRETS_DIR_MODE = 0o700  # Nomad's secrets/: readable by the task's user only


def make_dirs(cfg: TaskConfig) -> None:
    """Nomad's alloc dir: ``alloc/{logs,data,tmp}`` shared by the alloc's tasks, and
    ``<task>/{local,secrets,tmp}`` per task."""
    for sub in ("logs", "data", "tmp"):
        os.makedirs(os.path.join(cfg.alloc_dir, sub), exist_ok=True)
    for sub in ("local", "secrets", "tmp"):
        os.makedirs(os.path.join(cfg.task_dir, sub), exist_ok=True)
    secrets = os.path.join(cfg.task_dir, "secrets")
    os.chmod(secrets, SECRETS_DIR_MODE)
    if cfg.user:  # the task runs as this user: it owns its secrets (an unknown user is
        try:  # the driver's error to report)
            entry = pwd.getpwnam(cfg.user)
            os.chown(secrets, entry.pw_uid, entry.pw_gid)
        except KeyError:
            pass


class _Restore:
    """The inbox marker for ``TaskRunner.restore``."""


_RESTORE = _Restore()


class TaskRunner:
    """Runs one allocation: owns its alloc runner state and its tasks' handles."""

    def __init__(
        self,
        state: ar.AllocRunnerState,
        *,
        drivers: dict[str, Driver],
        devices: DeviceManager | None = None,
        pool: Executor,
        timers: Timers,
        save: Callable[[ar.AllocRunnerState], None],
        report: Callable[[AllocClientUpdate], None],
        clock: Callable[[], int] = time.time_ns,
        template_source: DataSource | None = None,
        identities: IdentityHook | None = None,
        secrets: SecretsHook | None = None,
        template_watch: TemplateWatcher | None = None,
    ) -> None:
        self.state = state
        self._drivers = drivers
        self._devices = devices or DeviceManager()
        self._template_source = template_source
        self._identities = identities
        self._secrets = secrets
        self._template_watch = template_watch
        self._pool = pool
        self._timers = timers
        self._save = save
        self._report = report
        self._clock = clock
        self._lock = threading.Lock()
        self._inbox: deque[ar.Event | _Restore] = deque()
        self._draining = False
        self._closed = False
        self._handles: dict[str, TaskHandle] = {}
        self.idle = threading.Event()
        self.idle.set()

    @property
    def alloc_id(self) -> str:
        return self.state.alloc.id

    def send(self, event: ar.Event | _Restore) -> None:
        """Queue an event; it is handled on the pool, after the ones before it."""
        with self._lock:
            if self._closed:
                return
            self._inbox.append(event)
            if self._draining:
                return
            self._draining = True
            self.idle.clear()
        self._pool.submit(self._drain)

    def restore(self) -> None:
        """Resume after an agent restart: re-attach tasks, re-arm timers (queued
        first, so it runs before any event)."""
        self.send(_RESTORE)

    def shutdown(self) -> None:
        """Stop handling events and watching tasks; the tasks keep running."""
        with self._lock:
            self._closed = True
            self._inbox.clear()
        if self._template_watch is not None:
            self._template_watch.stop(self.alloc_id)

    def exec(self, task: str, cmd: Sequence[str], timeout: float) -> tuple[bytes, int]:
        """Run ``cmd`` in ``task``'s context through its driver (script checks)."""
        handle = self._handles.get(task)
        if handle is None:
            raise DriverError(f"alloc {self.alloc_id}: task {task!r} is not running")
        return self._drivers[handle.driver].exec(handle, cmd, timeout)

    def terminal(self) -> bool:
        """Every task is dead and nothing is in flight."""
        tasks = self.state.tasks.values()
        return bool(tasks) and all(t.phase == "dead" for t in tasks) and self.idle.is_set()

    def running(self, task: str) -> tuple[Driver, TaskHandle] | None:
        """The driver and handle of ``task`` while it runs (None otherwise): what
        ``alloc signal``, ``alloc exec`` and the stats routes act on."""
        handle = self._handles.get(task)
        driver = self._drivers.get(handle.driver) if handle is not None else None
        if handle is None or driver is None:
            return None
        return driver, handle

    # -- the actor loop ----------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._inbox or self._closed:
                    self._draining = False
                    self.idle.set()
                    return
                event = self._inbox.popleft()
            self._step(event)

    def _step(self, event: ar.Event | _Restore) -> None:
        try:
            before = self.state
            if isinstance(event, _Restore):
                self.state, out = ar.restore(self.state, now=self._clock())
            else:
                self.state, out = ar.handle(self.state, event, now=self._clock())
            if self.state is not before:
                self._save(self.state)
            self._execute_all(out)
        except Exception:
            log.exception("alloc %s: failed to handle %s", self.alloc_id, type(event).__name__)

    def _execute_all(self, out: list[ar.Instruction]) -> None:
        follow = [event for ins in out if (event := self._execute(ins)) is not None]
        for event in follow:  # before any queued event: a new handle is saved at once
            self._step(event)

    def _execute(self, ins: ar.Instruction) -> ar.Event | None:
        match ins:
            case ar.StartTask():
                return self._start(ins.config)
            case ar.StopTask():  # may wait kill_timeout: its own thread, not the pool
                name = f"stop-{self.alloc_id[:8]}-{ins.task}"
                threading.Thread(target=self._stop, args=(ins,), name=name, daemon=True).start()
            case ar.DestroyTask():
                self._destroy(ins.task)
            case ar.SetTimer():
                self._timers.call_at(ins.at, lambda: self.send(ar.TimerFired(task=ins.task)))
            case ar.ReportStatus():
                self._report(ins.update)
            case ar.RecoverTask():
                return self._recover(ins)
        return None

    # -- instructions ------------------------------------------------------------------

    def _start(self, cfg: TaskConfig) -> ar.Event:
        driver = self._drivers.get(cfg.driver)
        if driver is None:
            error = f"task {cfg.id}: driver {cfg.driver!r} is not available on this node"
            return ar.TaskStartFailed(task=cfg.task_name, error=error)
        try:
            cfg = self._devices.reserve(cfg)  # its env is seen by templates
        except DriverError as exc:
            return ar.TaskStartFailed(
                task=cfg.task_name, error=str(exc), recoverable=True, jitter=random.random()
            )
        try:
            check_host_mounts(cfg, self.state.node.id)
            make_dirs(cfg)
            write_payload(cfg.task_dir, self.state.job, self.state.task(cfg.task_name))
            task = self.state.task(cfg.task_name)
            fetch_artifacts(cfg, task.artifacts, self.state.node)
            cfg, source = self._identity(cfg, task)
            templates_cfg = cfg  # what a re-render sees (gitorch.agent.templatewatch)
            cfg = render_templates(cfg, task.templates, source)
        except ArtifactFailed as exc:
            return ar.TaskStartFailed(
                task=cfg.task_name,
                error=str(exc),
                recoverable=exc.recoverable,
                jitter=random.random(),
                kind="Failed Artifact Download",
            )
        except TemplateFailed as exc:
            return ar.TaskStartFailed(task=cfg.task_name, error=f"task {cfg.id}: {exc}")
        except TemplateWaiting as exc:
            return ar.TaskStartFailed(
                task=cfg.task_name, error=str(exc), recoverable=True, jitter=random.random()
            )
        except (OSError, DriverError) as exc:
            error = f"task {cfg.id}: cannot set up task dir: {exc}"
            return ar.TaskStartFailed(
                task=cfg.task_name, error=error, recoverable=True, jitter=random.random()
            )
        try:
            handle = driver.start(cfg)
        except Exception as exc:
            return ar.TaskStartFailed(task=cfg.task_name, error=str(exc), jitter=random.random())
        self._watch(cfg.task_name, driver, handle)
        self._watch_templates(templates_cfg, task, source)
        return ar.TaskStarted(task=cfg.task_name, handle=handle)

    def _watch_templates(self, cfg: TaskConfig, task: Task, source: DataSource | None) -> None:
        """Re-render the task's templates when their inputs change (templatewatch)."""
        if self._template_watch is None or not isinstance(source, ServerTemplateSource):
            return
        name = cfg.task_name
        actions = RunnerActions(name, self.send, lambda: self._handles.get(name), self._drivers)
        watch = TaskWatch(self.alloc_id, cfg, list(task.templates), source, actions)
        self._template_watch.watch(watch)

    def _identity(self, cfg: TaskConfig, task: Task) -> tuple[TaskConfig, DataSource | None]:
        """Get and hand over the task's workload identity (gitorch.agent.identity);
        its templates then read variables and services as the task."""
        source = self._template_source
        if task.vault is not None and (self._identities is None or self._secrets is None):
            why = "no servers sign its workload identity on this client"
            raise SecretsUnavailable(f"task {cfg.id}: cannot log in to vault: {why}")
        if self._identities is None or (
            task.identity is None and not task.templates and task.vault is None
        ):
            return cfg, source
        token = self._identities.token_for(cfg, task.identity)
        lease = None
        if task.vault is not None and self._secrets is not None:  # gitorch.agent.hooks.secrets
            jwt = self._identities.token_for(cfg, vault_identity())
            who = task_identity(cfg, self.state.alloc.job_id, jwt)
            cfg, lease = self._secrets.start(cfg, task.vault, who)
        if isinstance(source, ServerTemplateSource):
            who = task_identity(cfg, self.state.alloc.job_id, token)
            source = source.for_task(cfg.namespace, token, task=who, lease=lease)
        return hand_over(cfg, task.identity, token), source

    def _recover(self, ins: ar.RecoverTask) -> ar.Event | None:
        task, handle = ins.task, ins.handle
        driver = self._drivers.get(handle.driver)
        try:
            ok = driver is not None and driver.recover(handle)
        except Exception as exc:
            return ar.TaskRecoverFailed(task=task, error=str(exc))
        if not ok or driver is None:
            why = "driver not available" if driver is None else "task is gone"
            return ar.TaskRecoverFailed(task=task, error=why)
        self._watch(task, driver, handle)
        if ins.config is not None and self._template_watch is not None:
            if watched(self.state.task(task).templates):
                name = f"rewatch-{self.alloc_id[:8]}-{task}"
                args = (ins.config, handle)
                threading.Thread(target=self._rewatch, args=args, name=name, daemon=True).start()
        return None

    def _rewatch(self, cfg: TaskConfig, handle: TaskHandle) -> None:
        """After an agent restart, watch a re-attached task's templates again, seen as at
        its start: its devices' environment and a fresh workload identity (with a
        ``vault`` block, a new secrets login: the old token is not resumed). The servers
        may not answer yet while the agent starts: retried with backoff while the task
        runs; the first render that differs from the files on disk acts on its
        ``change_mode``."""
        task = self.state.task(cfg.task_name)
        delay = REWATCH_FIRST_S
        while not self._closed and self._handles.get(cfg.task_name) == handle:
            try:
                seen = self._devices.reserve(cfg)
                seen, source = self._identity(seen, task)
            except Exception as exc:  # noqa: BLE001 - retried; the task keeps running
                log.warning(
                    "alloc %s task %s: cannot watch its templates yet (retry in %.0fs): %s",
                    self.alloc_id[:8],
                    cfg.task_name,
                    delay,
                    exc,
                )
                time.sleep(delay)
                delay = min(REWATCH_MAX_S, delay * 2)
                continue
            if not self._closed and self._handles.get(cfg.task_name) == handle:
                self._watch_templates(seen, task, source)
            return

    def _stop(self, ins: ar.StopTask) -> None:
        handle = self._handles.get(ins.task)
        if handle is None:
            self.send(ar.TaskKilled(task=ins.task))
            return
        driver = self._drivers[handle.driver]
        try:
            driver.stop(handle, ins.signal, ins.timeout / 1e9)
            result = driver.wait(handle, timeout=0)
        except Exception as exc:
            self.send(ar.TaskKilled(task=ins.task, error=str(exc)))
        else:
            self.send(ar.TaskKilled(task=ins.task, result=result))

    def _destroy(self, task: str) -> None:
        if self._template_watch is not None:
            self._template_watch.stop(self.alloc_id, task)
        handle = self._handles.pop(task, None)
        if handle is None:
            return
        try:
            self._drivers[handle.driver].destroy(handle, force=True)
        except Exception:
            log.exception("alloc %s: destroying task %s failed", self.alloc_id, task)

    def _watch(self, task: str, driver: Driver, handle: TaskHandle) -> None:
        self._handles[task] = handle
        name = f"wait-{self.alloc_id[:8]}-{task}"
        threading.Thread(
            target=self._wait, args=(task, driver, handle), name=name, daemon=True
        ).start()

    def _wait(self, task: str, driver: Driver, handle: TaskHandle) -> None:
        while not self._closed:
            try:
                result = driver.wait(handle, timeout=WAIT_SLICE_S)
            except Exception as exc:
                result = ExitResult(exit_code=-1, err=f"lost track of task: {exc}")
            if result is not None:
                if self._secrets is not None:
                    self._secrets.stop(self.alloc_id, task)  # its vault token is given back
                self.send(ar.TaskExited(task=task, result=result, jitter=random.random()))
                return
