"""Time from `git commit` in a local repository to the new version's task running.

Starts a real dev agent on a fresh repository, then commits N changes to one job (each
a new version) and measures, per commit, the time from just before `git commit` until
the API shows an allocation of the new version with client status "running".
Prints JSON. Usage: python benchmarks/commit_to_running.py [--runs 20] [--driver exec]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import Agent, GitRepo, wait_for  # noqa: E402

JOB = """job "bench" {{
  group "g" {{
    task "t" {{
      driver = "{driver}"
      config {{
        command = "/bin/sleep"
        args    = ["300"]
      }}
      env {{
        RUN = "{run}"
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
      kill_timeout = "1s"
    }}
  }}
}}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--driver", default="exec")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gitorch-bench-"))
    repo = GitRepo(tmp / "repo")
    repo.commit("v0", **{"jobs__bench.nomad.hcl": JOB.format(driver=args.driver, run=0)})
    agent = Agent(tmp / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    agent.start()
    samples: list[float] = []
    try:
        wait_for(lambda: agent.running("bench", version=0), 30, "first version running", every=0.01)
        for run in range(1, args.runs + 1):
            t0 = time.perf_counter()
            repo.commit(
                f"v{run}", **{"jobs__bench.nomad.hcl": JOB.format(driver=args.driver, run=run)}
            )
            wait_for(
                lambda r=run: agent.running("bench", version=r),
                30,
                f"version {run} running",
                every=0.005,
            )
            samples.append(time.perf_counter() - t0)
    finally:
        agent.stop_jobs()
        agent.stop()
    samples.sort()
    print(
        json.dumps(
            {
                "benchmark": "git_commit_to_task_running",
                "driver": args.driver,
                "runs": len(samples),
                "p50_s": round(statistics.median(samples), 3),
                "p90_s": round(samples[int(0.9 * (len(samples) - 1))], 3),
                "max_s": round(samples[-1], 3),
                "goal_p50_s": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()
