"""The bounds on the work one repository file may cause, with Nomad-sized defaults.

Every jobspec file is processed under these limits (see :mod:`gitorch.jobspec.guard`
and :mod:`gitorch.jobspec.isolate`); each is settable in the agent configuration's
``gitops`` block and documented in ``docs/jobspec-limits.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Limits:
    """What one file may hold and cost. Sizes are in bytes (strings: characters)."""

    max_file_size: int = 1 * MIB
    """A file's size before rendering (Nomad's ``job_max_source_size`` default, 1 MiB)."""
    max_rendered_size: int = 1 * MIB
    """A ``.j2`` file's size after rendering."""
    max_nesting_depth: int = 32
    """Brackets, braces and blocks nested in one another (``job > group > task > config``
    is 4; real jobspecs stay under 12)."""
    max_number_length: int = 32
    """Characters of one number literal (an int64 has at most 19 digits)."""
    max_string_length: int = 256 * KIB
    """Characters of one string value, literal or computed from variables."""
    max_seconds: float = 10.0
    """Wall-clock time to render, parse, resolve, decode and validate one file."""
    max_memory: int = 512 * MIB
    """Memory one file's processing may add, in the worker that processes it."""
    max_message_length: int = 1 * KIB
    """Characters of one error message kept in the sync record."""
    max_errors_size: int = 64 * KIB
    """Characters of all error messages kept in one sync record; the rest are counted."""


DEFAULT_LIMITS = Limits()
