"""Process one repository file in a worker process with a time and a memory budget.

Rendering and parsing run Python code chosen by the repository's content; a few lines
can ask for minutes of CPU or gigabytes of memory, and some of that work (a huge integer
power, a regular expression) runs in C holding the GIL, where no thread of the agent
could answer an HTTP request. So the agent never does it in its own process: each file
is handed to a fresh worker forked from a small fork server (started once, holding only
the jobspec modules). The worker runs with ``RLIMIT_AS`` (the memory budget) and an
interval timer that stops the work at ``max_seconds`` with the template line it was on;
the agent waits at most a little longer, then kills the worker. The answer comes back
as plain values (msgpack), never as pickled objects.

Driver ``config`` checks (plugins live in the agent) run back in the caller, on the
decoded job, under the same guard.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from gitorch.core.model.job import Job
from gitorch.errors import JobspecError
from gitorch.jobspec import parse_file
from gitorch.jobspec.guard import BudgetExceeded, clean, guarded
from gitorch.jobspec.limits import DEFAULT_LIMITS, Limits
from gitorch.jobspec.validate import DriverCheck, validate

_GRACE_S = 2.0  # after the worker's own timer, how long before it is killed
_context_lock = threading.Lock()
_context: Any = None


def _mp() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["gitorch.jobspec.isolate"])
            _context = ctx
        return _context


class _Answer(msgspec.Struct):
    job: Job | None = None
    lines: dict[str, int] = {}
    error: tuple[str, str, int, str] | None = None  # message, file, line, path
    problems: list[tuple[str, str, int, str]] = []


def parse_isolated(
    path_in_repo: str,
    text: str,
    *,
    vars_: Mapping[str, Any] | None = None,
    var_files: Sequence[tuple[str, str]] = (),
    driver_check: DriverCheck | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Job | JobspecError:
    """The Job in ``path_in_repo``, or its located JobspecError: never raises, never
    takes much longer than ``limits.max_seconds`` nor more than ``limits.max_memory``."""
    ctx = _mp()
    receive, send = ctx.Pipe(duplex=False)
    args = (send, path_in_repo, text, dict(vars_ or {}), list(var_files), limits)
    worker = ctx.Process(target=_work, args=args, name="gitorch-jobspec", daemon=True)
    try:
        worker.start()
    except Exception as exc:  # noqa: BLE001 - no worker, no parse: the file waits
        return JobspecError(f"cannot start a jobspec worker: {exc}", file=path_in_repo, line=1)
    send.close()
    try:
        raw = _receive(receive, limits.max_seconds + _GRACE_S)
    finally:
        receive.close()
        if worker.is_alive():
            worker.kill()
        worker.join(timeout=5)
    if raw is None:
        return _lost(path_in_repo, worker.exitcode, limits)
    try:
        answer = msgspec.msgpack.decode(raw, type=_Answer)
    except msgspec.DecodeError as exc:
        return JobspecError(
            f"the jobspec worker sent a bad answer: {exc}", file=path_in_repo, line=1
        )
    if answer.error is not None:
        problems = [JobspecError(m, file=f, line=ln, path=p) for m, f, ln, p in answer.problems]
        message, file, line, path = answer.error
        err = JobspecError(message, file=file, line=line, path=path, problems=problems or None)
        return clean(err, path_in_repo)
    assert answer.job is not None
    job = answer.job
    if driver_check is None:
        return job
    try:
        guarded(path_in_repo, lambda: validate(job, path_in_repo, driver_check, lines=answer.lines))
    except JobspecError as exc:
        return exc
    return job


def _receive(conn: multiprocessing.connection.Connection, timeout: float) -> bytes | None:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            if conn.poll(left):
                return conn.recv_bytes()
        except (EOFError, OSError):
            return None


def _lost(file: str, exitcode: int | None, limits: Limits) -> JobspecError:
    if exitcode is None:
        msg = f"processing this file took longer than {limits.max_seconds:g}s (gitops.max_seconds)"
    elif exitcode < 0 and -exitcode in (signal.SIGKILL, signal.SIGXCPU):
        msg = f"processing this file ran out of its budget (signal {-exitcode})"
    else:
        msg = f"processing this file stopped the worker (exit code {exitcode})"
    return JobspecError(msg, file=file, line=1)


def _work(
    conn: multiprocessing.connection.Connection,
    file: str,
    text: str,
    vars_: dict[str, Any],
    var_files: list[tuple[str, str]],
    limits: Limits,
) -> None:
    """In the worker: set the budgets, parse, send the answer; nothing reaches stderr."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        _set_budgets(limits)
        answer: _Answer
        lines: dict[str, int] = {}
        try:
            job = parse_file(
                file, text, vars_=vars_, var_files=var_files, limits=limits, lines=lines
            )
            answer = _Answer(job=job, lines=lines)
        except JobspecError as exc:
            answer = _Answer(
                error=(exc.message, exc.file, exc.line, exc.path),
                problems=[
                    (p.message, p.file, p.line, p.path) for p in exc.problems if p is not exc
                ],
            )
        signal.setitimer(signal.ITIMER_REAL, 0)
        conn.send_bytes(msgspec.msgpack.encode(answer))
        conn.close()
    except BaseException:  # noqa: BLE001 - the caller reports a worker that sent nothing
        os._exit(70)


def _set_budgets(limits: Limits) -> None:
    def out_of_time(signum: int, frame: object) -> None:
        raise BudgetExceeded(
            f"processing this file took longer than {limits.max_seconds:g}s (gitops.max_seconds)"
        )

    signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, limits.max_seconds)
    cpu = int(limits.max_seconds) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    used = _address_space()
    if used:
        budget = used + limits.max_memory
        resource.setrlimit(resource.RLIMIT_AS, (budget, budget))


def _address_space() -> int:
    """This process's virtual memory size in bytes (0 where it cannot be read)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * resource.getpagesize()
