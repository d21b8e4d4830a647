"""The UI's cluster views over plain HTTP against a real dev agent on a real Git repo:
nodes with pool, devices and how full they are, a node's bin packing, the topology,
variables (values hidden until revealed by a same-origin POST), services with their
checks, the jobs list's namespace filter, hostile values escaped, unknown names a 404
page; with ACLs on, a read-only token sees notes where the Sync and deployment buttons
would be, a management token sees the buttons."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Agent, GitRepo, wait_for
from ui_fixtures import HOSTILE

pytestmark = pytest.mark.timeout(240)

SECRET = "hunter2-very-secret"
WEB = """
job "web" {
  group "g" {
    service {
      name = "websvc"
      tags = ["<script>window.pwned=1</script>", "v1"]
      check {
        name     = "ok"
        type     = "script"
        task     = "t"
        command  = "/bin/sh"
        args     = ["-c", "echo fine-output; exit 0"]
        interval = "2s"
        timeout  = "2s"
      }
      check {
        name     = "meh"
        type     = "script"
        task     = "t"
        command  = "/bin/sh"
        args     = ["-c", "echo warn-output; exit 1"]
        interval = "2s"
        timeout  = "2s"
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "exec sleep 300"]
      }
      resources {
        cpu    = 37
        memory = 19
      }
      kill_timeout = "2s"
    }
  }
}
"""
TEAM = """
job "team-batch" {
  namespace = "team-a"
  type      = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}
"""
EDGE_NODE = str(uuid.UUID(int=0xED6E))
SICK = "<script>window.pwned=1</script> fan stalled"


def edge_node() -> dict[str, Any]:
    """A second node, registered through the agent's own API: another datacenter and
    pool, two devices of which one is unhealthy (with a hostile reason)."""
    return {
        "ID": EDGE_NODE,
        "SecretID": str(uuid.uuid4()),
        "Name": "edge-gpu-1",
        "Datacenter": "dc-edge",
        "NodePool": "gpu-pool",
        "Status": "ready",
        "NodeResources": {
            "CPU": {"CpuShares": 2000},
            "Memory": {"MemoryMB": 4096},
            "Devices": [
                {
                    "Vendor": "acme",
                    "Type": "gpu",
                    "Name": "x1",
                    "Instances": [
                        {"ID": "gpu-0", "Healthy": True},
                        {"ID": "gpu-1", "Healthy": False, "HealthDescription": SICK},
                    ],
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    root = tmp_path_factory.mktemp("ui-cluster")
    repo = GitRepo(root / "repo")
    repo.commit("web and a batch job elsewhere", **{"jobs__web.hcl": WEB, "jobs__team.hcl": TEAM})
    a = Agent(root / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        wait_for(lambda: a.running("web"), 30, "web running")
        r = a.http.put(
            "/v1/var/app/db", json={"Items": {"password": SECRET, "<script>key": HOSTILE}}
        )
        assert r.status_code == 200, r.text
        a.post("/v1/internal/node/register", edge_node())
        alloc = a.running("web")[0]
        wait_for(
            lambda: len(a.get(f"/v1/allocation/{alloc['ID']}/checks")) == 2,
            20,
            "both checks reported",
        )
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def page(agent: Agent | httpx.Client, path: str, status: int = 200) -> str:
    http = agent.http if isinstance(agent, Agent) else agent
    r = http.get(path)
    assert r.status_code == status, (path, r.status_code, r.text[:500])
    assert "script-src 'self'" in r.headers["content-security-policy"]
    return r.text


def assert_safe(html: str) -> None:
    """No script but the UI's own, no hostile string unescaped, no inline style."""
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/ui/static/ui.js" defer>']
    assert "window.pwned" not in html.replace("&lt;script&gt;window.pwned", "")
    assert " style=" not in html


