"""The dev agent's resident memory when idle: started on an empty repository, given a few
seconds to settle, then read from /proc (psutil). Prints JSON.

Usage: python benchmarks/agent_idle_rss.py [--settle 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import Agent, GitRepo  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--settle", type=float, default=5.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gitorch-bench-"))
    repo = GitRepo(tmp / "repo")
    repo.commit("empty", **{"jobs__README.md": "no jobs yet\n"})
    agent = Agent(tmp / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    agent.start()
    try:
        time.sleep(args.settle)
        assert agent.proc is not None
        proc = psutil.Process(agent.proc.pid)
        rss = proc.memory_info().rss
        threads = proc.num_threads()
    finally:
        agent.stop()
    print(
        json.dumps(
            {
                "benchmark": "dev_agent_idle_rss",
                "rss_mib": round(rss / 2**20, 1),
                "threads": threads,
                "settle_s": args.settle,
            }
        )
    )


if __name__ == "__main__":
    main()
