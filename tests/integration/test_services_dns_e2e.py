"""The agent's DNS responder through a real dev agent: two Python http.server instances
of one job, answered over UDP and TCP as SRV and A records of their scheduler-assigned
ports, an instance dropped from the answers once its http check fails, NXDOMAIN for a
name nothing is registered under, REFUSED outside the gitorch. domain."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, DNSRecord
from harness import Agent, GitRepo, free_port, wait_for

from gitorch.agent.dnscatalog import HttpCatalog

pytestmark = pytest.mark.timeout(180)

WEB = """
job "web" {
  group "web" {
    count = 2
    network {
      port "http" {}
    }
    service {
      name = "web"
      port = "http"
      tags = ["py"]
      check {
        name     = "alive"
        type     = "http"
        path     = "/"
        interval = "300ms"
        timeout  = "300ms"
      }
    }
    task "server" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ > $NOMAD_TASK_DIR/pid; exec python3 -m http.server $NOMAD_PORT_http --bind 127.0.0.1"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
"""


class Dns:
    def __init__(self, port: int) -> None:
        self.port = port

    def ask(self, name: str, qtype: str, *, tcp: bool = False) -> DNSRecord:
        raw = DNSRecord.question(name, qtype).send("127.0.0.1", self.port, tcp=tcp, timeout=3)
        return DNSRecord.parse(raw)

    def srv_ports(self, name: str, *, tcp: bool = False) -> list[int]:
        reply = self.ask(name, "SRV", tcp=tcp)
        return sorted(rr.rdata.port for rr in reply.rr if rr.rtype == QTYPE.SRV)


@pytest.fixture
def stopped() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:  # let a stopped server take its kill signal
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


@pytest.fixture
def agent(tmp_path: Path, stopped: list[int]) -> Iterator[tuple[Agent, Dns]]:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("web", **{"jobs__web.nomad.hcl": WEB})
    dns_port = free_port()
    config = tmp_path / "agent.hcl"
    config.write_text(f'dns {{\n  enabled = true\n  port = {dns_port}\n  bind = "127.0.0.1"\n}}\n')
    a = Agent(
        tmp_path / "data", "--dev", "--config", str(config), "--repo", str(repo.path),
        "--path", "jobs",
    )  # fmt: skip
    a.start()
    try:
        yield a, Dns(dns_port)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stopped.clear()
        a.stop_jobs()
        a.stop()


def test_dns_answers_srv_and_a_with_the_passing_instances(
    agent: tuple[Agent, Dns], tmp_path: Path, stopped: list[int]
) -> None:
    a, dns = agent
    allocs = wait_for(lambda: len(a.running("web")) == 2 and a.running("web"), 60, "2 running")
    ports = {}
    for alloc in allocs:
        full = a.get(f"/v1/allocation/{alloc['ID']}")
        (port,) = [p["Value"] for p in full["AllocatedPorts"] if p["Label"] == "http"]
        ports[alloc["ID"]] = port
    want = sorted(ports.values())
    wait_for(lambda: dns.srv_ports("web.service.gitorch") == want, 30, "both in SRV")

    # what a client-only agent's responder reads: the servers' HTTP API
    over_http = HttpCatalog([a.url], ttl_s=0.1)
    assert sorted(r.port for r in over_http.passing("default", "WEB") or []) == want
    assert over_http.passing("default", "nope") is None

    # SRV over UDP and TCP, in the default namespace by either name; targets resolve
    reply = dns.ask("web.service.default.gitorch", "SRV", tcp=True)
    assert sorted(rr.rdata.port for rr in reply.rr) == want
    targets = {str(rr.rdata.target) for rr in reply.rr}
    assert targets == {"7f000001.addr.gitorch."}
    assert [(str(rr.rname), str(rr.rdata)) for rr in reply.ar] == [
        ("7f000001.addr.gitorch.", "127.0.0.1")
    ]
    assert all(0 <= rr.ttl <= 5 for rr in reply.rr)
    assert dns.srv_ports("py.web.service.gitorch") == want  # by tag
    assert dns.srv_ports("other.web.service.gitorch") == []

    # A: the instances' address (one record: both listen on 127.0.0.1)
    for tcp in (False, True):
        reply = dns.ask("WEB.service.gitorch", "A", tcp=tcp)
        assert [(rr.rtype, str(rr.rdata)) for rr in reply.rr] == [(QTYPE.A, "127.0.0.1")]
    assert [str(rr.rdata) for rr in dns.ask("7f000001.addr.gitorch", "A").rr] == ["127.0.0.1"]

    # unknown names and other domains
    assert dns.ask("nope.service.gitorch", "SRV").header.rcode == RCODE.NXDOMAIN
    assert dns.ask("web.service.elsewhere.gitorch", "A").header.rcode == RCODE.NXDOMAIN
    assert dns.ask("example.com", "A").header.rcode == RCODE.REFUSED

    # one server stops answering: its check fails and DNS drops it
    gone, kept = sorted(ports, key=lambda alloc_id: ports[alloc_id])
    pid_file = next((tmp_path / "data").glob(f"**/{gone}/server/local/pid"))
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGSTOP)
    stopped.append(pid)
    wait_for(lambda: dns.srv_ports("web.service.gitorch") == [ports[kept]], 30, "one dropped")
    assert dns.srv_ports("web.service.gitorch", tcp=True) == [ports[kept]]
    assert [r.port for r in over_http.passing("default", "web") or []] == [ports[kept]]

    # none passing: the name still exists (NOERROR), with no records
    kept_pid = int(next((tmp_path / "data").glob(f"**/{kept}/server/local/pid")).read_text())
    os.kill(kept_pid, signal.SIGSTOP)
    stopped.append(kept_pid)
    wait_for(lambda: dns.srv_ports("web.service.gitorch") == [], 30, "none passing")
    reply = dns.ask("web.service.gitorch", "A")
    assert (reply.header.rcode, reply.rr) == (RCODE.NOERROR, [])

    # answering again: back in the answers
    for p in stopped:
        os.kill(p, signal.SIGCONT)
    stopped.clear()
    wait_for(lambda: dns.srv_ports("web.service.gitorch") == want, 30, "back in the answers")
