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

Many files (a sync of a large repository) go to one worker in turn
(:func:`parse_many_isolated`): the budgets hold per file (the timer and the CPU limit
are re-armed for each), and a file that exhausts its budget costs only the worker it
killed; the rest go to a fresh one. Forking a worker per file would cost ~0.1 s each.

Driver ``config`` checks (plugins live in the agent) run back in the caller, on the
decoded job, under the same guard. The file's warnings come back beside its job.
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
from gitorch.core.model.submission import JobSubmission
from gitorch.errors import JobspecError
from gitorch.jobspec import parse_file
from gitorch.jobspec.guard import BudgetExceeded, clean, guarded
from gitorch.jobspec.limits import DEFAULT_LIMITS, Limits
from gitorch.jobspec.submission import submission
from gitorch.jobspec.validate import DriverCheck, validate
from gitorch.jobspec.warnings import JobspecWarning

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
    warnings: list[JobspecWarning] = []
    submission: JobSubmission | None = None  # the source as parsed, sensitive values out


def parse_isolated(
    path_in_repo: str,
    text: str,
    *,
    vars_: Mapping[str, Any] | None = None,
    var_files: Sequence[tuple[str, str]] = (),
    driver_check: DriverCheck | None = None,
    limits: Limits = DEFAULT_LIMITS,
    env: Mapping[str, str] | None = None,
    warnings: list[JobspecWarning] | None = None,
) -> Job | JobspecError:
    """The Job in ``path_in_repo``, or its located JobspecError: never raises, never
    takes much longer than ``limits.max_seconds`` nor more than ``limits.max_memory``.
    ``warnings``, when given, receives the file's located warnings."""
    found: list[list[JobspecWarning]] = []
    result = parse_many_isolated(
        [(path_in_repo, text)],
        vars_=vars_,
        var_files=var_files,
        driver_check=driver_check,
        limits=limits,
        env=env,
        warnings=found,
    )[0]
    if warnings is not None:
        warnings.extend(found[0])
    return result


def parse_many_isolated(
    files: Sequence[tuple[str, str]],
    *,
    vars_: Mapping[str, Any] | None = None,
    var_files: Sequence[tuple[str, str]] = (),
    driver_check: DriverCheck | None = None,
    limits: Limits = DEFAULT_LIMITS,
    env: Mapping[str, str] | None = None,
    warnings: list[list[JobspecWarning]] | None = None,
    submissions: list[JobSubmission | None] | None = None,
) -> list[Job | JobspecError]:
    """Each ``(path, text)``'s Job or located JobspecError, in order, parsed one after
    another by as few workers as the files' budgets allow (each file has the whole
    ``max_seconds`` and ``max_memory``). ``env`` supplies ``NOMAD_VAR_<name>`` values.
    ``warnings``, when given, receives each file's warnings, in the same order;
    ``submissions`` each parsed file's source as submitted (None for a failed one)."""
    results: list[Job | JobspecError] = []
    pending = list(files)
    while pending:
        nomad_vars = {k: v for k, v in (env or {}).items() if k.startswith("NOMAD_VAR_")}
        done = _run_worker(pending, dict(vars_ or {}), list(var_files), limits, nomad_vars)
        results.extend(_finish(path, answer, driver_check) for path, answer in done)
        if warnings is not None:
            warnings.extend(a.warnings if isinstance(a, _Answer) else [] for _, a in done)
        if submissions is not None:
            submissions.extend(a.submission if isinstance(a, _Answer) else None for _, a in done)
        pending = pending[len(done) :]
    return results


