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
