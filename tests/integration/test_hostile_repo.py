"""A real dev agent watching a real repository of three good jobs and every hostile
trigger of tests/unit/jobspec/corpus (plus a file too big and one not UTF-8): the good
jobs run, each bad file is listed with its line in /v1/gitops/status, /v1/agent/health
answers within 1 s throughout, and the agent's log stays small."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import Agent, GitRepo, wait_for

pytestmark = pytest.mark.timeout(240)

CORPUS = Path(__file__).parent.parent / "unit" / "jobspec" / "corpus"
VALID_IN_CORPUS = {"pow_chain.nomad.hcl.j2"}  # a job "x" that parses: not a trigger


def good_job(job_id: str) -> str:
    return f'''
job "{job_id}" {{
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "exec sleep 300"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
      kill_timeout = "2s"
    }}
  }}
}}
'''


class HealthProbe:
    """Asks /v1/agent/health every 50 ms from a thread; keeps the worst latency."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.worst = 0.0
        self.failures: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    status = http.get("/v1/agent/health").status_code
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                else:
                    if status != 200:
                        self.failures.append(f"status {status}")
                self.worst = max(self.worst, time.monotonic() - started)
                self.samples += 1
                self._stop.wait(0.05)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo(tmp_path / "repo")
    r.commit("one good job", **{"jobs__good1.nomad.hcl": good_job("good1")})
    return r


@pytest.fixture
def agent(tmp_path: Path, repo: GitRepo) -> Iterator[Agent]:
    a = Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def test_hostile_files_never_stop_gitops_nor_the_api(agent: Agent, repo: GitRepo) -> None:
    wait_for(lambda: agent.running("good1"), 30, "good1 running")
    triggers = sorted(p for p in CORPUS.iterdir() if p.name not in VALID_IN_CORPUS)
    for path in triggers:
        repo.write(f"jobs/{path.name}", path.read_text(encoding="utf-8"))
    repo.write("jobs/too_big.nomad.hcl", 'job "big" {\n' + "# padding\n" * 120_000 + "}\n")
    (repo.path / "jobs" / "latin1.nomad.hcl").write_bytes(b'job "x" {\n  # caf\xe9\n}\n')
    repo.write("jobs/good2.nomad.hcl", good_job("good2"))
    repo.write("jobs/good3.nomad.hcl.j2", good_job("[[ 'good' ~ 3 ]]"))
    bad = {p.name for p in triggers} | {"too_big.nomad.hcl", "latin1.nomad.hcl"}
    log_before = agent.log_path.read_text(errors="replace").count("\n")

    with HealthProbe(agent.url) as probe:
        commit = repo.commit("three good jobs and every trigger")
        status = wait_for(
            lambda: (s := agent.get("/v1/gitops/status"))["Commit"] == commit and s,
            120,
            "the hostile commit to be synced",
        )
        for job in ("good1", "good2", "good3"):
            wait_for(lambda j=job: agent.running(j), 30, f"{job} running")
        time.sleep(20)  # retries and polls go on: the log must not grow with them
        assert agent.get("/v1/gitops/status")["Commit"] == commit

    listed = {e["File"].removeprefix("jobs/"): e for e in status["Errors"]}
    assert status["ErrorsOmitted"] == 0
    assert set(listed) == bad, set(listed) ^ bad
    for name, error in listed.items():
        assert error["Line"] >= 1, (name, error)
        assert len(error["Message"]) <= 1100, (name, len(error["Message"]))
    assert "hunter2-sensitive-default" not in str(status)
    assert "s3cr3t-env-value" not in str(status)
    assert {j["ID"]: j["Status"] for j in status["Jobs"]} == {
        "good1": "synced",
        "good2": "synced",
        "good3": "synced",
    }

    assert not probe.failures, probe.failures[:5]
    assert probe.samples > 100
    assert probe.worst < 1.0, f"/v1/agent/health took {probe.worst:.3f}s"
    log_lines = agent.log_path.read_text(errors="replace").count("\n") - log_before
    assert log_lines < 100, agent.output()
    assert agent.proc is not None
    rss = peak_rss_kib(agent.proc.pid)
    print(
        f"\n[hostile repo] {len(bad)} bad files listed; worst /v1/agent/health "
        f"{probe.worst * 1000:.0f} ms over {probe.samples} probes; agent peak RSS "
        f"{rss / 1024:.0f} MiB; {log_lines} log lines"
    )
