"""GitOps sync time for a one-file commit in a small and a large repository.

For each size (default 5 and 2,000 job files) a real Git repository is made in a temp
dir, and a real ``GitopsLoop`` syncs it into a real in-memory server (state store,
eval broker, scheduler; no clients, so jobs stay pending). The first sync (every file
new) is timed, then ``--commits`` commits that each change one file, each synced and
timed: the figure is the median one-file sync. Also reported: Raft entries written by
that sync (goal: the changed job and the sync record only, whatever the repo size).

    python benchmarks/monorepo_sync.py [--sizes 5 2000] [--commits 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from gitorch.gitsync.loop import GitopsLoop, GitopsSettings
from gitorch.server.server import Server

JOB = """job "{name}" {{
  datacenters = ["dc1"]
  type = "batch"
  meta {{ revision = "{rev}" }}
  group "g" {{
    count = 1
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/echo"
        args    = ["{name}", "{rev}"]
      }}
      resources {{
        cpu    = 50
        memory = 32
      }}
    }}
  }}
}}
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def make_repo(root: Path, files: int) -> Path:
    repo = root / "repo"
    (repo / "jobs").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "bench@example.com")
    git(repo, "config", "user.name", "bench")
    for i in range(files):
        (repo / "jobs" / f"job{i:05d}.nomad.hcl").write_text(JOB.format(name=f"job{i:05d}", rev=0))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    return repo


def one_size(files: int, commits: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="gitorch-monorepo-") as tmp:
        root = Path(tmp)
        repo = make_repo(root, files)
        server = Server.in_memory()
        loop = GitopsLoop(GitopsSettings(repo=str(repo)), root / "work", server)
        try:
            t0 = time.perf_counter()
            first = loop.sync(dry_run=False)
            first_s = time.perf_counter() - t0
            assert not first.errors, first.errors[:3]
            times: list[float] = []
            entries: list[int] = []
            for n in range(1, commits + 1):
                name = f"job{(n * 7919) % files:05d}"
                (repo / "jobs" / f"{name}.nomad.hcl").write_text(JOB.format(name=name, rev=n))
                git(repo, "commit", "-q", "-am", f"change {name}")
                before = server.fsm.state.index
                t0 = time.perf_counter()
                report = loop.sync(dry_run=False)
                times.append(time.perf_counter() - t0)
                entries.append(server.fsm.state.index - before)
                changed = [c.job_id for c in report.changes if c.action != "unchanged"]
                assert changed == [name], changed
        finally:
            server.stop()
    return {
        "files": files,
        "first_sync_s": round(first_s, 2),
        "one_file_sync_p50_s": round(statistics.median(times), 3),
        "one_file_sync_max_s": round(max(times), 3),
        "raft_entries_per_one_file_sync": max(entries),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[5, 2000])
    ap.add_argument("--commits", type=int, default=5)
    args = ap.parse_args()
    rows = [one_size(n, args.commits) for n in args.sizes]
    small, large = rows[0]["one_file_sync_p50_s"], rows[-1]["one_file_sync_p50_s"]
    assert isinstance(small, float) and isinstance(large, float)
    print(
        json.dumps(
            {
                "benchmark": "monorepo_sync",
                "sizes": rows,
                "large_vs_small_one_file_sync": round(large / max(small, 1e-9), 2),
                "goal": "large within 20% of small, and <= 1 s",
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
