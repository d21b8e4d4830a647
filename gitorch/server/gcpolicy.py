"""The garbage collector's thresholds for a process that holds the cluster state.

A server's state is a few million long-lived objects (allocations, the persistent maps'
nodes), and a scheduling pass makes short-lived containers that reference thousands of
them (a shuffled node list, a plan). With CPython's default thresholds (700, 10, 10) a
young collection runs every 700 allocations and traverses those containers every time:
in ``benchmarks/c1m.py`` the leader spent a third of its time in the collector and the
placement rate fell with the state's size. Collecting the young generation every 50,000
allocations, and the middle one every 20 young collections, cut that by a factor of
seven (28 s to 4 s of a 300,000-allocation run) at the price of at most a few MiB of
cyclic garbage waiting a little longer to be freed. Reference counting still frees
everything that is not part of a cycle at once, as before.
"""

from __future__ import annotations

import gc

YOUNG = 50_000
MIDDLE = 20
OLD = 10


def tune_for_large_state() -> None:
    """Set the thresholds above for this process (a server, or anything holding an
    ``Fsm``). Idempotent; a client agent keeps CPython's defaults."""
    gc.set_threshold(YOUNG, MIDDLE, OLD)
