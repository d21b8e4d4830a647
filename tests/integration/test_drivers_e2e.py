"""Real drivers through a real dev agent: a docker job from Git whose group port is
mapped to the container, reached on the host port the scheduler picked; Nomad's own
``nomad job init`` example, with an offline image under its name."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import Agent, GitRepo, wait_for
from images import busybox_tar, ensure_busybox_image

from gitorch.plugins.builtin.docker import DockerDriver

pytestmark = pytest.mark.timeout(180)

WEB = """
job "dweb" {
  group "web" {
    network {
      port "http" { to = 8000 }
    }
    task "httpd" {
      driver = "docker"
      config {
        image   = "gitorch-test/busybox:latest"
        command = "/bin/sh"
        args    = ["-c", "mkdir -p /tmp/www && echo served-by-$NOMAD_ALLOC_NAME > /tmp/www/index.html && exec httpd -f -p 8000 -h /tmp/www"]
        ports   = ["http"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
      kill_timeout = "2s"
    }
  }
}
"""

AGENT_CONFIG = """
plugin "docker" {
  config {
    gc { image = false }
  }
}
"""


NOMAD_JOB_INIT = """
job "example" {

  group "cache" {
    network {
      port "db" {
        to = 6379
      }
    }

    task "redis" {
      driver = "docker"

      config {
        image          = "redis:7"
        ports          = ["db"]
        auth_soft_fail = true
      }

      identity {
        env  = true
        file = true
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
"""


@pytest.fixture
def docker_agent(tmp_path: Path) -> Iterator[tuple[Agent, GitRepo]]:
    driver = DockerDriver({"gc": [{"image": False}]})
    fp = driver.fingerprint()
    if not fp.healthy:
        pytest.skip(f"no docker engine: {fp.health_description}")
    ensure_busybox_image(driver.client())
    repo = GitRepo(tmp_path / "repo")
    repo.commit("docker web", **{"jobs__dweb.nomad.hcl": WEB})
    (tmp_path / "agent.hcl").write_text(AGENT_CONFIG)
    agent = Agent(
        tmp_path / "data",
        "--dev",
        "--config",
        str(tmp_path / "agent.hcl"),
        "--repo",
        str(repo.path),
        "--path",
        "jobs",
    )
    agent.start()
    try:
        yield agent, repo
    finally:
        agent.stop_jobs()
        agent.stop()


def test_docker_job_with_mapped_port(docker_agent: tuple[Agent, GitRepo]) -> None:
    agent, _repo = docker_agent
    alloc = wait_for(lambda: agent.running("dweb"), 60, "the docker job running")[0]
    detail = agent.get(f"/v1/allocation/{alloc['ID']}")
    ports = {p["Label"]: p for p in detail["AllocatedPorts"]}
    host_port = ports["http"]["Value"]
    assert ports["http"]["To"] == 8000 and 20000 <= host_port <= 32000
    body = wait_for(
        lambda: httpx.get(f"http://127.0.0.1:{host_port}/", timeout=2).text,
        30,
        "httpd answering on the host port",
    )
    assert body.strip() == f"served-by-{alloc['Name']}"


def test_nomad_job_init_example_runs(docker_agent: tuple[Agent, GitRepo]) -> None:
    agent, repo = docker_agent
    api = DockerDriver({"gc": [{"image": False}]}).client()
    # An offline "redis:7": busybox serving the group port, as redis would.
    api.import_image_from_data(
        busybox_tar(shutil.which("busybox") or "/bin/busybox"),
        repository="redis",
        tag="7",
        changes=["ENV PATH=/bin", 'CMD ["/bin/sh", "-c", "exec nc -lk -p 6379 -e echo PONG"]'],
    )
    try:
        repo.commit("nomad job init", **{"jobs__example.nomad.hcl": NOMAD_JOB_INIT})
        alloc = wait_for(lambda: agent.running("example"), 90, "the job init example running")[0]
        detail = agent.get(f"/v1/allocation/{alloc['ID']}")
        port = {p["Label"]: p for p in detail["AllocatedPorts"]}["db"]
        assert port["To"] == 6379
        task = detail["TaskStates"]["redis"]
        assert task["State"] == "running", task
    finally:
        agent.stop_jobs()
        api.remove_image("redis:7", force=True)