def test_nodes_list_shows_pool_devices_and_usage(agent: Agent) -> None:
    dev = agent.get(f"/v1/node/{agent.running('web')[0]['NodeID']}")
    res, rsv = dev["NodeResources"], dev["ReservedResources"]
    cpu_cap = res["Cpu"]["CpuShares"] - rsv["Cpu"]["CpuShares"]
    mem_cap = res["Memory"]["MemoryMB"] - rsv["Memory"]["MemoryMB"]
    html = page(agent, "/ui/nodes")
    assert_safe(html)
    assert f"CPU 37/{cpu_cap} MHz" in html and f"mem 19/{mem_cap} MB" in html
    assert f'<meter min="0" max="{cpu_cap}" value="37">' in html
    assert "<td>gpu-pool</td>" in html and "<td>default</td>" in html
    assert "<code>acme/gpu/x1</code> ×2" in html
    assert (
        "1 unhealthy: <code>gpu-1</code> (&lt;script&gt;window.pwned=1&lt;/script&gt; fan" in html
    )
    assert "CPU 0/2000 MHz" in html  # the edge node runs nothing


def test_node_page_draws_its_bin_packing_and_devices(agent: Agent) -> None:
    alloc = agent.running("web")[0]
    html = page(agent, f"/ui/node/{alloc['NodeID']}")
    assert_safe(html)
    svg = html[html.index('<svg class="bins big"') : html.index("</svg>")]
    assert f'<a href="/ui/allocation/{alloc["ID"]}">' in svg
    assert "web.g[0]: 37 MHz, 19 MB, running" in svg
    widths = re.findall(r'class="seg running" x="0.0" y="\d+" width="([\d.]+)"', svg)
    assert len(widths) == 2 and all(float(w) > 0 for w in widths)
    edge = page(agent, f"/ui/node/{EDGE_NODE}")
    assert_safe(edge)
    assert "gpu-pool" in edge and "1 healthy" in edge
    assert "<code>gpu-1</code> unhealthy: &lt;script&gt;window.pwned=1&lt;/script&gt; fan" in edge
    assert "No devices" not in edge


def test_topology_groups_nodes_by_datacenter_with_allocation_blocks(agent: Agent) -> None:
    alloc = agent.running("web")[0]
    html = page(agent, "/ui/topology")
    assert_safe(html)
    assert "Datacenter dc1" in html and "Datacenter dc-edge" in html
    assert html.index("Datacenter dc-edge") < html.index("Datacenter dc1")  # sorted
    assert ">edge-gpu-1</a>" in html
    assert f'<a href="/ui/allocation/{alloc["ID"]}"><title>web.g[0]' in html
    assert "nodes 1–2 of 2, 1 live allocation(s)" in html


