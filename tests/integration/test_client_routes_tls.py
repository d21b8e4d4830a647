"""Client routes relayed under TLS: a server-only agent and two client-only agents, all
serving HTTPS only and demanding a client certificate (``verify_https_client``), with
real certificates made by ``gitorch.tlsfiles``. The server relays fs, logs, stats and
the exec WebSocket to the client agent that runs the task over HTTPS / wss, checking
that its certificate names ``client.global.nomad``; a client agent relays an exec
session to its server over wss. Plain HTTP to a client agent is refused, and a client
agent whose certificate (same CA) names another region is refused by the relay before
the request, and its token, is sent. Real agent processes, real raw_exec tasks."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from harness import Agent, wait_for
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from gitorch import tlsfiles

pytestmark = pytest.mark.timeout(240)

SCRIPT = "echo far-away > $NOMAD_TASK_DIR/note; echo to-stdout; while true; do sleep 0.2; done"


class TlsAgent(Agent):
    """An agent reached over HTTPS with the CLI certificate."""

    def __init__(self, data_dir: Path, certs: Path, *args: str) -> None:
        super().__init__(data_dir, *args)
        self.certs = certs
        self.url = f"https://127.0.0.1:{self.http_port}"
        self.http = httpx.Client(base_url=self.url, timeout=20, verify=self.context())

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.certs / tlsfiles.CA_CERT))
        ctx.load_cert_chain(
            self.certs / "global-cli-nomad.pem", self.certs / "global-cli-nomad-key.pem"
        )
        return ctx


def tls_block(certs: Path, cert: str) -> str:
    return (
        "tls {\n  http = true\n"
        f'  ca_file = "{certs}/{tlsfiles.CA_CERT}"\n'
        f'  cert_file = "{certs}/{cert}.pem"\n'
        f'  key_file = "{certs}/{cert}-key.pem"\n'
        "  verify_server_hostname = true\n  verify_https_client = true\n}\n"
    )


def job(job_id: str, node_name: str) -> dict[str, Any]:
    task = {
        "Name": "t",
        "Driver": "raw_exec",
        "Config": {"command": "/bin/sh", "args": ["-c", SCRIPT]},
        "Resources": {"CPU": 20, "MemoryMB": 32},
        "KillTimeout": 2_000_000_000,
    }
    constraint = {"LTarget": "${node.unique.name}", "RTarget": node_name, "Operand": "="}
    group = {"Name": "g", "Count": 1, "Tasks": [task], "Constraints": [constraint]}
    return {"Job": {"ID": job_id, "Datacenters": ["dc1"], "TaskGroups": [group]}}


class Trio:
    def __init__(self, server: TlsAgent, good: TlsAgent, other: TlsAgent) -> None:
        self.server, self.good, self.other = server, good, other

    def alloc(self, job_id: str) -> str:
        found = wait_for(lambda: self.server.running(job_id), 60, f"{job_id} running")
        alloc_id = str(found[0]["ID"])
        node = self.good if job_id == "near" else self.other
        wait_for(  # read on the node itself: the task wrote its note
            lambda: node.http.get(
                f"/v1/client/fs/cat/{alloc_id}", params={"path": "t/local/note"}
            ).text.startswith("far-away"),
            30,
            "the note written",
        )
        return alloc_id


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    root = tmp_path_factory.mktemp("relaytls")
    certs = root / "certs"
    tlsfiles.create_ca(certs)
    ca = {"ca_cert": certs / tlsfiles.CA_CERT, "ca_key": certs / tlsfiles.CA_KEY}
    for role in ("server", "client", "cli"):
        tlsfiles.create_cert(certs, role, **ca)
    tlsfiles.create_cert(certs, "client", region="elsewhere", **ca)  # same CA, other name
    server_hcl = root / "server.hcl"
    server_hcl.write_text(
        "server {\n  enabled = true\n  bootstrap_expect = 1\n}\n"
        + tls_block(certs, "global-server-nomad")
    )
    server = TlsAgent(root / "server", certs, "-config", str(server_hcl))
    agents: list[TlsAgent] = [server]
    try:
        server.start(60)
        clients = []
        for name, cert in (("near", "global-client-nomad"), ("odd", "elsewhere-client-nomad")):
            hcl = root / f"{name}.hcl"
            hcl.write_text(
                f'name = "{name}"\n'
                f'client {{\n  enabled = true\n  servers = ["127.0.0.1:{server.http_port}"]\n}}\n'
                'plugin "raw_exec" {\n  config { enabled = true }\n}\n' + tls_block(certs, cert)
            )
            agent = TlsAgent(root / name, certs, "-config", str(hcl))
            agents.append(agent)
            clients.append(agent.start(60))
        wait_for(
            lambda: len([n for n in server.get("/v1/nodes") if n["Status"] == "ready"]) == 2,
            60,
            "both client agents ready",
        )
        for job_id, node_name in (("near", "near"), ("odd", "odd")):
            server.post("/v1/jobs", job(job_id, node_name))
        yield Trio(server, clients[0], clients[1])
    finally:
        server.stop_jobs()
        for agent in reversed(agents):
            agent.stop()


def exec_session(agent: TlsAgent, alloc_id: str) -> tuple[bytes, int]:
    query = {"task": "t", "command": json.dumps(["/bin/sh", "-c", "cat local/note; exit 5"])}
    url = agent.url.replace("https://", "wss://") + f"/v1/client/allocation/{alloc_id}/exec"
    out, code = b"", None
    with connect(f"{url}?{urlencode(query)}", ssl=agent.context(), open_timeout=20) as ws:
        ws.send(json.dumps({"stdin": {"close": True}}))
        while code is None:
            frame = json.loads(ws.recv(timeout=30))
            if frame.get("stdout", {}).get("data"):
                out += base64.b64decode(frame["stdout"]["data"])
            if frame.get("exited"):
                code = frame["result"]["exit_code"]
    return out, code


def test_the_server_relays_fs_logs_stats_and_exec_over_https(trio: Trio) -> None:
    alloc_id = trio.alloc("near")
    server = trio.server.http
    cat = server.get(f"/v1/client/fs/cat/{alloc_id}", params={"path": "t/local/note"})
    assert cat.status_code == 200 and cat.text == "far-away\n", cat.text
    ls = server.get(f"/v1/client/fs/ls/{alloc_id}", params={"path": "t/local"})
    assert ls.status_code == 200 and [e["Name"] for e in ls.json()] == ["note"]
    logs = server.get(
        f"/v1/client/fs/logs/{alloc_id}", params={"task": "t", "type": "stdout", "plain": "true"}
    )
    assert logs.status_code == 200 and "to-stdout" in logs.text, logs.text
    stats = server.get(f"/v1/client/allocation/{alloc_id}/stats")
    assert stats.status_code == 200 and stats.json()["Tasks"]["t"]["ResourceUsage"]
    assert exec_session(trio.server, alloc_id) == (b"far-away\n", 5)


def test_a_client_agent_relays_exec_to_its_server_over_wss(trio: Trio) -> None:
    """The other client agent does not run the task: it relays the session to its server
    (wss, server.global.nomad checked), which relays it to the task's agent."""
    alloc_id = trio.alloc("near")
    assert exec_session(trio.other, alloc_id) == (b"far-away\n", 5)


def test_plain_http_to_a_client_agent_is_refused(trio: Trio) -> None:
    alloc_id = trio.alloc("near")
    url = f"http://127.0.0.1:{trio.good.http_port}/v1/client/fs/cat/{alloc_id}"
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, params={"path": "t/local/note"}, timeout=10)


def test_a_client_certificate_naming_another_region_is_refused(trio: Trio) -> None:
    alloc_id = trio.alloc("odd")  # readable on its own agent (the test trusts 127.0.0.1)
    r = trio.server.http.get(f"/v1/client/fs/cat/{alloc_id}", params={"path": "t/local/note"})
    assert r.status_code == 404, r.text
    assert "did not answer" in r.text and "Hostname mismatch" in r.text, r.text
    with pytest.raises(InvalidStatus):
        exec_session(trio.server, alloc_id)
