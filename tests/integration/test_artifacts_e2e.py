"""Artifacts through a real dev agent: a raw_exec task reads a file from an archive a
local HTTP server serves, and a bad checksum fails the task, after the restart policy
retried it, with the URL and the reason in its events."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Agent, GitRepo, wait_for

pytestmark = pytest.mark.timeout(180)

JOB = """job "%(id)s" {
  type = "batch"
  group "g" {
    restart {
      attempts = 1
      delay    = "1s"
      mode     = "fail"
    }
    reschedule { attempts = 0 }
    task "t" {
      driver = "raw_exec"
      artifact {
        source      = "%(url)s/app.tar.gz"
        destination = "local/app"
        options { checksum = "sha256:%(sum)s" }
      }
      config {
        command = "/bin/cat"
        args    = ["local/app/greeting.txt"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def www(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """An HTTP server on 127.0.0.1 serving app.tar.gz; its URL and the tar's sha256."""
    root = tmp_path / "www"
    root.mkdir()
    with tarfile.open(root / "app.tar.gz", "w:gz") as tar:
        data = b"hello from the artifact\n"
        info = tarfile.TarInfo("greeting.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    digest = hashlib.sha256((root / "app.tar.gz").read_bytes()).hexdigest()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", digest
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def agent(tmp_path: Path, www: tuple[str, str]) -> Iterator[Agent]:
    url, digest = www
    repo = GitRepo(tmp_path / "repo")
    good = JOB % {"id": "good", "url": url, "sum": digest}
    bad = JOB % {"id": "bad", "url": url, "sum": "0" * 64}
    repo.commit("artifacts", **{"jobs__good.nomad.hcl": good, "jobs__bad.nomad.hcl": bad})
    a = Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def ended(agent: Agent, job_id: str, status: str) -> dict[str, Any] | None:
    done = [a for a in agent.allocs(job_id) if a["ClientStatus"] == status]
    return agent.get(f"/v1/allocation/{done[0]['ID']}") if done else None


def test_task_reads_its_artifact(agent: Agent) -> None:
    alloc = wait_for(lambda: ended(agent, "good", "complete"), 60, "the good job to complete")
    params = {"task": "t", "type": "stdout", "plain": "true"}
    out = agent.http.get(f"/v1/client/fs/logs/{alloc['ID']}", params=params).text
    assert out == "hello from the artifact\n"


def test_bad_checksum_fails_the_task_after_a_retry(agent: Agent, www: tuple[str, str]) -> None:
    url, _ = www
    alloc = wait_for(lambda: ended(agent, "bad", "failed"), 90, "the bad job to fail")
    state = alloc["TaskStates"]["t"]
    assert state["Failed"] is True
    kinds = [e["Type"] for e in state["Events"]]
    failures = [e for e in state["Events"] if e["Type"] == "Failed Artifact Download"]
    assert len(failures) == 2 and "Restarting" in kinds, kinds  # attempts = 1: one retry
    message = failures[-1]["DisplayMessage"]
    assert f"{url}/app.tar.gz" in message and "checksum mismatch" in message, message
    assert "Started" not in kinds  # the task never ran without its files
