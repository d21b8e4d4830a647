"""Runtime templates: re-render a running task's templates when their inputs change,
and act on ``change_mode`` (Nomad's template manager, ``handleTemplateRerenders``).

* One watch per running task that has templates without ``once = true``. It renders
  them with a data source that remembers each query it made and the index the servers
  answered at (:class:`~gitorch.agent.templatesource.Read`), then holds one blocking
  query (``?index=N&wait=...``) per such query. A template that reads nothing (only
  ``env``) is never watched.
* When a query's index moves, the watch waits for the inputs to be quiet (``wait { min
  max }``, :mod:`gitorch.agent.templatechange`), renders again, writes each output that
  changed, and acts: ``restart`` restarts the task through the task runner (at once, not
  counted by the restart policy), ``signal`` sends ``change_signal`` through the
  driver, ``script`` runs ``change_script`` through the driver's exec inside the task,
  ``noop`` only writes; ``splay`` delays the action by a random part of it. An
  ``env = true`` template follows its ``change_mode`` as in Nomad (the default,
  ``restart``, is what brings its new variables to the task; ``signal`` is refused for
  it by the jobspec checks).
* Inputs from provider plugins re-render too: a render that asked the ``consul``-named
  template source holds that reader's ``wait_change`` (its blocking queries) in a
  thread of the watcher's own pool; one whose reader cannot block (it answers at once)
  is re-rendered every ``block_wait_s``. A render that read a ``secret`` reads it
  again every ``secret_poll_s`` (KV secrets have no index to block on; Nomad's
  consul-template re-fetches a non-renewable secret on a timer too).
* A template that cannot render any more fails the task (Nomad kills it with "Template
  failed: ..."); an input that went missing keeps the last output until it is back.
* All watches of the agent run on one event loop in one thread, started with the first
  watch; blocking queries are bounded (``block_wait_s``, and an HTTP timeout above it),
  so an idle agent does no work between changes. A watch ends when its task stops
  (``stop``: the task runner calls it as it destroys the task).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from gitorch.agent import allocrunner as ar
from gitorch.agent import templatechange as tc
from gitorch.agent.providersource import OtherSources
from gitorch.agent.templates import render_one, template_text, write_output
from gitorch.agent.templatesource import Read, ServerTemplateSource, response_index
from gitorch.core.model.job import ChangeScript, Template, WaitConfig
from gitorch.core.task import TaskConfig, TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.driver import Driver
from gitorch.templating import TemplateError, WaitingFor

log = logging.getLogger(__name__)
BLOCK_WAIT_S = 60.0
"""How long one blocking query may wait on the servers (Nomad's default is 5m; a
shorter bound notices a server that went away sooner, at one request a minute)."""
RETRY_MAX_S = 15.0
SECRET_POLL_S = 300.0
"""How often a template that read a secret reads it again (Vault's default lease, 5m)."""


class TaskNotRunning(DriverError):
    """The task has no live handle (it is stopping or restarting)."""


class TaskActions(Protocol):
    """What a template watch may do to its task."""

    def restart(self, reason: str) -> None: ...

    def signal(self, sig: str) -> None: ...

    def exec(self, cmd: Sequence[str], timeout_s: float) -> tuple[bytes, int]: ...

    def note(self, type_: str, display: str, task_signal: str = "") -> None: ...

    def kill(self, reason: str) -> None: ...


@dataclass(frozen=True)
class RunnerActions:
    """:class:`TaskActions` through one task runner: events go to its alloc runner
    (``send``), signals and exec to the driver of the task's current handle."""

    task: str
    send: Callable[[ar.Event], None]
    handle: Callable[[], TaskHandle | None]
    drivers: Mapping[str, Driver]
    draw: Callable[[], float] = random.random

    def _driver(self) -> tuple[Driver, TaskHandle]:
        handle = self.handle()
        driver = self.drivers.get(handle.driver) if handle is not None else None
        if handle is None or driver is None:
            raise TaskNotRunning(f"task {self.task} is not running")
        return driver, handle

    def restart(self, reason: str) -> None:
        self.send(ar.RestartTask(task=self.task, reason=reason, jitter=self.draw(), failure=False))

    def signal(self, sig: str) -> None:
        driver, handle = self._driver()
        driver.signal(handle, sig)

    def exec(self, cmd: Sequence[str], timeout_s: float) -> tuple[bytes, int]:
        driver, handle = self._driver()
        return driver.exec(handle, cmd, timeout_s)

    def note(self, type_: str, display: str, task_signal: str = "") -> None:
        self.send(ar.TaskNote(task=self.task, type=type_, display=display, task_signal=task_signal))

    def kill(self, reason: str) -> None:
        self.send(ar.KillTask(task=self.task, reason=reason))


@dataclass(frozen=True)
class TaskWatch:
    """What to watch for one task: its config as its templates were rendered with at
    start (task dir, env), the templates, the task's data source and its actions."""

    alloc_id: str
    cfg: TaskConfig
    templates: list[Template]
    source: ServerTemplateSource
    actions: TaskActions

    @property
    def key(self) -> tuple[str, str]:
        return (self.alloc_id, self.cfg.task_name)


def watched(templates: Sequence[Template]) -> list[Template]:
    """The templates a watch re-renders: all but ``once = true`` ones."""
    return [t for t in templates if not t.once]


@dataclass
class _Rendered:
    reads: list[Read] = field(default_factory=list)
    others: OtherSources = field(default_factory=OtherSources)
    changed: list[Template] = field(default_factory=list)
    error: str = ""

    @property
    def inputs(self) -> bool:
        """Something it read can change."""
        return bool(self.reads) or self.others.watchable or self.others.secrets_read


class TemplateWatcher:
    """The agent's template watches (thread-safe)."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        default_wait: WaitConfig = tc.DEFAULT_WAIT,
        block_wait_s: float = BLOCK_WAIT_S,
        secret_poll_s: float = SECRET_POLL_S,
        clock: Callable[[], int] = time.time_ns,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._verify = verify
        self.default_wait = default_wait
        self.block_wait_s = block_wait_s
        self.secret_poll_s = secret_poll_s
        self._clock = clock
        self._draw = draw
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._http: httpx.AsyncClient | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._closed = False

    # -- the API the task runner uses (any thread) --------------------------------------

    def watch(self, spec: TaskWatch) -> None:
        """Watch ``spec``'s templates (replacing a watch of the same task)."""
        if not watched(spec.templates):
            return
        self._call(self._start(spec))

    def stop(self, alloc_id: str, task: str | None = None) -> None:
        """Stop watching one task of an allocation, or all of them."""
        with self._lock:
            loop = self._loop
        if loop is not None and not self._closed:
            loop.call_soon_threadsafe(self._cancel, alloc_id, task)

    def watching(self) -> list[tuple[str, str]]:
        """The (alloc ID, task) pairs watched now."""
        with self._lock:
            loop = self._loop
        if loop is None or self._closed:
            return []

        async def keys() -> list[tuple[str, str]]:
            return sorted(k for k, t in self._tasks.items() if not t.done())

        return asyncio.run_coroutine_threadsafe(keys(), loop).result(timeout=5)

    def close(self) -> None:
        """Stop every watch and the loop's thread."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()

    # -- the loop's thread --------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        with self._lock:
            if self._closed:
                coro.close()
                return
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="gitorch-templates", daemon=True
                )
                self._thread.start()
            loop = self._loop
        asyncio.run_coroutine_threadsafe(coro, loop)

    def provider_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """Threads for provider readers' blocking waits (apart from the loop's default
        executor, which renders: a wait holds its thread up to ``block_wait_s``)."""
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=256, thread_name_prefix="gitorch-template-wait"
            )
        return self._pool

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
            self._http = httpx.AsyncClient(verify=self._verify, limits=limits)
        return self._http

    async def _start(self, spec: TaskWatch) -> None:
        self._cancel(*spec.key)
        run = _Watch(spec, self, self._client())
        self._tasks[spec.key] = asyncio.get_running_loop().create_task(run.run())

    def _cancel(self, alloc_id: str, task: str | None) -> None:
        for key in [k for k in self._tasks if k[0] == alloc_id and task in (None, k[1])]:
            self._tasks.pop(key).cancel()

    async def _shutdown(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
        if self._pool is not None:  # a wait in flight ends within block_wait_s
            self._pool.shutdown(wait=False, cancel_futures=True)


class _Watch:
    """One task's watch, on the watcher's loop."""

    def __init__(self, spec: TaskWatch, owner: TemplateWatcher, http: httpx.AsyncClient) -> None:
        self.spec = spec
        self.templates = watched(spec.templates)
        self.wait = tc.effective_wait(self.templates, owner.default_wait)
        self.owner = owner
        self.http = http
        self.name = f"alloc {spec.alloc_id[:8]} task {spec.cfg.task_name}"

    async def run(self) -> None:
        try:
            while True:
                rendered = await asyncio.to_thread(self._render)
                if rendered.error:
                    log.warning("%s: %s", self.name, rendered.error)
                    await asyncio.to_thread(self.spec.actions.kill, rendered.error)
                    return
                if rendered.changed:
                    await self._act(rendered.changed)
                if not rendered.inputs:
                    return  # nothing it reads can change
                await self._until_changed(rendered)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: template watch failed", self.name)

    # -- rendering (a worker thread) ----------------------------------------------------

    def _render(self) -> _Rendered:
        source = self.spec.source.fresh()
        out = _Rendered()
        for tpl in self.templates:
            try:
                text = template_text(self.spec.cfg, tpl)
                output = render_one(tpl, text, source, self.spec.cfg.env)
            except WaitingFor as exc:  # an input went away: keep the last output
                log.info("%s: template %s waits: %s", self.name, tpl.dest_path, exc)
                continue
            except (TemplateError, DriverError) as exc:
                out.error = f"Template failed: {exc}"
                break
            try:
                if write_output(self.spec.cfg, tpl, output):
                    out.changed.append(tpl)
            except (OSError, DriverError) as exc:
                out.error = f"Template failed: {exc}"
                break
        out.reads = source.reads()
        out.others = source.others
        return out

    # -- waiting for a change -----------------------------------------------------------

    async def _until_changed(self, rendered: _Rendered) -> None:
        """Return once some input changed and the inputs were quiet long enough."""
        moved = asyncio.Event()
        blockers = [asyncio.create_task(self._block(r, moved)) for r in rendered.reads]
        if rendered.others.watchable:
            blockers.append(asyncio.create_task(self._provider(rendered.others, moved)))
        if rendered.others.secrets_read:
            blockers.append(asyncio.create_task(self._after(self.owner.secret_poll_s, moved)))
        try:
            await moved.wait()
            moved.clear()
            quiet = tc.changed(tc.Quiet(), self.owner._clock())
            while True:
                at = tc.render_at(quiet, self.wait)
                delay = ((at or 0) - self.owner._clock()) / 1e9
                if delay <= 0:
                    return
                try:
                    await asyncio.wait_for(moved.wait(), delay)
                except TimeoutError:
                    return
                moved.clear()
                quiet = tc.changed(quiet, self.owner._clock())
        finally:
            for b in blockers:
                b.cancel()
            await asyncio.gather(*blockers, return_exceptions=True)

    async def _block(self, read: Read, moved: asyncio.Event) -> None:
        """Blocking queries on one input; ``moved`` is set each time its index moves."""
        index, backoff = read.index, 0.0
        while True:
            new = await self._query(read, index)
            if new is None or new == 0:  # no server answered, or without an index
                backoff = min(RETRY_MAX_S, max(0.25, backoff * 2))
                await asyncio.sleep(backoff)
                if new == 0:
                    moved.set()  # answered, but nothing to block on: look again
                continue
            backoff = 0.0
            if new != index:
                index = new
                moved.set()

    async def _provider(self, others: OtherSources, moved: asyncio.Event) -> None:
        """The provider reader's blocking waits; ``moved`` is set at its first change
        (the next render asks with a fresh reader)."""
        loop, wait = asyncio.get_running_loop(), self.owner.block_wait_s
        backoff = 0.0
        while True:
            began = time.monotonic()
            try:
                changed = await loop.run_in_executor(
                    self.owner.provider_pool(), others.wait_change, wait
                )
            except Exception as exc:  # noqa: BLE001 - a provider's failure: retried
                log.debug("%s: provider wait: %s", self.name, exc)
                backoff = min(RETRY_MAX_S, max(0.25, backoff * 2))
                await asyncio.sleep(backoff)
                continue
            if changed:
                moved.set()
                return
            if time.monotonic() - began < wait / 2:  # it cannot block: poll instead
                await self._after(wait, moved)
                return
            backoff = 0.0

    async def _after(self, delay_s: float, moved: asyncio.Event) -> None:
        await asyncio.sleep(delay_s)
        moved.set()

    async def _query(self, read: Read, index: int) -> int | None:
        source = self.spec.source
        wait = self.owner.block_wait_s
        params = {"namespace": source.namespace, **dict(read.params)}
        params.update(index=str(index), wait=f"{int(wait * 1000)}ms")
        headers = {"X-Nomad-Token": source.token} if source.token else None
        for addr in source.addresses:
            try:
                resp = await self.http.get(
                    addr + read.path, params=params, headers=headers, timeout=wait + 15.0
                )
            except httpx.HTTPError as exc:
                log.debug("%s: blocking query %s%s: %s", self.name, addr, read.path, exc)
                continue
            if resp.status_code >= 500:
                continue
            return response_index(resp)
        return None

    # -- acting on a change -------------------------------------------------------------

    async def _act(self, changed: list[Template]) -> None:
        names = ", ".join(t.dest_path for t in changed)
        log.info("%s: template re-rendered: %s", self.name, names)
        plan = tc.plan(changed)
        if not plan.acts:
            return
        delay = tc.splay_delay(plan.splay, self.owner._draw())
        if delay:
            await asyncio.sleep(delay / 1e9)
        actions = self.spec.actions
        if plan.restart:
            await asyncio.to_thread(actions.restart, tc.RESTART_REASON)
            return
        await asyncio.to_thread(self._signal, plan.signals)
        await asyncio.gather(*(asyncio.to_thread(self._script, s) for s in plan.scripts))

    def _signal(self, signals: list[str]) -> None:
        actions = self.spec.actions
        failed: list[str] = []
        for sig in signals:
            actions.note("Signaling", tc.SIGNAL_REASON, task_signal=sig)
            try:
                actions.signal(sig)
            except TaskNotRunning:
                actions.note(
                    "Task hook message", f"Template skipped signal {sig}: task is not running"
                )
            except DriverError as exc:
                failed.append(f"{sig}: {exc}")
        if failed:
            actions.kill(
                f"Template failed to send signals {tc.go_list(signals)}: {'; '.join(failed)}"
            )

    def _script(self, script: ChangeScript) -> None:
        actions = self.spec.actions
        try:
            _, code = actions.exec([script.command, *script.args], script.timeout / 1e9)
        except DriverError as exc:
            self._script_failed(script, tc.script_failed(script, str(exc), -1))
            return
        if code != 0:
            self._script_failed(script, tc.script_exit(script, code))
            return
        actions.note("Task hook message", tc.script_ok(script))

    def _script_failed(self, script: ChangeScript, message: str) -> None:
        self.spec.actions.note("Task hook failed", message)
        if script.fail_on_error:
            self.spec.actions.kill("Template script failed, task is being killed")
