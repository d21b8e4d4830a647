"""``/v1/job/:id/dispatch`` and ``/v1/job/:id/periodic/force`` over a real in-memory
server, and child jobs (IDs with a ``/``) on the job routes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import TestClient, api_client

from gitorch.api.app import make_app
from gitorch.server.server import Server


def batch(job_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "ID": job_id,
        "Type": "batch",
        "TaskGroups": [
            {
                "Name": "g",
                "Tasks": [{"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}],
            }
        ],
        **extra,
    }


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server.in_memory(num_workers=1)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def client(server: Server) -> TestClient:
    c = api_client(make_app(server))
    params = {"Payload": "required", "MetaRequired": ["input"], "MetaOptional": ["color"]}
    for job in (
        batch("render", ParameterizedJob=params, Meta={"owner": "ops"}),
        batch("nightly", Periodic={"Spec": "0 3 * * *", "SpecType": "cron", "TimeZone": None}),
        batch("plain"),
    ):
        resp = c.post("/v1/jobs", json={"Job": job})
        assert resp.status_code == 200, resp.text
    return c


def dispatch(client: TestClient, job_id: str, **body: Any) -> Any:
    return client.post(f"/v1/job/{job_id}/dispatch", json=body)


def test_register_of_a_parent_returns_no_evaluation(client: TestClient) -> None:
    resp = client.post("/v1/jobs", json={"Job": batch("again", Periodic={"Spec": "@daily"})})
    assert resp.json()["EvalID"] == ""
    stub = {j["ID"]: j for j in client.get("/v1/jobs").json()}
    assert stub["nightly"]["Periodic"] is True and stub["nightly"]["Status"] == "running"
    assert stub["render"]["ParameterizedJob"] is True
    assert stub["plain"]["Periodic"] is False
    job = client.get("/v1/job/nightly").json()
    assert job["Periodic"] == {
        "Enabled": True,
        "Spec": "0 3 * * *",
        "Specs": [],
        "SpecType": "cron",
        "ProhibitOverlap": False,
        "TimeZone": "UTC",
    }


def test_dispatch_with_payload_and_meta(client: TestClient) -> None:
    payload = base64.b64encode(b"hello world").decode()
    resp = dispatch(client, "render", Payload=payload, Meta={"input": "a.png"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) >= {"DispatchedJobID", "EvalID", "EvalCreateIndex", "JobCreateIndex", "Index"}
    child_id = body["DispatchedJobID"]
    assert child_id.startswith("render/dispatch-")
    # the child's routes, with the "/" as is and escaped
    for path in (f"/v1/job/{child_id}", "/v1/job/" + child_id.replace("/", "%2F")):
        child = client.get(path).json()
        assert child["ParentID"] == "render" and child["Dispatched"] is True
        assert child["Payload"] == payload
        assert child["Meta"] == {"owner": "ops", "input": "a.png"}
    assert client.get(f"/v1/job/{child_id}/evaluations").json()[0]["ID"] == body["EvalID"]
    assert client.get(f"/v1/job/{child_id}/allocations").status_code == 200
    summary = client.get("/v1/job/render/summary").json()
    assert summary["Children"]["Pending"] + summary["Children"]["Running"] == 1
    listed = client.get("/v1/jobs", params={"prefix": "render/"}).json()
    assert [j["ParentID"] for j in listed] == ["render"]
    assert client.delete(f"/v1/job/{child_id}", params={"purge": "true"}).status_code == 200
    assert client.get(f"/v1/job/{child_id}").status_code == 404


@pytest.mark.parametrize(
    ("job_id", "body", "status", "why"),
    [
        ("render", {"Meta": {"input": "a"}}, 400, "Payload is not provided but required"),
        ("render", {"Payload": "eA=="}, 400, "did not provide required meta keys: ['input']"),
        (
            "render",
            {"Payload": "eA==", "Meta": {"input": "a", "size": "2"}},
            400,
            "unpermitted metadata keys: ['size']",
        ),
        (
            "render",
            {"Payload": base64.b64encode(b"x" * 16385).decode(), "Meta": {"input": "a"}},
            400,
            "Payload exceeds maximum size; 16385 > 16384",
        ),
        ("render", {"Payload": "not base64!", "Meta": {"input": "a"}}, 400, "base64"),
        ("render", {"Payload": "eA==", "Meta": {"input": 5}}, 400, "Meta"),
        ("plain", {}, 400, "is not a parameterized job"),
        ("missing", {}, 404, "not found"),
    ],
)
def test_dispatch_errors(
    client: TestClient, job_id: str, body: dict[str, Any], status: int, why: str
) -> None:
    resp = dispatch(client, job_id, **body)
    assert resp.status_code == status, resp.text
    assert why in resp.text
    assert client.get("/v1/job/render/summary").json()["Children"] == {
        "Pending": 0,
        "Running": 0,
        "Dead": 0,
    }


def test_idempotency_token_in_body_or_query(client: TestClient) -> None:
    first = dispatch(client, "render", Payload="eA==", Meta={"input": "a"}, IdempotencyToken="t1")
    again = dispatch(client, "render", Payload="eA==", Meta={"input": "a"}, IdempotencyToken="t1")
    assert first.json()["DispatchedJobID"] == again.json()["DispatchedJobID"]
    assert again.json()["EvalID"] == ""
    url = "/v1/job/render/dispatch"
    body = {"Payload": "eA==", "Meta": {"input": "a"}}
    q1 = client.post(url, json=body, params={"idempotency_token": "t2"}).json()
    q2 = client.post(url, json=body, params={"idempotency_token": "t2"}).json()
    assert q1["DispatchedJobID"] == q2["DispatchedJobID"] != first.json()["DispatchedJobID"]


def test_periodic_force(client: TestClient) -> None:
    resp = client.post("/v1/job/nightly/periodic/force")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["EvalID"] and resp.headers["X-Nomad-Index"] == str(body["Index"])
    kids = [j for j in client.get("/v1/jobs").json() if j["ParentID"] == "nightly"]
    assert len(kids) == 1 and kids[0]["ID"].startswith("nightly/periodic-")
    assert client.get(f"/v1/job/{kids[0]['ID']}/evaluations").json()[0]["ID"] == body["EvalID"]
    assert client.post("/v1/job/plain/periodic/force").status_code == 400
    assert client.post("/v1/job/missing/periodic/force").status_code == 404


def test_validate_reports_a_bad_cron(client: TestClient) -> None:
    job = batch("bad", Periodic={"Spec": "61 * * * *"})
    resp = client.post("/v1/validate/job", json={"Job": job})
    assert "minute value 61" in resp.json()["Error"]
    resp = client.post("/v1/jobs", json={"Job": job})
    assert resp.status_code == 400 and "minute value 61" in resp.text
