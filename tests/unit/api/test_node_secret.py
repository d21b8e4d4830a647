"""Node secrets (Nomad's SecretID) over the real HTTP API of an in-memory server: a
second client claiming a registered node ID is refused, a heartbeat for another node is
refused, the secret never comes back from a node read, and with ACLs on a client agent
reaches the node routes with its secret alone (no ACL token)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fakes import TestClient, api_client

from gitorch.api.app import make_app
from gitorch.server.server import Server

NODE = "5" * 8 + "-0000-4000-8000-" + "0" * 12


def node_body(secret: str) -> dict[str, Any]:
    return {
        "ID": NODE,
        "SecretID": secret,
        "Name": "edge-7",
        "Drivers": {"raw_exec": {"Detected": True, "Healthy": True}},
        "NodeResources": {"Cpu": {"CpuShares": 1000}, "Memory": {"MemoryMB": 1024}},
    }


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server.in_memory()
    yield s
    s.stop()


def test_a_second_client_with_the_same_node_id_is_refused(server: Server) -> None:
    http = api_client(make_app(server))
    assert http.post("/v1/internal/node/register", json=node_body("first-secret")).status_code == 200
    again = http.post("/v1/internal/node/register", json=node_body("first-secret"))
    assert again.status_code == 200  # the same client registering again
    other = http.post("/v1/internal/node/register", json=node_body("other-secret"))
    assert other.status_code == 403
    assert "another client" in other.text and "other-secret" not in other.text


def test_a_heartbeat_needs_the_nodes_secret(server: Server) -> None:
    http = api_client(make_app(server))
    http.post("/v1/internal/node/register", json=node_body("s3cret-node"))
    path = f"/v1/internal/node/{NODE}/heartbeat"
    assert http.post(path, headers={"X-Nomad-Token": "s3cret-node"}).status_code == 200
    forged = http.post(path, headers={"X-Nomad-Token": "guess"})
    assert forged.status_code == 403 and "node secret" in forged.text
    assert http.post(path).status_code == 403  # none presented


def test_the_secret_is_never_shown(server: Server) -> None:
    http = api_client(make_app(server))
    http.post("/v1/internal/node/register", json=node_body("hidden-secret"))
    node = http.get(f"/v1/node/{NODE}").json()
    assert node["SecretID"] == ""
    assert "hidden-secret" not in http.get("/v1/nodes").text
    # The servers keep only a digest, never the secret itself.
    assert server.fsm.state.nodes[NODE].secret_id not in ("", "hidden-secret")


def test_with_acls_on_a_client_reaches_node_routes_with_its_secret(server: Server) -> None:
    http: TestClient = api_client(make_app(server, acl_tokens={"operator-token"}))
    # A new node registers with no ACL token (Nomad's Node.Register): its secret comes
    # with it, and from then on that secret is its credential.
    assert http.post("/v1/internal/node/register", json=node_body("node-key")).status_code == 200
    stolen = http.post("/v1/internal/node/register", json=node_body("impostor"))
    assert stolen.status_code == 403
    mine = {"X-Nomad-Token": "node-key"}
    assert http.post(f"/v1/internal/node/{NODE}/heartbeat", headers=mine).status_code == 200
    assert http.get(f"/v1/node/{NODE}/allocations", headers=mine).status_code == 200
    again = http.post("/v1/internal/node/register", json=node_body("node-key"), headers=mine)
    assert again.status_code == 200
    # The node secret is not an operator token.
    assert http.get("/v1/jobs", headers=mine).status_code == 403
    assert http.get("/v1/jobs", headers={"X-Nomad-Token": "wrong"}).status_code == 403
