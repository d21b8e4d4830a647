"""/v1/search, /v1/search/fuzzy, /v1/regions, /v1/namespaces and /v1/namespace/:name
on a real in-memory server, with and without ACLs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gitorch.api.app import make_app
from gitorch.server.server import Server
from tests.unit.api.fakes import api_client, in_memory_server, simple_job

pytestmark = pytest.mark.timeout(60)

NODE = "7c0ffee0-0000-4000-8000-000000000003"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server(NODE, name="worker-blue")
    yield srv
    srv.stop()


def register(client: TestClient, job_id: str, namespace: str = "default", **h: str) -> Any:
    job = simple_job(job_id)
    job["Namespace"] = namespace
    resp = client.post("/v1/jobs", json={"Job": job}, headers=h)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_prefix_search(server: Server) -> None:
    client = api_client(make_app(server))
    ev = register(client, "web-frontend")["EvalID"]
    register(client, "web-backend")
    register(client, "worker")
    register(client, "web-dev", "dev")
    resp = client.post("/v1/search", json={"Prefix": "web", "Context": "jobs"})
    assert resp.status_code == 200
    assert resp.json() == {
        "Matches": {"jobs": ["web-backend", "web-frontend"]},
        "Truncations": {"jobs": False},
    }
    every = client.post("/v1/search", json={"Prefix": ev[:6], "Context": "all"}).json()
    assert every["Matches"]["evals"] == [ev]
    assert set(every["Matches"]) == {
        "allocs",
        "deployments",
        "evals",
        "jobs",
        "namespaces",
        "nodes",
    }
    nodes = client.post("/v1/search", json={"Prefix": NODE[:4], "Context": "nodes"}).json()
    assert nodes["Matches"]["nodes"] == [NODE]
    star = client.post("/v1/search?namespace=*", json={"Prefix": "web", "Context": "jobs"})
    assert star.json()["Matches"]["jobs"] == ["web-backend", "web-dev", "web-frontend"]
    bad = client.post("/v1/search", json={"Prefix": "w", "Context": "planets"})
    assert bad.status_code == 400 and "planets" in bad.text


def test_prefix_search_truncates_at_twenty(server: Server) -> None:
    client = api_client(make_app(server))
    for i in range(21):
        register(client, f"batch-{i:02d}")
    body = client.post("/v1/search", json={"Prefix": "batch", "Context": "jobs"}).json()
    assert len(body["Matches"]["jobs"]) == 20 and body["Truncations"]["jobs"] is True


def test_fuzzy_search(server: Server) -> None:
    client = api_client(make_app(server))
    register(client, "api-server")
    resp = client.post("/v1/search/fuzzy", json={"Text": "serv", "Context": "all"})
    assert resp.status_code == 200
    matches = resp.json()["Matches"]
    assert matches["jobs"] == [{"ID": "api-server", "Scope": ["default"]}]
    assert {"ID": "server", "Scope": ["default", "api-server", "web"]} in matches["tasks"]
    blue = client.post("/v1/search/fuzzy", json={"Text": "BLUE", "Context": "nodes"}).json()
    assert blue["Matches"]["nodes"] == [{"ID": "worker-blue", "Scope": [NODE]}]
    short = client.post("/v1/search/fuzzy", json={"Text": "a"})
    assert short.status_code == 400


def test_regions_and_namespaces(server: Server) -> None:
    client = api_client(make_app(server))
    assert client.get("/v1/regions").json() == ["global"]
    assert [n["Name"] for n in client.get("/v1/namespaces").json()] == ["default"]
    register(client, "api", "prod")
    register(client, "api", "dev")
    names = [n["Name"] for n in client.get("/v1/namespaces").json()]
    assert names == ["default", "dev", "prod"]
    assert [n["Name"] for n in client.get("/v1/namespaces?prefix=p").json()] == ["prod"]
    one = client.get("/v1/namespace/prod")
    assert one.status_code == 200 and one.json()["Name"] == "prod"
    assert {"Description", "Quota", "Meta", "CreateIndex", "ModifyIndex"} <= set(one.json())
    assert client.get("/v1/namespace/nope").status_code == 404


def test_acl_filters_search_and_namespaces(server: Server) -> None:
    client = api_client(make_app(server, acl_tokens=set()))
    root = {"X-Nomad-Token": client.post("/v1/acl/bootstrap").json()["SecretID"]}
    register(client, "api", "dev", **root)
    register(client, "api-prod", "prod", **root)
    rules = 'namespace "dev" {\n  policy = "read"\n}\n'
    assert client.post("/v1/acl/policy/dev", json={"Rules": rules}, headers=root).status_code == 200
    token = client.post(
        "/v1/acl/token", json={"Type": "client", "Policies": ["dev"]}, headers=root
    ).json()
    dev = {"X-Nomad-Token": token["SecretID"]}
    found = client.post(
        "/v1/search?namespace=*", json={"Prefix": "api", "Context": "all"}, headers=dev
    ).json()
    assert found["Matches"]["jobs"] == ["api"]
    assert found["Matches"]["nodes"] == []  # no node:read
    names = [n["Name"] for n in client.get("/v1/namespaces", headers=dev).json()]
    assert names == ["dev"]
    assert client.get("/v1/namespace/prod", headers=dev).status_code == 403
    anonymous = client.post("/v1/search", json={"Prefix": "api"})
    assert anonymous.status_code == 403 and "X-Nomad-Token" in anonymous.text
    assert client.get("/v1/regions").status_code == 200
