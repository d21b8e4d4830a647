"""``gitorch alloc fs|exec|restart|signal`` and ``alloc status -stats`` against a real
dev agent running a raw_exec task and an exec task (``alloc exec`` as a real process,
over the exec WebSocket)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from harness import Agent, GitRepo, wait_for

from gitorch.cli.main import cli

pytestmark = pytest.mark.timeout(240)

WORKER = """
job "worker" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "printf 'one\\\\ntwo\\\\nthree\\\\n' > $NOMAD_TASK_DIR/notes.txt; trap 'echo usr1 > $NOMAD_TASK_DIR/got' USR1; while true; do sleep 0.2; done"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
      kill_timeout = "2s"
    }
  }
}
"""

BOX = """
job "box" {
  group "g" {
    task "box" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo boxed > /local/marker; exec sleep 600"]
      }
      resources {
        cpu    = 20
        memory = 64
      }
      kill_timeout = "2s"
    }
  }
}
"""


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    root = tmp_path_factory.mktemp("cli-alloc-ops")
    repo = GitRepo(root / "repo")
    repo.commit("worker and box", **{"jobs__worker.nomad.hcl": WORKER, "jobs__box.nomad.hcl": BOX})
    a = Agent(root / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        wait_for(lambda: a.running("worker") and a.running("box"), 60, "both jobs running")
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def run(agent: Agent, *args: str) -> Result:
    clean = {"GITORCH_ADDR": "", "NOMAD_ADDR": "", "GITORCH_TOKEN": "", "NOMAD_TOKEN": ""}
    return CliRunner().invoke(cli, ["-address", agent.url, *args], env=clean)


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}{result.stderr}"
    return result.output


def worker(agent: Agent) -> str:
    alloc_id = str(agent.running("worker")[0]["ID"])
    wait_for(
        lambda: "notes.txt" in run(agent, "alloc", "fs", alloc_id, "t/local").output,
        20,
        "notes written",
    )
    return alloc_id


def test_alloc_fs_lists_prints_stats_and_tails(agent: Agent) -> None:
    alloc_id = worker(agent)
    prefix = alloc_id[:8]  # an ID prefix, as Nomad accepts
    listing = ok(run(agent, "alloc", "fs", prefix, "t/local"))
    assert listing.splitlines()[0].split() == ["Mode", "Size", "Modified", "Time", "Name"]
    assert any(line.endswith("notes.txt") and "14 B" in line for line in listing.splitlines())
    top = ok(run(agent, "alloc", "fs", prefix))
    assert "alloc/" in top and "t/" in top
    assert ok(run(agent, "alloc", "fs", prefix, "t/local/notes.txt")) == "one\ntwo\nthree\n"
    stat = ok(run(agent, "alloc", "fs", "-stat", prefix, "t/local/notes.txt"))
    assert "notes.txt" in stat and "-rw-r--r--" in stat
    assert ok(run(agent, "alloc", "fs", "-H", "-stat", prefix, "t/local/notes.txt")).count(" 14 ")
    tail = ok(run(agent, "alloc", "fs", "-tail", "-n", "2", prefix, "t/local/notes.txt"))
    assert tail == "two\nthree\n"
    assert ok(run(agent, "alloc", "fs", "-tail", "-c", "6", prefix, "t/local/notes.txt")) == (
        "three\n"
    )
    out = run(agent, "alloc", "fs", prefix, "../../etc/passwd")
    assert out.exit_code == 1 and "escapes the directory of allocation" in out.stderr
    secret = run(agent, "alloc", "fs", prefix, "t/secrets")
    assert secret.exit_code == 1 and "secret" in secret.stderr


def test_alloc_signal_and_restart(agent: Agent) -> None:
    alloc_id = worker(agent)
    ok(run(agent, "alloc", "signal", "-s", "USR1", alloc_id, "t"))
    got = wait_for(
        lambda: ok(run(agent, "alloc", "fs", alloc_id, "t/local/got")) or None,
        20,
        "the trap to run",
    )
    assert got == "usr1\n"
    bad = run(agent, "alloc", "signal", "-s", "NOPE", alloc_id)
    assert bad.exit_code == 1 and "unknown signal" in bad.stderr
    before = agent.get(f"/v1/allocation/{alloc_id}")["TaskStates"]["t"]["Restarts"]
    ok(run(agent, "alloc", "restart", alloc_id, "t"))
    wait_for(
        lambda: agent.get(f"/v1/allocation/{alloc_id}")["TaskStates"]["t"]["Restarts"]
        == before + 1,
        20,
        "a restart",
    )
    status = ok(run(agent, "alloc", "status", alloc_id))
    assert "Restart Signaled" in status and "User requested task to restart" in status
    both = run(agent, "alloc", "restart", "-all-tasks", alloc_id, "t")
    assert both.exit_code == 2


def test_alloc_status_stats(agent: Agent) -> None:
    alloc_id = worker(agent)
    out = ok(run(agent, "alloc", "status", "-stats", alloc_id))
    assert "Task Resources:" in out and "/32 MiB" in out and "/20 MHz" in out
    assert "Memory Stats" in out and "RSS" in out and "CPU Stats" in out


def exec_cli(agent: Agent, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitorch", "alloc", "exec", f"-address={agent.url}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GITORCH_ADDR": "", "NOMAD_ADDR": "", "NOMAD_TOKEN": ""},
    )


def test_alloc_exec_runs_in_the_task_and_exits_with_its_code(agent: Agent) -> None:
    alloc_id = str(agent.running("box")[0]["ID"])
    done = exec_cli(
        agent, "-i=false", alloc_id[:8], "/bin/sh", "-c", "cat /local/marker; echo err >&2; exit 4"
    )
    assert done.returncode == 4, done.stderr
    assert done.stdout == "boxed\n" and done.stderr == "err\n"
    piped = exec_cli(agent, "-task", "box", alloc_id, "/bin/cat", stdin="through stdin\n")
    assert piped.returncode == 0 and piped.stdout == "through stdin\n", piped.stderr
    refused = exec_cli(agent, "-task", "nope", alloc_id, "ls")
    assert refused.returncode == 1 and "no task 'nope'" in refused.stderr
