"""?filter=, ?per_page= and ?next_token= on the list routes of a real in-memory server,
with and without ACLs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gitorch.api.app import make_app
from gitorch.server.server import Server
from tests.unit.api.fakes import api_client, in_memory_server, simple_job

pytestmark = pytest.mark.timeout(60)

NODE = "f1a7e000-0000-4000-8000-000000000005"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server(NODE)
    yield srv
    srv.stop()


def register(client: TestClient, job_id: str, namespace: str = "default", **h: str) -> None:
    job: dict[str, Any] = simple_job(job_id)
    job["Namespace"] = namespace
    job["Priority"] = 70 if job_id.startswith("api") else 50
    resp = client.post("/v1/jobs", json={"Job": job}, headers=h)
    assert resp.status_code == 200, resp.text


def ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [row["ID"] for row in resp.json()]


def test_filter_on_jobs_nodes_and_evaluations(server: Server) -> None:
    client = api_client(make_app(server))
    for job_id in ("api-a", "api-b", "web"):
        register(client, job_id)
    assert ids(client.get("/v1/jobs", params={"filter": "Priority == 70"})) == ["api-a", "api-b"]
    both = 'ID matches "^api" and not (ID == "api-b")'
    assert ids(client.get("/v1/jobs", params={"filter": both})) == ["api-a"]
    nodes = client.get("/v1/nodes", params={"filter": 'Status == "ready"'})
    assert ids(nodes) == [NODE]
    assert ids(client.get("/v1/nodes", params={"filter": "Status == down"})) == []
    evals = client.get("/v1/evaluations", params={"filter": 'JobID == "web"'})
    assert {e["JobID"] for e in evals.json()} == {"web"} and len(evals.json()) >= 1
    allocs = client.get("/v1/allocations", params={"filter": 'JobID == "nope"'})
    assert ids(allocs) == []


def test_bad_filter_is_400_with_the_column(server: Server) -> None:
    client = api_client(make_app(server))
    resp = client.get("/v1/jobs", params={"filter": "Status = running"})
    assert resp.status_code == 400 and "column 8" in resp.text
    assert client.get("/v1/jobs", params={"per_page": "many"}).status_code == 400
    assert client.get("/v1/jobs", params={"next_token": "%%%"}).status_code == 400


def test_pages_walk_the_whole_list(server: Server) -> None:
    client = api_client(make_app(server))
    for i in range(7):
        register(client, f"job-{i}")
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        params = {"per_page": "3", **({"next_token": token} if token else {})}
        resp = client.get("/v1/jobs", params=params)
        page = ids(resp)
        assert len(page) <= 3
        seen += page
        pages += 1
        token = resp.headers.get("X-Nomad-NextToken", "")
        if not token:
            break
        assert pages < 10
    assert seen == [f"job-{i}" for i in range(7)] and pages == 3
    # a page resumes where it was even if an earlier job goes away in between
    first = client.get("/v1/jobs", params={"per_page": "3"})
    client.delete("/v1/job/job-0", params={"purge": "true"})
    rest = ids(client.get("/v1/jobs", params={"next_token": first.headers["X-Nomad-NextToken"]}))
    assert rest == ["job-3", "job-4", "job-5", "job-6"]


def test_pages_are_cut_from_what_the_token_may_read(server: Server) -> None:
    client = api_client(make_app(server, acl_tokens=set()))
    root = {"X-Nomad-Token": client.post("/v1/acl/bootstrap").json()["SecretID"]}
    for i in range(4):
        register(client, f"dev-{i}", "dev", **root)
        register(client, f"prod-{i}", "prod", **root)
    rules = 'namespace "dev" {\n  policy = "read"\n}\n'
    assert client.post("/v1/acl/policy/dev", json={"Rules": rules}, headers=root).status_code == 200
    token = client.post(
        "/v1/acl/token", json={"Type": "client", "Policies": ["dev"]}, headers=root
    ).json()
    dev = {"X-Nomad-Token": token["SecretID"]}
    resp = client.get("/v1/jobs", params={"namespace": "*", "per_page": "3"}, headers=dev)
    assert ids(resp) == ["dev-0", "dev-1", "dev-2"]
    anonymous = client.get("/v1/jobs", params={"filter": "ID == x"})
    assert anonymous.status_code == 403
