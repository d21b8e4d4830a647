"""GET /v1/node/pools: the built-in pools and every pool a client names."""

from __future__ import annotations

from fakes import FakeBackend, api_client

from gitorch.api.app import make_app
from gitorch.core.model import Node


def test_node_pools_list_built_ins_and_client_pools() -> None:
    backend = FakeBackend()
    backend.register_node(Node(id="1" * 36, name="a"))
    backend.register_node(Node(id="2" * 36, name="b", node_pool="gpu"))
    client = api_client(make_app(backend))
    rows = client.get("/v1/node/pools").json()
    assert [r["Name"] for r in rows] == ["all", "default", "gpu"]
    assert rows[0]["Description"] == "Node pool with all nodes in the cluster."
    assert set(rows[0]) >= {"Name", "Description", "Meta", "CreateIndex", "ModifyIndex"}
    assert [r["Name"] for r in client.get("/v1/node/pools?prefix=g").json()] == ["gpu"]
    # the node routes still answer next to it
    assert client.get(f"/v1/node/{'2' * 36}").json()["NodePool"] == "gpu"
