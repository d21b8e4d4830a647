"""Declaring and deleting namespaces over HTTP with ACLs on: a management token only,
as Nomad's Namespace.Upsert and Namespace.Delete; bodies checked before Raft."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitorch.api.app import make_app
from gitorch.server.server import Server
from tests.unit.api.fakes import api_client, in_memory_server

WRITE_ALL = 'namespace "*" {\n  policy = "write"\n}\n'


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server("node-1")
    yield srv
    srv.stop()


def test_only_a_management_token_declares_or_deletes(server: Server) -> None:
    client = api_client(make_app(server, acl_tokens=set()))
    root = {"X-Nomad-Token": client.post("/v1/acl/bootstrap").json()["SecretID"]}
    assert client.post("/v1/acl/policy/w", json={"Rules": WRITE_ALL}, headers=root).is_success
    made = client.post("/v1/acl/token", json={"Type": "client", "Policies": ["w"]}, headers=root)
    writer = {"X-Nomad-Token": made.json()["SecretID"]}

    refused = client.post("/v1/namespace/dev", json={"Description": "d"}, headers=writer)
    assert refused.status_code == 403
    assert client.post("/v1/namespace", json={"Name": "dev"}).status_code == 403
    ok = client.post("/v1/namespace/dev", json={"Description": "d"}, headers=root)
    assert ok.status_code == 200 and int(ok.headers["X-Nomad-Index"]) > 0
    read = client.get("/v1/namespace/dev", headers=writer).json()
    assert read["Description"] == "d" and read["CreateIndex"] == int(ok.headers["X-Nomad-Index"])
    assert client.delete("/v1/namespace/dev", headers=writer).status_code == 403
    assert client.delete("/v1/namespace/dev", headers=root).status_code == 200
    assert client.get("/v1/namespace/dev", headers=root).status_code == 404


def test_bodies_are_checked(server: Server) -> None:
    client = api_client(make_app(server))
    mismatch = client.post("/v1/namespace/dev", json={"Name": "prod"})
    assert mismatch.status_code == 400 and "does not match the path" in mismatch.text
    bad = client.post("/v1/namespace", json={"Name": "has space"})
    assert bad.status_code == 400 and "invalid name" in bad.text
    quota = client.post("/v1/namespace", json={"Name": "q", "Quota": "small"})
    assert quota.status_code == 400 and "Quota is not supported" in quota.text
    assert client.delete("/v1/namespace/nowhere").status_code == 404
    names = [n["Name"] for n in client.get("/v1/namespaces").json()]
    assert names == ["default"]
