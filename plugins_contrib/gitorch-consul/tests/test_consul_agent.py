"""gitorch-consul through a real dev agent against the in-process fake Consul
(tests/fake_consul.py; no Consul server can be had here): a raw_exec task's service is
registered with its scheduler-assigned port and a TTL check that turns passing when the
client's http check passes, and is deregistered when the job stops; a template's
``{{ key "app/config" }}`` renders from Consul KV, and again when the key changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from consul_agent_helpers import DevAgent, git_repo, wait_for
from fake_consul import FakeConsul

pytestmark = pytest.mark.timeout(180)

WEB = """
job "web" {
  group "web" {
    network {
      port "http" {}
    }
    service {
      name     = "web"
      provider = "consul"
      port     = "http"
      tags     = ["py"]
      meta {
        team = "edge"
      }
      check {
        name     = "alive"
        type     = "http"
        path     = "/"
        interval = "500ms"
        timeout  = "400ms"
      }
    }
    task "server" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "exec python3 -m http.server $NOMAD_PORT_http --bind 127.0.0.1"]
      }
      template {
        data        = <<EOT
config={{ key "app/config" }} db={{ keyOrDefault "app/db" "none" }}
EOT
        destination = "local/app.conf"
        change_mode = "noop"
        wait {
          min = "100ms"
          max = "1s"
        }
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
"""


@pytest.fixture
def consul() -> Iterator[FakeConsul]:
    with FakeConsul(token="s3cr3t-consul-token") as fake:
        fake.put_key("app/config", "from-consul")
        yield fake


@pytest.fixture
def agent(tmp_path: Path, consul: FakeConsul) -> Iterator[DevAgent]:
    repo = git_repo(tmp_path / "repo", {"jobs/web.nomad.hcl": WEB})
    config = f'consul {{\n  address = "{consul.address}"\n  token = "s3cr3t-consul-token"\n}}\n'
    a = DevAgent(tmp_path, repo, config).start()
    try:
        yield a
    finally:
        a.stop()


def test_service_registered_in_consul_and_deregistered(
    agent: DevAgent, consul: FakeConsul, tmp_path: Path
) -> None:
    (alloc,) = wait_for(lambda: agent.running("web"), 60, "web running")
    alloc = agent.get(f"/v1/allocation/{alloc['ID']}")
    (port,) = [p["Value"] for p in alloc["AllocatedPorts"] if p["Label"] == "http"]

    (sid,) = wait_for(consul.service_ids, 30, "the service registered in Consul")
    svc = consul.state.services[sid]
    assert (svc["Service"], svc["Port"], svc["Tags"]) == ("web", port, ["py"])
    assert svc["Meta"] == {"team": "edge", "gitorch_alloc_id": alloc["ID"]}
    assert alloc["ID"] in sid
    (check_id,) = [c for c, v in consul.state.checks.items() if v["ServiceID"] == sid]
    wait_for(lambda: consul.check_status(check_id) == "passing", 30, "the check passing")
    # Consul's own catalog answers it now (what a `service` template would read)
    assert agent.get("/v1/services") == []  # not in gitorch's own (nomad) catalog

    # the template read Consul KV with the agent's token
    out = next((tmp_path / "data").glob(f"**/{alloc['ID']}/server/local/app.conf"))
    assert out.read_text() == "config=from-consul db=none\n"
    # a KV write wakes the template's blocking query: the file is rendered again
    consul.put_key("app/db", "postgres")
    wait_for(lambda: out.read_text() == "config=from-consul db=postgres\n", 30, "the re-render")
    assert [a["ID"] for a in agent.running("web")] == [alloc["ID"]]  # noop: not restarted

    agent.http.delete("/v1/job/web", params={"force": "true"}).raise_for_status()
    wait_for(lambda: consul.service_ids() == [], 30, "the service deregistered from Consul")
    assert consul.state.checks == {}
    assert "s3cr3t-consul-token" not in agent.output()
