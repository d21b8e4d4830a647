"""The operator and agent commands against one real dev agent (a real process, a real
Git repository, real raw_exec tasks): scheduler get-config/set-config, snapshot
save/restore (a job registered after the save is gone after the restore, its task
stopped, the earlier job back), and bad input refused with what is wrong."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from harness import Agent, GitRepo, wait_for

from gitorch.cli.main import cli

pytestmark = pytest.mark.timeout(240)


def sleeper(job_id: str, seconds: int) -> str:
    return f'''
job "{job_id}" {{
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "exec sleep {seconds}"]
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


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    root = tmp_path_factory.mktemp("operator-cli")
    repo = GitRepo(root / "repo")
    repo.commit("base", **{"jobs__base.nomad.hcl": sleeper("base", 311)})
    a = Agent(root / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        wait_for(lambda: a.running("base"), 30, "the base job running")
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def cli_run(agent: Agent, *args: str) -> Result:
    clean = {"GITORCH_ADDR": agent.url, "NOMAD_ADDR": "", "GITORCH_TOKEN": "", "NOMAD_TOKEN": ""}
    return CliRunner().invoke(cli, list(args), env=clean)


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}{result.stderr}"
    return result.output


def sleeping(seconds: int) -> bool:
    """Is a ``sleep <seconds>`` process running on this machine?"""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline[:2] == [b"sleep", str(seconds).encode()]:
            return True
    return False


def test_scheduler_get_and_set_config(agent: Agent) -> None:
    shown = ok(cli_run(agent, "operator", "scheduler", "get-config"))
    assert "Scheduler Algorithm" in shown and "= binpack" in shown
    assert "Reject Job Registration" in shown
    said = ok(cli_run(agent, "operator", "scheduler", "set-config", "-scheduler-algorithm=spread"))
    assert "Scheduler configuration updated!" in said
    config = json.loads(ok(cli_run(agent, "operator", "scheduler", "get-config", "-json")))
    assert config["SchedulerAlgorithm"] == "spread" and config["ModifyIndex"] > 0
    assert agent.get("/v1/operator/scheduler/configuration")["SchedulerConfig"] == config
    stale = cli_run(agent, "operator", "scheduler", "set-config", "-check-index=1",
                    "-pause-eval-broker=true")  # fmt: skip
    assert stale.exit_code == 1 and "does not match" in stale.stderr
    unknown = cli_run(agent, "operator", "scheduler", "set-config", "-scheduler-algorithm=best")
    assert unknown.exit_code == 2 and "best" in unknown.stderr
    raw = agent.http.put("/v1/operator/scheduler/configuration", content=b'{"SchedulerAlg')
    assert raw.status_code == 400 and "Failed to decode" in raw.text
    ok(cli_run(agent, "operator", "scheduler", "set-config", "-scheduler-algorithm=binpack"))


def test_snapshot_save_change_restore(agent: Agent, tmp_path: Path) -> None:
    file = tmp_path / "backup.snap"
    said = ok(cli_run(agent, "operator", "snapshot", "save", str(file)))
    assert said.strip() == f"State file written to {file}"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    extra = tmp_path / "extra.nomad.hcl"
    extra.write_text(sleeper("extra", 377))
    ok(cli_run(agent, "job", "run", "-detach", str(extra)))
    wait_for(lambda: agent.running("extra") and sleeping(377), 30, "the extra job running")
    assert ok(cli_run(agent, "operator", "snapshot", "restore", str(file))).strip() == (
        "Snapshot Restored"
    )
    assert [j["ID"] for j in agent.get("/v1/jobs")] == ["base"]
    assert agent.running("base")
    wait_for(lambda: not sleeping(377), 30, "the extra job's task stopped by its client")
    # the restored cluster goes on: a new job is placed and runs
    ok(cli_run(agent, "job", "run", "-detach", str(extra)))
    wait_for(lambda: agent.running("extra"), 30, "the extra job running again")
    agent.http.delete("/v1/job/extra", params={"purge": "true"})
    wait_for(lambda: not sleeping(377), 30, "the extra job stopped")


def test_restore_of_a_garbage_file_is_refused(agent: Agent, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.snap"
    garbage.write_bytes(b"\x00\x01 this is no snapshot")
    refused = cli_run(agent, "operator", "snapshot", "restore", str(garbage))
    assert refused.exit_code == 1
    assert "not a gitorch snapshot" in refused.stderr and "HTTP 400" in refused.stderr
    assert [j["ID"] for j in agent.get("/v1/jobs")] == ["base"]


def test_monitor_streams_the_agents_log_lines(agent: Agent) -> None:
    """``gitorch monitor`` as a user runs it: a real process following the agent's log
    until interrupted; a line the agent logs after it started reaches it."""
    env = {**os.environ, "GITORCH_ADDR": agent.url, "NOMAD_ADDR": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitorch", "monitor", "-log-level=debug"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        seen = b""

        def heard() -> bool:
            nonlocal seen
            ok(cli_run(agent, "operator", "scheduler", "set-config", "-pause-eval-broker=false"))
            seen += proc.stdout.read() or b""  # type: ignore[union-attr]
            return b"scheduler configuration set" in seen

        wait_for(heard, 30, "the agent's log line in gitorch monitor", every=0.5)
        assert b"[INFO] gitorch.server.operator" in seen
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = cli_run(agent, "monitor", "-log-level=loud")
    assert bad.exit_code == 1 and "Unknown log level" in bad.stderr


def test_ui_server_join_force_leave_and_node_routes(agent: Agent) -> None:
    assert ok(cli_run(agent, "ui", "-show-url")).strip() == f"URL for web UI: {agent.url}/ui"
    assert ok(cli_run(agent, "ui", "-show-url", "bas")).strip().endswith("/ui/job/base")
    assert agent.http.get("/ui/job/base").status_code == 200
    raft = agent.get("/v1/agent/servers")
    assert ok(cli_run(agent, "server", "join", raft[0])).strip() == "Joined 1 servers successfully"
    stranger = cli_run(agent, "server", "join", "10.9.9.9:4647")
    assert stranger.exit_code == 1 and "not a member" in stranger.stderr
    lone = cli_run(agent, "server", "force-leave", "nobody")
    assert lone.exit_code == 1 and "HTTP 4" in lone.stderr
    node_id = agent.get("/v1/nodes")[0]["ID"]
    evaluated = agent.http.put(f"/v1/node/{node_id}/evaluate")
    assert evaluated.status_code == 200 and len(evaluated.json()["EvalIDs"]) >= 1
    assert agent.http.put("/v1/node/no-such-node/purge").status_code == 404
    assert agent.http.get("/v1/quotas").status_code == 501
    assert agent.get("/v1/agent/schedulers")["schedulers"]
    assert "Environment" in agent.get("/v1/agent/host")["HostData"]
