"""A real 3-server cluster with TLS on the HTTP port and a Raft key (``server.encrypt``):
it forms and elects a leader, a follower relays writes to the leader over HTTPS, a
server with another key cannot join, and a raw pickled frame sent to a Raft port is
dropped unread (never unpickled) while the cluster carries on."""

from __future__ import annotations

import base64
import os
import pickle
import socket
import ssl
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import wait_for
from servers import Node, agreed_leader, resume_all, server_config

from gitorch import tlsfiles

pytestmark = pytest.mark.timeout(150)


def make_certs(directory: Path) -> None:
    tlsfiles.create_ca(directory)
    ca = {"ca_cert": directory / tlsfiles.CA_CERT, "ca_key": directory / tlsfiles.CA_KEY}
    for role in ("server", "client", "cli"):
        tlsfiles.create_cert(directory, role, **ca)


def tls_block(certs: Path, key: str) -> str:
    return (
        "tls {\n  http = true\n  rpc = true\n"
        f'  ca_file = "{certs}/nomad-agent-ca.pem"\n'
        f'  cert_file = "{certs}/global-server-nomad.pem"\n'
        f'  key_file = "{certs}/global-server-nomad-key.pem"\n'
        "  verify_server_hostname = true\n  verify_https_client = true\n}\n"
        f'server {{\n  encrypt = "{key}"\n}}\n'
    )


class TlsNode(Node):
    def __init__(self, data_dir: Path, certs: Path, *args: str) -> None:
        super().__init__(data_dir, *args)
        self.url = f"https://127.0.0.1:{self.http_port}"
        ctx = ssl.create_default_context(cafile=str(certs / "nomad-agent-ca.pem"))
        ctx.load_cert_chain(certs / "global-cli-nomad.pem", certs / "global-cli-nomad-key.pem")
        self.http = httpx.Client(base_url=self.url, timeout=10, verify=ctx)

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.output()}")
        return self.http.get("/v1/agent/health").status_code == 200


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.certs = root / "certs"
        make_certs(self.certs)
        self.key = new_key()
        hcl = root / "server.hcl"
        self.servers = [TlsNode(root / f"s{i}", self.certs, "-config", str(hcl)) for i in range(3)]
        self.peers = [s.raft for s in self.servers]
        server_config(hcl, self.peers, tls_block(self.certs, self.key))
        self.extra: list[TlsNode] = []

    def leader(self) -> TlsNode:
        return agreed_leader(self.servers)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("tlscluster"))
    try:
        for s in c.servers:
            s.launch()
        for s in c.servers:
            s.healthy(timeout=60)
        yield c
    finally:
        everyone = [*c.servers, *c.extra]
        resume_all(everyone)
        for s in everyone:
            s.stop()


def idle_job(job_id: str) -> dict[str, Any]:
    task = {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}
    return {"Job": {"ID": job_id, "TaskGroups": [{"Name": "g", "Count": 0, "Tasks": [task]}]}}


def test_the_cluster_forms_and_a_follower_relays_writes_over_https(cluster: Cluster) -> None:
    leader = cluster.leader()
    follower = next(s for s in cluster.servers if s is not leader)
    resp = follower.http.post("/v1/jobs", json=idle_job("through-follower"))
    assert resp.status_code == 200, resp.text
    wait_for(
        lambda: any(j["ID"] == "through-follower" for j in leader.get("/v1/jobs")),
        15,
        "the relayed job on the leader",
    )


def test_a_server_with_another_key_cannot_join(cluster: Cluster) -> None:
    root = cluster.root
    leader = cluster.leader()
    wrong_hcl = server_config(
        root / "wrong.hcl", cluster.peers, tls_block(cluster.certs, new_key())
    )
    wrong = TlsNode(root / "wrong", cluster.certs, "-config", str(wrong_hcl))
    cluster.extra.append(wrong)
    wrong.launch()
    assert wrong.proc is not None
    assert wrong.proc.wait(timeout=60) != 0  # it gives up: no member answered its key
    assert "no running cluster answered" in wrong.output()
    assert wrong.raft not in leader.get("/v1/status/peers")
    assert cluster.leader() is leader
    # The control: the same config with the cluster's key joins.
    right_hcl = server_config(
        root / "right.hcl", cluster.peers, tls_block(cluster.certs, cluster.key)
    )
    right = TlsNode(root / "right", cluster.certs, "-config", str(right_hcl))
    cluster.extra.append(right)
    right.launch().healthy(timeout=60)
    wait_for(lambda: right.raft in leader.get("/v1/status/peers"), 30, "the right key joined")


def test_a_client_agent_registers_through_https_servers(cluster: Cluster) -> None:
    certs = cluster.certs
    servers = ", ".join(f'"127.0.0.1:{s.http_port}"' for s in cluster.servers)
    hcl = cluster.root / "client.hcl"
    hcl.write_text(
        f"client {{\n  enabled = true\n  servers = [{servers}]\n}}\n"
        "tls {\n  http = true\n"
        f'  ca_file = "{certs}/nomad-agent-ca.pem"\n'
        f'  cert_file = "{certs}/global-client-nomad.pem"\n'
        f'  key_file = "{certs}/global-client-nomad-key.pem"\n'
        "  verify_server_hostname = true\n  verify_https_client = true\n}\n"
    )
    client = TlsNode(cluster.root / "client", certs, "-config", str(hcl))
    cluster.extra.append(client)
    client.launch().healthy(timeout=60)
    leader = cluster.leader()
    wait_for(
        lambda: any(n["Status"] == "ready" for n in leader.get("/v1/nodes")),
        30,
        "the client registered over HTTPS and ready",
    )


class Planted:
    """Unpickling this creates ``path``: proof that a frame was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def test_a_raw_pickled_frame_is_dropped_unread(cluster: Cluster) -> None:
    leader = cluster.leader()
    peers_before = sorted(leader.get("/v1/status/peers"))
    marker = cluster.root / "unpickled"
    for message in (Planted(marker), ["add", "127.0.0.1:1"]):
        data = zlib.compress(pickle.dumps(message), 3)
        host, port = leader.raft.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(struct.pack("i", len(data)) + data)
            try:
                answer = sock.recv(4096)
            except ConnectionResetError:
                answer = b""
        assert answer == b"", "the Raft port answered an unauthenticated frame"
    assert not marker.exists()
    assert sorted(leader.get("/v1/status/peers")) == peers_before
    assert cluster.leader() is leader
    resp = leader.http.post("/v1/jobs", json=idle_job("after-injection"))
    assert resp.status_code == 200, resp.text
