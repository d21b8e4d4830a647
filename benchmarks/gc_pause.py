"""The cyclic collector's full pass on a server holding ``--allocs`` allocations.

A full collection stops the whole process (the Raft thread too), so it must stay well
under Raft's election timeout. Builds a ``StateStore`` as a restore does (``load`` of a
dump of ``--allocs`` allocations on 5,000 nodes, with the server's GC thresholds), then
reports the objects the collector tracks, the longest of two full collections and RSS.

    python benchmarks/gc_pause.py [--allocs 1000000]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import uuid

import psutil
from placements_raft import sim_node

from gitorch.core.model import Allocation, GitSync, Resources
from gitorch.core.state import StateStore
from gitorch.core.statedump import StateDump
from gitorch.server.gcpolicy import tune_for_large_state

NODES = 5_000


def build(count: int) -> StateStore:
    nodes = [sim_node(i) for i in range(NODES)]
    ask = Resources(cpu=20, memory_mb=32)
    allocs = [
        Allocation(
            id=str(uuid.uuid4()),
            name=f"c1m-{i // 1000:05d}.g[{i % 1000}]",
            node_id=nodes[i % NODES].id,
            job_id=f"c1m-{i // 1000:05d}",
            task_group="g",
            resources=ask,
            create_index=i,
            modify_index=i,
        )
        for i in range(count)
    ]
    dump = StateDump(
        index=1, table_index={}, jobs=[], versions=[], nodes=nodes, allocs=allocs, evals=[],
        gitsync=GitSync(),
    )  # fmt: skip
    return StateStore.load(dump)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--allocs", type=int, default=1_000_000)
    args = ap.parse_args()
    tune_for_large_state()  # as a server process does
    store = build(args.allocs)
    pauses = []
    for _ in range(2):
        t0 = time.perf_counter()
        gc.collect()
        pauses.append(time.perf_counter() - t0)
    result = {
        "benchmark": "gc_pause",
        "allocations": len(store.allocs),
        "tracked_objects": len(gc.get_objects()),
        "full_collection_s": round(max(pauses), 2),
        "rss_mib": round(psutil.Process().memory_info().rss / 2**20),
        "raft_election_timeout_s": [0.4, 1.4],  # pysyncobj's defaults, which gitorch keeps
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
