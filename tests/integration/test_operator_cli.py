"""The operator and agent commands against one real dev agent (a real process, a real
Git repository, real raw_exec tasks): scheduler get-config/set-config, snapshot
save/restore (a job registered after the save is gone after the restore, its task
stopped, the earlier job back), and bad input refused with what is wrong."""

from __future__ import annotations

import json
import os
import stat
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
