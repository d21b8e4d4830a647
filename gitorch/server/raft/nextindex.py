"""Keep the leader's ``nextIndex`` from going backwards on a stale reply.

pysyncobj's leader sends entries without waiting (``appendEntriesUseBatch=False``) and
moves a follower's ``nextIndex`` forward as it sends. Each successful reply then *sets*
``nextIndex`` to the index that reply acknowledged. Replies to earlier sends arrive
after later sends went out, so under concurrent writes ``nextIndex`` moves back, the
leader resends entries the follower already holds, and the follower (which, unlike
Raft's rule, truncates whenever entries follow ``prevLogIdx`` rather than only on a term
conflict) drops and re-appends already-applied entries, logging "state machine may
have diverged". The entries were identical, but the log line was true of the risk.

Raft's rule is that a success reply only ever raises ``nextIndex`` (it is
``max(nextIndex, acked + 1)``); a failure reply with a reset still sets it. This module
applies that rule around pysyncobj's message handler; ``_Replica`` in ``node`` installs
it under the name pysyncobj binds its transport callback to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any, dict[str, Any]], None]


def monotonic_next_index(next_index: dict[Any, int], handle: Handler) -> Handler:
    """``handle`` (pysyncobj's message handler), except that a successful
    ``next_node_idx`` reply never lowers ``next_index[node]``."""

    def on_message(node: Any, message: dict[str, Any]) -> None:
        stale_guard = (
            isinstance(message, dict)
            and message.get("type") == "next_node_idx"
            and message.get("success")
            and not message.get("reset")
        )
        before = next_index.get(node) if stale_guard else None
        handle(node, message)
        if before is not None and next_index.get(node, before) < before:
            next_index[node] = before

    return on_message


Entry = tuple[Any, int, int]  # pysyncobj's log entry: (data, index, term)


def skip_applied_resend(
    message: Any, entry_at: Callable[[int], Entry | None], last_applied: int
) -> Any:
    """An ``append_entries`` message as Raft means it, for a follower whose log already
    holds some of what the leader sends.

    pysyncobj's follower truncates its log after ``prevLogIdx`` whenever its log is
    longer, even when the entries it would drop are the very ones being resent (a leader
    that finished streaming a snapshot to a server that meanwhile restarted from its own
    data dir restarts from the snapshot's index). Raft truncates only on a conflict, and
    applied entries are committed, so every later leader holds them unchanged. So:
    leading entries the follower already holds with the same term are dropped; when
    nothing new is left and ``prevLogIdx`` is below the applied index, the message is
    pointed at the last applied entry instead, which the leader holds too. A real
    conflict (another term at an index) is left to pysyncobj."""
    if (
        not isinstance(message, dict)
        or message.get("type") != "append_entries"
        or "transmission" in message
        or message.get("prevLogIdx") is None
    ):
        return message
    prev: int = message["prevLogIdx"]
    if prev >= last_applied:
        return message
    mine = entry_at(prev)
    if mine is None or mine[2] != message.get("prevLogTerm"):
        return message  # pysyncobj answers this one (a reset)
    entries = list(message.get("entries") or [])
    while entries:
        _, idx, term = entries[0]
        held = entry_at(idx)
        if held is None or held[2] != term:
            break
        prev = idx
        entries.pop(0)
    if not entries and prev < last_applied:
        top = entry_at(last_applied)
        if top is not None:
            prev = last_applied
    if prev == message["prevLogIdx"]:
        return message
    held = entry_at(prev)
    assert held is not None
    return {**message, "prevLogIdx": prev, "prevLogTerm": held[2], "entries": entries}
