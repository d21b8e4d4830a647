"""A real agent whose data dir is a small real tmpfs, filled until writes fail: it stays
up, refuses writes with the reason (503) while reads keep working, and takes writes
again once space is freed, without a restart; restarted on the full disk it serves
reads. Its files are 0600 in 0700 folders."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Agent, wait_for
from tmpfs import fill, tmpfs

pytestmark = pytest.mark.timeout(180)


def batch_job(job_id: str) -> dict[str, Any]:
    return {
        "Job": {
            "ID": job_id,
            "Type": "batch",
            "Datacenters": ["dc1"],
            "TaskGroups": [
                {
                    "Name": "g",
                    "Count": 1,
                    "Tasks": [
                        {
                            "Name": "t",
                            "Driver": "raw_exec",
                            "Config": {"command": "/bin/true"},
                            "Resources": {"CPU": 20, "MemoryMB": 16},
                        }
                    ],
                }
            ],
        }
    }


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "mnt", "40m") as mnt:
        yield mnt


def start_agent(mnt: Path, tmp_path: Path) -> Agent:
    config = tmp_path / "agent.hcl"
    config.write_text(
        "server {\n  enabled = true\n}\nclient {\n  enabled = true\n}\n"
        'plugin "raw_exec" {\n  config {\n    enabled = true\n  }\n}\n'
    )
    agent = Agent(mnt / "data", "--config", str(config))
    agent.log_path = tmp_path / "agent.log"  # not on the tmpfs: the log must not fill it
    return agent.start()


def register(agent: Agent, job_id: str) -> tuple[int, str]:
    response = agent.http.post("/v1/jobs", json=batch_job(job_id))
    return response.status_code, response.text


def test_a_full_data_dir_refuses_writes_keeps_reads_and_recovers(
    mounted: Path, tmp_path: Path
) -> None:
    agent = start_agent(mounted, tmp_path)
    try:
        assert register(agent, "before")[0] == 200
        filler = fill(mounted / "filler")

        status, text = register(agent, "while-full")
        assert status == 503, text
        assert "no disk space for the Raft log" in text and "writes are refused" in text
        assert [j["ID"] for j in agent.get("/v1/jobs")] == ["before"]  # reads work
        time.sleep(3)  # heartbeats and the client's updates meet the full disk too
        assert agent.proc is not None and agent.proc.poll() is None, agent.output()
        assert register(agent, "still-full")[0] == 503
        assert "no disk space" in agent.output()  # logged, once per change

        filler.unlink()
        wait_for(lambda: register(agent, "after")[0] == 200, 10, "writes accepted again")
        assert {j["ID"] for j in agent.get("/v1/jobs")} == {"before", "after"}
        assert agent.output().count("no disk space for the Raft log") < 20

        data = mounted / "data"
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for path in [data / "server" / "raft", data / "client", data / "client" / "allocs"]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
        for path in [data / "server" / "raft" / "raft.journal", data / "client" / "node-id"]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

        # restarted on a full disk: it comes up and serves what it has; writes (the
        # client's registration too, so its health is not ok yet) wait for space
        agent.stop()  # its batch tasks (/bin/true) are done
        filler = fill(mounted / "filler")
        with pytest.raises(AssertionError, match="to be healthy"):
            agent.start(timeout=5)
        assert agent.proc is not None and agent.proc.poll() is None, agent.output()
        # reads are served once its API is up (a slow machine may take over 5 s to start)
        wait_for(
            lambda: {j["ID"] for j in agent.get("/v1/jobs")} == {"before", "after"},
            30,
            "reads served on a full disk",
        )
        assert register(agent, "full-again")[0] == 503
        filler.unlink()
        wait_for(lambda: register(agent, "last")[0] == 200, 10, "writes accepted again")
        wait_for(agent._healthy, 30, "healthy once there is space")
        assert agent.output().count("cannot save the Raft membership") <= 3
    finally:
        agent.stop_jobs()
        agent.stop()
