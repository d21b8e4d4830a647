"""The containerd driver through a real dev agent: a job from Git runs busybox in
containerd, prints, survives the agent being killed with SIGKILL (the restarted agent
recovers the same task, not a new one), and stops when the job is purged. The image is
imported offline into a containerd namespace of the test's own, removed afterwards."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Agent, GitRepo, wait_for
from images import oci_image_tarball

from gitorch.plugins.builtin.containerd import ContainerdDriver
from gitorch.plugins.builtin.containerd_ctr import CtrError

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        shutil.which("ctr") is None or shutil.which("containerd") is None,
        reason="containerd is not installed (apt-get install containerd; .ci/setup does)",
    ),
]

NAMESPACE = "gitorch-e2e"
IMAGE = "docker.io/gitorch-test/busybox:latest"

JOB = """
job "cbox" {
  group "g" {
    task "box" {
      driver = "containerd"
      config {
        image   = "gitorch-test/busybox:latest"
        command = "/bin/sh"
        args    = ["-c", "trap 'echo bye; exit 0' TERM; echo hello-from-containerd; while true; do sleep 0.2; done"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
      kill_signal  = "SIGTERM"
      kill_timeout = "5s"
    }
  }
}
"""

AGENT_CONFIG = f"""
plugin "containerd" {{
  config {{
    namespace = "{NAMESPACE}"
  }}
}}
"""


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[ContainerdDriver]:
    driver = ContainerdDriver({"namespace": NAMESPACE})
    fp = driver.fingerprint()
    assert fp.healthy, f"containerd is installed but does not work: {fp.health_description}"
    tarball = tmp_path / "busybox.tar"
    tarball.write_bytes(oci_image_tarball(IMAGE))
    driver.ctr.import_image(str(tarball), timeout=60)
    yield driver
    ctr = driver.ctr
    for cid in ctr.call("containers", "ls", "-q").split():
        if cid in ctr.tasks():
            ctr.delete_task(cid, force=True)
        ctr.remove_container(cid)
    ctr.remove_image(IMAGE)
    for _ in range(20):  # the namespace goes too, once containerd's GC has emptied it
        try:
            ctr.call("namespaces", "rm", NAMESPACE)
            break
        except CtrError:
            time.sleep(0.1)


def test_containerd_job_from_git_survives_agent_sigkill(
    tmp_path: Path, driver: ContainerdDriver
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("containerd box", **{"jobs__cbox.nomad.hcl": JOB})
    (tmp_path / "agent.hcl").write_text(AGENT_CONFIG)
    args = ("--dev", "--config", str(tmp_path / "agent.hcl"), "--repo", str(repo.path))
    agent = Agent(tmp_path / "data", *args, "--path", "jobs").start()
    try:
        alloc = wait_for(lambda: agent.running("cbox"), 60, "the containerd job running")[0]
        logs = tmp_path / "data"

        def stdout() -> str:
            found = list(logs.rglob("box.stdout.0"))
            return found[0].read_text() if found else ""

        wait_for(lambda: "hello-from-containerd" in stdout(), 30, "the task's output")
        cid = f"box-{alloc['ID']}"
        assert driver.ctr.tasks()[cid].status == "RUNNING"

        agent.kill()
        assert driver.ctr.tasks()[cid].status == "RUNNING"  # the task outlives its agent
        agent.start()  # the same data dir and ports
        again = wait_for(lambda: agent.running("cbox"), 60, "the job running after restart")
        assert [a["ID"] for a in again] == [alloc["ID"]]
        state = agent.get(f"/v1/allocation/{alloc['ID']}")["TaskStates"]["box"]
        assert state["State"] == "running" and state["Restarts"] == 0, state
        assert stdout().count("hello-from-containerd") == 1  # recovered, not started again

        # Stop (not purge, so the alloc and its logs stay); Git-managed: needs force.
        agent.http.delete("/v1/job/cbox", params={"force": "true"}).raise_for_status()
        wait_for(
            lambda: agent.get(f"/v1/allocation/{alloc['ID']}")["ClientStatus"] == "complete",
            30,
            "the allocation to complete",
        )
        state = agent.get(f"/v1/allocation/{alloc['ID']}")["TaskStates"]["box"]
        assert state["State"] == "dead" and not state["Failed"], state
        ended = [e for e in state["Events"] if e["Type"] == "Terminated"]
        assert ended[-1]["ExitCode"] == 0  # its TERM trap ran: it got the kill signal
        # the log copier may write the last line just after the task's exit is recorded
        wait_for(lambda: stdout() == "hello-from-containerd\nbye\n", 10, "the trap's output")
        assert cid not in driver.ctr.tasks()
    finally:
        try:
            agent.stop_jobs()
        finally:
            agent.stop()
