"""The bounded history of syncs kept in ``GitSync.history`` (``gitorch gitops history``)."""

from __future__ import annotations

from typing import Literal

from gitorch.core import desired
from gitorch.core.model import GitSync
from gitorch.core.model.gitops import MAX_HISTORY, HistoryChange, HistoryEntry


def add_history(
    previous: GitSync,
    commit: str,
    now: int,
    pin: str,
    changes: list[desired.Change],
    errors: int,
) -> list[HistoryEntry]:
    """The history with this sync added when it did something new (changed or held a
    job, or reached another commit or result than the last entry), kept to MAX_HISTORY."""
    shown = [
        HistoryChange(job_id=ch.job_id, action=ch.action, version=ch.version, detail=ch.detail)
        for ch in changes
        if ch.action != "unchanged"
    ]
    held = any(ch.action == "held" for ch in shown)
    result: Literal["ok", "errors", "held"] = "errors" if errors else "held" if held else "ok"
    entry = HistoryEntry(
        commit=commit, time=now, revision=pin, changes=shown, errors=errors, result=result
    )
    last = previous.history[-1] if previous.history else None
    acted = any(ch.action in ("register", "update", "prune") for ch in shown)
    repeat = (
        last is not None
        and not acted
        and (last.commit, last.revision, last.result, last.errors) == (commit, pin, result, errors)
        and [ch for ch in last.changes if ch.action == "held"] == shown
    )
    if repeat:  # a poll that found nothing new
        return previous.history
    return [*previous.history, entry][-MAX_HISTORY:]
