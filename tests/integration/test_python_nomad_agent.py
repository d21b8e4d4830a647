"""python-nomad against a real ``gitorch agent --dev`` process (a Raft server with its
client): the server agent's own routes (members, servers, the Raft configuration,
summaries), a node's resources as Nomad spells them, and namespaces declared through
Raft, kept across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nomad
import nomad.api.exceptions as nomad_errors
import pytest
from harness import Agent, GitRepo, wait_for

WEB = """
job "web" {
  namespace = "team"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["300"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
"""


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("a job in namespace team", **{"jobs__web.hcl": WEB})
    a = Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        yield a
    finally:
        a.stop_jobs()  # its task outlives the agent otherwise (as Nomad's do)
        a.stop()


def client(agent: Agent) -> nomad.Nomad:
    return nomad.Nomad(host="127.0.0.1", port=agent.http_port, timeout=10)


def test_server_agent_routes_and_node_resources(agent: Agent) -> None:
    api = client(agent)
    servers = api.operator.get_configuration()["Servers"]
    assert len(servers) == 1 and servers[0]["Leader"] is True and servers[0]["Voter"] is True
    members = api.agent.get_members()["Members"]
    assert len(members) == 1 and members[0]["Status"] == "alive"
    assert api.system.reconcile_summaries() is True
    wait_for(lambda: bool(api.nodes.get_nodes()), 30, "the dev client's node")
    node = api.node.get_node(api.nodes.get_nodes()[0]["ID"])
    assert node["NodeResources"]["Cpu"]["CpuShares"] > 0  # Nomad's spelling, not CPU
    assert "CPU" not in node["NodeResources"]
    assert node["NodeResources"]["Memory"]["MemoryMB"] > 0


def test_namespaces_declared_through_raft_survive_a_restart(agent: Agent) -> None:
    api = client(agent)

    def web_running() -> bool:
        try:
            allocs = api.job.get_allocations("web", namespace="team")
        except nomad_errors.URLNotFoundNomadException:  # the first sync is not done yet
            return False
        return any(a["ClientStatus"] == "running" for a in allocs)

    wait_for(web_running, 30, "web running in namespace team")
    # "team" exists because a job lives in it; "prod" once declared.
    assert {n["Name"] for n in api.namespaces.get_namespaces()} == {"default", "team"}
    assert api.namespace.create_namespace(
        {"Name": "prod", "Description": "production", "Meta": {"owner": "ops"}}
    ).ok
    prod = api.namespace.get_namespace("prod")
    assert prod["Description"] == "production" and prod["Meta"] == {"owner": "ops"}
    with pytest.raises(nomad_errors.BaseNomadException) as busy:
        api.namespace.delete_namespace("team")
    assert "non-terminal jobs: web" in busy.value.nomad_resp.text
    with pytest.raises(nomad_errors.BaseNomadException) as unsupported:
        api.namespace.create_namespace(
            {"Name": "gpu", "Capabilities": {"EnabledTaskDrivers": ["docker"]}}
        )
    assert "Capabilities is not supported" in unsupported.value.nomad_resp.text

    agent.stop()
    agent.start()
    api = client(agent)
    assert api.namespace.get_namespace("prod")["Meta"] == {"owner": "ops"}
    assert api.namespace.delete_namespace("prod").ok
    with pytest.raises(nomad_errors.URLNotFoundNomadException):
        api.namespace.get_namespace("prod")
