"""Warnings: what a jobspec asks for that gitorch accepts but does differently.

A warning never stops a job. It is located as a :class:`~gitorch.errors.JobspecError`
is (``file:line: block path: message``) and says what gitorch does instead. The parse
pipeline collects them into a list the caller passes in (``warnings=``), beside the Job;
the CLI prints them, the HTTP API joins them into Nomad's ``Warnings`` string, and a Git
sync keeps them per file. Which names warn and which are errors is the table in
:mod:`gitorch.jobspec.unsupported`.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec


class JobspecWarning(msgspec.Struct, frozen=True, kw_only=True):
    """One located warning; plain values only, so it crosses the worker's msgpack."""

    message: str
    file: str = ""
    line: int = 0
    path: str = ""

    def located(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        prefix = ": ".join(p for p in (where, self.path) if p)
        return f"{prefix}: {self.message}" if prefix else self.message


def joined(warnings: Iterable[JobspecWarning]) -> str:
    """Nomad's ``Warnings`` field: one located warning a line ("" for none)."""
    return "\n".join(w.located() for w in warnings)


def unique(warnings: Iterable[JobspecWarning]) -> list[JobspecWarning]:
    """``warnings`` in order, each once (a block decoded twice warns once)."""
    return list(dict.fromkeys(warnings))
