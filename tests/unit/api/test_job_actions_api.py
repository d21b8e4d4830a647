"""Allocation stop, job evaluate and job scale on a real in-memory server (scheduler
workers running): what a user sees after each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gitorch.api.app import make_app
from gitorch.server.server import Server
from tests.unit.api.fakes import api_client, in_memory_server, simple_job, wait_for

pytestmark = pytest.mark.timeout(60)

NODE = "5ca1e000-0000-4000-8000-000000000004"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server(NODE)
    yield srv
    srv.stop()


@pytest.fixture
def client(server: Server) -> TestClient:
    c = api_client(make_app(server))
    assert c.post("/v1/jobs", json={"Job": simple_job("web", count=2)}).status_code == 200
    return c


def live(client: TestClient) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.get("/v1/job/web/allocations").json()
    return [a for a in rows if a["DesiredStatus"] == "run"]


def test_alloc_stop_places_a_replacement(client: TestClient, server: Server) -> None:
    wait_for(lambda: len(live(client)) == 2)
    victim = live(client)[0]["ID"]
    resp = client.post(f"/v1/allocation/{victim}/stop")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["EvalID"] and body["Index"] > 0
    ev = client.get(f"/v1/evaluation/{body['EvalID']}").json()
    assert ev["TriggeredBy"] == "alloc-stop" and ev["JobID"] == "web"
    stopped = client.get(f"/v1/allocation/{victim}").json()
    assert stopped["DesiredStatus"] == "stop"
    wait_for(lambda: len(live(client)) == 2 and victim not in {a["ID"] for a in live(client)})
    assert client.post("/v1/allocation/nope/stop").status_code == 404


def test_job_evaluate(client: TestClient) -> None:
    resp = client.post("/v1/job/web/evaluate", json={"JobID": "web"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    evals = {e["ID"] for e in client.get("/v1/job/web/evaluations").json()}
    assert body["EvalID"] in evals and body["EvalCreateIndex"] == body["Index"]
    assert client.post("/v1/job/nope/evaluate").status_code == 404


def test_job_scale_status_and_change(client: TestClient) -> None:
    wait_for(lambda: len(live(client)) == 2)
    status = client.get("/v1/job/web/scale").json()
    assert status["JobID"] == "web" and status["JobStopped"] is False
    assert status["TaskGroups"]["web"]["Desired"] == 2
    assert status["TaskGroups"]["web"]["Placed"] == 2
    resp = client.post("/v1/job/web/scale", json={"Count": 3, "Target": {"Group": "web"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["EvalID"]
    job = client.get("/v1/job/web").json()
    assert job["TaskGroups"][0]["Count"] == 3 and job["Version"] == 1
    wait_for(lambda: len(live(client)) == 3)
    assert client.get("/v1/job/web/scale").json()["TaskGroups"]["web"]["Placed"] == 3
    bad_group = client.post("/v1/job/web/scale", json={"Count": 1, "Target": {"Group": "x"}})
    assert bad_group.status_code == 400 and "'x'" in bad_group.text
    negative = client.post("/v1/job/web/scale", json={"Count": -1, "Target": {"Group": "web"}})
    assert negative.status_code == 400


def test_acl_checks(server: Server) -> None:
    client = api_client(make_app(server, acl_tokens=set()))
    root = {"X-Nomad-Token": client.post("/v1/acl/bootstrap").json()["SecretID"]}
    ok = client.post("/v1/jobs", json={"Job": simple_job("web")}, headers=root)
    assert ok.status_code == 200
    rules = 'namespace "default" {\n  policy = "read"\n}\n'
    assert client.post("/v1/acl/policy/ro", json={"Rules": rules}, headers=root).status_code == 200
    token = client.post(
        "/v1/acl/token", json={"Type": "client", "Policies": ["ro"]}, headers=root
    ).json()
    reader = {"X-Nomad-Token": token["SecretID"]}
    assert client.get("/v1/job/web/scale", headers=reader).status_code == 200
    scale = {"Count": 1, "Target": {"Group": "web"}}
    refused = client.post("/v1/job/web/scale", json=scale, headers=reader)
    assert refused.status_code == 403 and "scale-job" in refused.text
    assert client.post("/v1/job/web/evaluate", headers=reader).status_code == 403
    assert client.post("/v1/job/web/scale", json=scale, headers=root).status_code == 200