def test_variable_values_hidden_until_revealed(agent: Agent) -> None:
    listing = page(agent, "/ui/variables")
    assert_safe(listing)
    assert 'href="/ui/variable/app/db?namespace=default"' in listing
    assert "app/db" not in page(agent, "/ui/variables?prefix=nomad/")
    assert "app/db" in page(agent, "/ui/variables?prefix=app&namespace=default")

    r = agent.http.get("/ui/variable/app/db")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert "<code>password</code>" in r.text and "<code>&lt;script&gt;key</code>" in r.text
    assert SECRET not in r.text and "pwned" not in r.text
    assert_safe(r.text)

    url, origin = "/ui/variable/app/db?namespace=default", {"Origin": agent.url}
    one = agent.http.post(url, data={"key": "password"}, headers=origin)
    assert one.status_code == 200 and one.headers["cache-control"] == "no-store"
    assert SECRET in one.text and "pwned" not in one.text  # only the asked item
    every = agent.http.post(url, data={"all": "1"}, headers=origin)
    assert SECRET in every.text
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in every.text
    assert_safe(every.text)

    cross = agent.http.post(url, data={"all": "1"}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and SECRET not in cross.text


def test_services_list_and_page_show_instances_and_checks(agent: Agent) -> None:
    alloc = agent.running("web")[0]
    html = page(agent, "/ui/services")
    assert_safe(html)
    assert 'href="/ui/service/websvc?namespace=default"' in html
    assert '<code class="tag">&lt;script&gt;window.pwned=1&lt;/script&gt;</code>' in html
    row = html[html.index("websvc</a>") :]
    row = row[: row.index("</tr>")]
    assert "<td>1</td>" in row
    assert "1 passing" in row and "1 warning" in row and "0 critical" in row

    svc = page(agent, "/ui/service/websvc")
    assert_safe(svc)
    reg = agent.get("/v1/service/websvc", all="true")[0]
    assert f"<code>{reg['Address']}:{reg['Port']}</code>" in svc
    assert f'href="/ui/allocation/{alloc["ID"]}"' in svc
    assert f'href="/ui/node/{alloc["NodeID"]}"' in svc
    assert "fine-output" in svc and "warn-output" in svc
    assert '<span class="badge warning">warning</span>' in svc  # the instance and its check


def test_jobs_list_filters_by_namespace(agent: Agent) -> None:
    wait_for(lambda: agent.get("/v1/jobs", namespace="team-a"), 20, "the team-a job registered")
    every = page(agent, "/ui/jobs")
    assert ">web</a>" in every and ">team-batch</a>" in every
    assert "<option>team-a</option>" in every
    team = page(agent, "/ui/jobs?namespace=team-a")
    assert ">team-batch</a>" in team and ">web</a>" not in team
    assert "<option selected>team-a</option>" in team
    assert ">team-batch</a>" not in page(agent, "/ui/jobs?namespace=default")


def test_unknown_names_get_a_404_page(agent: Agent) -> None:
    for path in ("/ui/service/no-such-service", "/ui/variable/no/such/var"):
        html = page(agent, path, 404)
        assert 'href="/ui/"' in html
    html = page(agent, "/ui/service/%3Cscript%3Ewindow.pwned=1", 404)
    assert_safe(html)
    assert "&lt;script&gt;window.pwned=1" in html
    html = page(agent, "/ui/variable/%3Cscript%3Ewindow.pwned=1", 404)
    assert_safe(html)
    assert "variable not found: &lt;script&gt;window.pwned=1" in html


POLICY_READ = """
namespace "*" {
  policy = "read"
}
operator {
  policy = "read"
}
agent {
  policy = "read"
}
node {
  policy = "read"
}
"""
DEPLOYING = """
job "dep" {
  update {
    max_parallel      = 1
    min_healthy_time  = "5m"
    healthy_deadline  = "9m"
    progress_deadline = "10m"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "exec sleep 600"]
      }
      resources {
        cpu    = 10
        memory = 16
      }
      kill_timeout = "2s"
    }
  }
}
"""


def test_acl_buttons_follow_the_token(tmp_path: Path) -> None:
    """A read-only token sees notes instead of Sync and the deployment buttons; a
    management token sees the buttons."""
    repo = GitRepo(tmp_path / "repo")
    repo.commit("a job in a long deployment", **{"jobs__dep.hcl": DEPLOYING})
    config = tmp_path / "acl.hcl"
    config.write_text('acl {\n  enabled = true\n  tokens = ["root-token"]\n}\n')
    a = Agent(
        tmp_path / "data",
        "--dev",
        "--repo",
        str(repo.path),
        "--path",
        "jobs",
        "--config",
        str(config),
    )
    a.http.headers["X-Nomad-Token"] = "root-token"
    a.start()
    try:
        wait_for(
            lambda: (a.get("/v1/job/dep/deployment") or {}).get("Status") == "running",
            30,
            "dep's deployment running",
        )
        r = a.http.post("/v1/acl/policy/reader", json={"Rules": POLICY_READ})
        assert r.status_code == 200, r.text
        reader = a.post("/v1/acl/token", {"Type": "client", "Policies": ["reader"]})["SecretID"]
        for token, may in ((reader, False), ("root-token", True)):
            with httpx.Client(base_url=a.url, timeout=20, cookies={"gitorch_token": token}) as b:
                home = page(b, "/ui/")
                job = page(b, "/ui/job/dep")
                nodes = page(b, "/ui/nodes")
            assert ('action="/ui/sync"' in home) is may
            assert ("Your ACL token cannot sync" in home) is not may
            assert ("/promote" in job and "/pause" in job and "/fail" in job) is may
            assert ("Your ACL token cannot promote" in job) is not may
            assert "<td>default</td>" in nodes  # node read: the list and its pools show
            assert token not in home + job
    finally:
        a.stop_jobs()
        a.stop()
