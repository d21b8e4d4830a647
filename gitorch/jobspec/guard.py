"""One guard around all the work on one file: whatever goes wrong becomes that file's
located :class:`~gitorch.errors.JobspecError`, and nothing else escapes.

Inside the guard, secrets are collected (see :mod:`gitorch.jobspec.redact`) and scrubbed
from the error it raises; every error (and every problem it lists) carries a line (1,
the whole file, when nothing better is known); a very long list of problems is cut.
``RecursionError``, ``MemoryError``, ``ValueError`` from a library, a parser's
``VisitError``: all become "file:line: message", never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from gitorch.errors import JobspecError
from gitorch.jobspec import redact

T = TypeVar("T")

MAX_PROBLEMS = 50
"""Problems listed for one file; the rest are counted."""
_MAX_TEXT = 4096  # one problem's message; values in messages are excerpts already


class BudgetExceeded(Exception):  # noqa: N818 - it is raised, then turned into a JobspecError
    """Raised inside a worker when a file's time budget runs out."""


def guarded(file: str, work: Callable[[], T]) -> T:
    """``work()``, or JobspecError for ``file`` whatever it raised."""
    with redact.collecting() as secrets:
        try:
            return work()
        except JobspecError as exc:
            raise clean(exc, file, secrets) from None
        except RecursionError:
            msg = "values are nested too deeply to process (gitops.max_nesting_depth)"
            raise JobspecError(msg, file=file, line=1) from None
        except MemoryError:
            msg = "processing this file needs more memory than allowed (gitops.max_memory)"
            raise JobspecError(msg, file=file, line=1) from None
        except BudgetExceeded as exc:
            raise JobspecError(str(exc), file=file, line=1) from None
        except Exception as exc:  # noqa: BLE001 - one bad file never escapes as a crash
            what = redact.cut(redact.scrub(str(exc), secrets), 200)
            msg = f"cannot process this file: {type(exc).__name__}: {what}"
            raise JobspecError(msg, file=file, line=1) from None


def clean(exc: JobspecError, file: str, secrets: set[str] | None = None) -> JobspecError:
    """``exc`` with secrets scrubbed, a line on every problem and at most MAX_PROBLEMS."""
    problems = [_one(p, file, secrets) for p in exc.problems[:MAX_PROBLEMS]]
    if len(exc.problems) <= 1:
        return _one(exc, file, secrets)
    more = len(exc.problems) - len(problems)
    lines = "\n".join(f"  {p.located()}" for p in problems)
    tail = f"\n  ... and {more} more" if more else ""
    message = f"{len(exc.problems)} problems:\n{lines}{tail}"
    return JobspecError(message, file=exc.file or file, line=problems[0].line, problems=problems)


def _one(exc: JobspecError, file: str, secrets: set[str] | None) -> JobspecError:
    message = redact.cut(redact.scrub(exc.message, secrets), _MAX_TEXT)
    return JobspecError(message, file=exc.file or file, line=exc.line or 1, path=exc.path)