def _run_worker(
    files: list[tuple[str, str]],
    vars_: dict[str, Any],
    var_files: list[tuple[str, str]],
    limits: Limits,
    env: dict[str, str] | None = None,
) -> list[tuple[str, _Answer | JobspecError]]:
    """Feed ``files`` to one worker until it finishes them or one costs it its life;
    return the answers it gave (that file's error last, when it died)."""
    ctx = _mp()
    to_worker, tasks = ctx.Pipe(duplex=False)
    answers, from_worker = ctx.Pipe(duplex=False)
    args = (to_worker, from_worker, vars_, var_files, limits, env or {})
    worker = ctx.Process(target=_work, args=args, name="gitorch-jobspec", daemon=True)
    path = files[0][0]
    try:
        worker.start()
    except Exception as exc:  # noqa: BLE001 - no worker, no parse: the file waits
        err = JobspecError(f"cannot start a jobspec worker: {exc}", file=path, line=1)
        return [(path, err)]
    to_worker.close()
    from_worker.close()
    done: list[tuple[str, _Answer | JobspecError]] = []
    try:
        for path, text in files:
            try:
                tasks.send_bytes(msgspec.msgpack.encode((path, text)))
            except OSError:
                done.append((path, _lost(path, worker.exitcode, limits)))
                return done
            raw = _receive(answers, limits.max_seconds + _GRACE_S)
            if raw is None:
                if worker.is_alive():
                    worker.kill()
                worker.join(timeout=5)
                done.append((path, _lost(path, worker.exitcode, limits)))
                return done
            try:
                done.append((path, msgspec.msgpack.decode(raw, type=_Answer)))
            except msgspec.DecodeError as exc:
                bad = JobspecError(f"the jobspec worker sent a bad answer: {exc}", file=path)
                done.append((path, bad))
        return done
    finally:
        tasks.close()
        answers.close()
        if worker.is_alive():
            worker.join(timeout=1)
        if worker.is_alive():
            worker.kill()
            worker.join(timeout=5)


def _finish(
    path_in_repo: str, answer: _Answer | JobspecError, driver_check: DriverCheck | None
) -> Job | JobspecError:
    if isinstance(answer, JobspecError):
        return answer
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
    tasks: multiprocessing.connection.Connection,
    answers: multiprocessing.connection.Connection,
    vars_: dict[str, Any],
    var_files: list[tuple[str, str]],
    limits: Limits,
    env: dict[str, str],
) -> None:
    """In the worker: set the memory budget, then parse each file sent until the pipe
    closes, each under its own time budget; nothing reaches stderr."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        _set_memory_budget(limits)
        while True:
            try:
                raw = tasks.recv_bytes()
            except (EOFError, OSError):
                break
            file, text = msgspec.msgpack.decode(raw, type=tuple[str, str])
            _set_time_budget(limits)
            answer = _answer(file, text, vars_, var_files, limits, env)
            signal.setitimer(signal.ITIMER_REAL, 0)
            answers.send_bytes(msgspec.msgpack.encode(answer))
        answers.close()
    except BaseException:  # noqa: BLE001 - the caller reports a worker that sent nothing
        os._exit(70)


def _answer(
    file: str,
    text: str,
    vars_: dict[str, Any],
    var_files: list[tuple[str, str]],
    limits: Limits,
    env: dict[str, str] | None = None,
) -> _Answer:
    lines: dict[str, int] = {}
    warnings: list[JobspecWarning] = []
    found: dict[str, Any] = {}
    try:
        job = parse_file(file, text, vars_=vars_, var_files=var_files, limits=limits,
                         lines=lines, env=env, warnings=warnings, submitted=found)  # fmt: skip
        sub = guarded(file, lambda: submission(
            found["source"], var_files=var_files, flags=vars_, sensitive=found["sensitive"]
        ))  # fmt: skip
        return _Answer(job=job, lines=lines, warnings=warnings, submission=sub)
    except JobspecError as exc:
        return _Answer(
            error=(exc.message, exc.file, exc.line, exc.path),
            problems=[(p.message, p.file, p.line, p.path) for p in exc.problems if p is not exc],
        )


def _set_time_budget(limits: Limits) -> None:
    """Arm this file's budget: a timer of ``max_seconds`` (raising where the work is, so
    the error can name the template line) and a CPU limit a little past it, counted
    from the CPU this worker has used so far."""

    def out_of_time(signum: int, frame: object) -> None:
        raise BudgetExceeded(
            f"processing this file took longer than {limits.max_seconds:g}s (gitops.max_seconds)"
        )

    signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, limits.max_seconds)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(usage.ru_utime + usage.ru_stime + limits.max_seconds) + 2
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)  # only the soft limit moves:
    if hard != resource.RLIM_INFINITY:  # raising a hard limit needs privileges
        cpu = min(cpu, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard))


def _set_memory_budget(limits: Limits) -> None:
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
