"""A follower never truncates applied entries that a leader merely resends (Raft
truncates only on a conflict); a real conflict is left to pysyncobj."""

from __future__ import annotations

from typing import Any

from gitorch.server.raft.nextindex import skip_applied_resend

LOG = {i: (b"x", i, 1 if i <= 5 else 2) for i in range(1, 11)}  # terms 1..5 then 2


def entry_at(i: int) -> Any:
    return LOG.get(i)


def msg(prev: int, entries: list[tuple[bytes, int, int]]) -> dict[str, Any]:
    return {"type": "append_entries", "term": 2, "prevLogIdx": prev,
            "prevLogTerm": LOG[prev][2], "entries": entries, "commit_index": 10}  # fmt: skip


def test_a_resend_of_applied_entries_moves_past_them() -> None:
    out = skip_applied_resend(msg(3, [LOG[4], LOG[5], LOG[6]]), entry_at, last_applied=8)
    assert out["prevLogIdx"] == 8 and out["entries"] == []
    assert out["prevLogTerm"] == 2


def test_new_entries_after_held_ones_are_kept() -> None:
    new = (b"y", 11, 2)
    out = skip_applied_resend(msg(8, [LOG[9], LOG[10], new]), entry_at, last_applied=10)
    assert out["prevLogIdx"] == 10 and out["entries"] == [new]


def test_a_conflict_is_left_alone() -> None:
    other = (b"z", 7, 3)  # another term at an applied index: a real divergence
    original = msg(6, [other])
    assert skip_applied_resend(original, entry_at, last_applied=8) is original


def test_messages_at_or_past_the_applied_index_are_untouched() -> None:
    original = msg(9, [LOG[10]])
    assert skip_applied_resend(original, entry_at, last_applied=8) is original
    vote = {"type": "request_vote", "term": 3}
    assert skip_applied_resend(vote, entry_at, last_applied=8) is vote
