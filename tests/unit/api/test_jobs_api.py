"""Job routes: Nomad's paths, bodies, status codes, blocking queries and ACLs."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fakes import WEBHOOK_SECRET, FakeBackend, TestClient, api_client, simple_job

from gitorch.api.app import make_app
from gitorch.core.commands import AllocClientUpdate
from gitorch.core.model import Job
from gitorch.gitsync.webhook import sign


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def client(backend: FakeBackend) -> TestClient:
    return api_client(make_app(backend))


def register(client: TestClient, job: dict[str, Any], **params: str) -> dict[str, Any]:
    resp = client.post("/v1/jobs", json={"Job": job}, params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_register_accepts_nomad_json_with_nulls_and_unknown_fields(client: TestClient) -> None:
    resp = client.post("/v1/jobs", json={"Job": simple_job()})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) >= {"EvalID", "EvalCreateIndex", "JobModifyIndex", "Index", "Warnings"}
    assert resp.headers["X-Nomad-Index"] == str(body["Index"])
    assert resp.headers["X-Nomad-KnownLeader"] == "true"
    assert resp.headers["X-Nomad-LastContact"] == "0"

    job = client.get("/v1/job/web").json()
    assert job["ID"] == "web" and job["Namespace"] == "default"
    assert job["TaskGroups"][0]["Count"] == 2
    assert job["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMB"] == 64


def test_name_defaults_to_id_and_namespace_to_query(client: TestClient) -> None:
    job = simple_job("api")
    del job["Name"]
    register(client, job, namespace="prod")
    assert client.get("/v1/job/api").status_code == 404
    got = client.get("/v1/job/api", params={"namespace": "prod"}).json()
    assert got["Name"] == "api" and got["Namespace"] == "prod"
    assert client.get("/v1/jobs").json() == []
    assert [j["ID"] for j in client.get("/v1/jobs", params={"namespace": "*"}).json()] == ["api"]


def test_list_is_job_list_stubs_with_prefix(client: TestClient) -> None:
    register(client, simple_job("web"))
    register(client, simple_job("worker"))
    register(client, simple_job("api"))
    rows = client.get("/v1/jobs").json()
    assert [r["ID"] for r in rows] == ["api", "web", "worker"]
    row = rows[1]
    for key in ("Name", "Type", "Priority", "Status", "Stop", "Version", "JobSummary"):
        assert key in row
    for key in ("CreateIndex", "ModifyIndex", "JobModifyIndex", "SubmitTime", "Source"):
        assert key in row
    assert row["Status"] == "pending"
    assert row["JobSummary"]["Summary"]["web"]["Queued"] == 0
    assert [r["ID"] for r in client.get("/v1/jobs", params={"prefix": "w"}).json()] == [
        "web",
        "worker",
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "Failed to decode request body"),
        (b"[]", "must be a JSON object"),
        (b"{}", "Job must be specified"),
        (b'{"Job": {"Name": "x"}}', "Job ID hasn't been provided"),
        (b'{"Job": {"ID": "x", "TaskGroups": [{"Name": "g", "Count": "two"}]}}', "Count"),
        (b'{"Job": {"ID": "x", "Type": "cron"}}', "$.Type"),
        (b"", "empty"),
    ],
)
def test_malformed_bodies_are_400_with_the_reason(
    client: TestClient, body: bytes, reason: str
) -> None:
    resp = client.post("/v1/jobs", content=body)
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("text/plain")
    assert reason in resp.text


def test_register_on_job_path_checks_the_id(client: TestClient) -> None:
    resp = client.post("/v1/job/other", json={"Job": simple_job("web")})
    assert resp.status_code == 400
    assert resp.text == "Job ID does not match name"
    assert client.post("/v1/job/web", json={"Job": simple_job("web")}).status_code == 200


def test_missing_job_is_404(client: TestClient) -> None:
    for path in ("/v1/job/nope", "/v1/job/nope/allocations", "/v1/job/nope/summary"):
        resp = client.get(path)
        assert resp.status_code == 404
        assert resp.text == "job not found"
    assert client.delete("/v1/job/nope").status_code == 404


def test_enforce_index_is_check_and_set(client: TestClient) -> None:
    body: dict[str, Any] = {"Job": simple_job(), "EnforceIndex": True, "JobModifyIndex": 5}
    resp = client.post("/v1/job/web", json=body)
    assert resp.status_code == 409
    assert "job does not exist" in resp.text
    body["JobModifyIndex"] = 0
    first = client.post("/v1/job/web", json=body).json()
    assert client.post("/v1/job/web", json=body).status_code == 409
    body["JobModifyIndex"] = first["JobModifyIndex"]
    body["Job"]["TaskGroups"][0]["Count"] = 5
    assert client.post("/v1/job/web", json=body).status_code == 200


def test_versions_summary_allocations_evaluations(client: TestClient, backend: FakeBackend) -> None:
    register(client, simple_job(count=1))
    register(client, simple_job(count=3))
    versions = client.get("/v1/job/web/versions").json()
    assert versions["Diffs"] is None
    assert [v["Version"] for v in versions["Versions"]] == [1, 0]

    backend.add_node("n1" * 18)
    job = backend.store.job("default", "web")
    assert job is not None
    alloc_ids = backend.place(job, "n1" * 18)

    backend.update_allocs(
        [
            AllocClientUpdate(id=alloc_ids[0], client_status="running"),
            AllocClientUpdate(id=alloc_ids[1], client_status="failed"),
        ]
    )
    summary = client.get("/v1/job/web/summary").json()
    assert summary["JobID"] == "web" and summary["Namespace"] == "default"
    assert summary["Summary"]["web"] == {
        "Queued": 0,
        "Complete": 0,
        "Failed": 1,
        "Running": 1,
        "Starting": 1,
        "Lost": 0,
        "Unknown": 0,
    }
    assert summary["Children"] == {"Pending": 0, "Running": 0, "Dead": 0}

    allocs = client.get("/v1/job/web/allocations").json()
    assert sorted(a["ID"] for a in allocs) == sorted(alloc_ids)
    assert {a["JobType"] for a in allocs} == {"service"}
    assert all("Job" not in a for a in allocs)

    evals = client.get("/v1/job/web/evaluations").json()
    assert len(evals) == 2 and all(e["JobID"] == "web" for e in evals)
    assert client.get("/v1/jobs").json()[0]["Status"] == "running"


def test_deregister_stops_then_purges(client: TestClient) -> None:
    register(client, simple_job())
    resp = client.delete("/v1/job/web")
    assert resp.status_code == 200
    assert set(resp.json()) >= {"EvalID", "EvalCreateIndex", "JobModifyIndex", "Index"}
    assert client.get("/v1/job/web").json()["Stop"] is True
    assert client.get("/v1/jobs").json()[0]["Status"] == "dead"
    # python-nomad sends purge=True
    assert client.delete("/v1/job/web", params={"purge": "True"}).status_code == 200
    assert client.get("/v1/job/web").status_code == 404
    assert client.delete("/v1/job/web", params={"purge": "maybe"}).status_code == 404
    register(client, simple_job())
    assert client.delete("/v1/job/web", params={"purge": "maybe"}).status_code == 400


def test_plan_returns_a_job_plan_response(client: TestClient) -> None:
    resp = client.post("/v1/job/web/plan", json={"Job": simple_job(count=3), "Diff": True})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["Diff"]["Type"] == "Added"
    assert body["Annotations"]["DesiredTGUpdates"]["web"]["Place"] == 3
    assert body["FailedTGAllocs"] == {}
    assert client.get("/v1/job/web").status_code == 404  # nothing committed


def test_validate_reports_problems_without_registering(client: TestClient) -> None:
    ok = client.post("/v1/validate/job", json={"Job": simple_job()}).json()
    assert ok == {
        "DriverConfigValidated": True,
        "ValidationErrors": [],
        "Error": "",
        "Warnings": "",
    }
    bad = {"ID": "bad id", "Priority": 500, "TaskGroups": [{"Name": "g", "Tasks": []}]}
    body = client.post("/v1/validate/job", json={"Job": bad}).json()
    assert len(body["ValidationErrors"]) == 3
    assert body["Error"].startswith("3 errors occurred:")
    assert "at least one task" in body["Error"]
    invalid = {"ID": "x", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": ""}]}]}
    resp = client.post("/v1/jobs", json={"Job": invalid})
    assert resp.status_code == 400 and "needs a driver" in resp.text
    assert client.get("/v1/jobs").json() == []


def test_parse_uses_the_jobspec_parser(client: TestClient) -> None:
    hcl = 'job "hello" {\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n    }\n  }\n}\n'
    resp = client.post("/v1/jobs/parse", json={"JobHCL": hcl, "Canonicalize": True})
    assert resp.status_code == 200, resp.text
    assert resp.json()["ID"] == "hello"
    broken = client.post("/v1/jobs/parse", json={"JobHCL": 'job "x" {\n  group {'})
    assert broken.status_code == 400
    assert client.post("/v1/jobs/parse", json={"JobHCL": ""}).status_code == 400


def test_blocking_query_waits_for_a_change(client: TestClient, backend: FakeBackend) -> None:
    first = register(client, simple_job("a"))["Index"]
    timer = threading.Timer(0.3, lambda: backend.register_job(Job(id="b")))
    timer.start()
    start = time.monotonic()
    resp = client.get("/v1/jobs", params={"index": first, "wait": "5s"})
    assert 0.2 < time.monotonic() - start < 4
    assert int(resp.headers["X-Nomad-Index"]) > first
    assert [j["ID"] for j in resp.json()] == ["a", "b"]


def test_blocking_query_times_out_with_the_same_index(client: TestClient) -> None:
    index = register(client, simple_job())["Index"]
    start = time.monotonic()
    resp = client.get("/v1/job/web", params={"index": index, "wait": "200ms"})
    assert 0.15 < time.monotonic() - start < 3
    assert resp.status_code == 200
    assert resp.headers["X-Nomad-Index"] == str(index)


def test_stale_index_answers_at_once(client: TestClient) -> None:
    register(client, simple_job())
    start = time.monotonic()
    resp = client.get("/v1/jobs", params={"index": 0, "wait": "5m"})
    assert time.monotonic() - start < 1 and resp.status_code == 200


@pytest.mark.parametrize("wait", ["5", "abc", "5x", "-1s"])
def test_bad_wait_is_400(client: TestClient, wait: str) -> None:
    resp = client.get("/v1/jobs", params={"index": 1, "wait": wait})
    assert resp.status_code == 400 and "wait" in resp.text


def test_unexpected_errors_are_500_and_the_server_goes_on(backend: FakeBackend) -> None:
    def boom(job: Job) -> None:
        raise RuntimeError("secret detail")

    backend.register_job = boom  # type: ignore[assignment,method-assign]
    client = api_client(make_app(backend))
    resp = client.post("/v1/jobs", json={"Job": simple_job()})
    assert resp.status_code == 500
    assert "secret detail" not in resp.text
    assert client.get("/v1/jobs").status_code == 200


def test_acl_tokens_gate_every_route_but_health_and_webhook(backend: FakeBackend) -> None:
    client = api_client(make_app(backend, acl_tokens={"t0ken"}))
    for method, path in [("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/v1/nodes")]:
        resp = client.request(method, path, headers={"X-Nomad-Token": "wrong"})
        assert resp.status_code == 403
        assert resp.text.startswith("Permission denied")
        assert "ACL token not found" in resp.text
        assert "wrong" not in resp.text
    assert client.get("/v1/agent/self").status_code == 403
    assert client.get("/v1/status/leader").status_code == 200  # open, as Nomad's
    assert client.get("/v1/agent/health").status_code == 200
    signed = {"X-Hub-Signature-256": sign(WEBHOOK_SECRET, b"{}")}
    assert client.post("/v1/gitops/webhook", content=b"{}", headers=signed).status_code == 202
    assert client.get("/v1/jobs", headers={"X-Nomad-Token": "t0ken"}).status_code == 200
    bearer = client.get("/v1/jobs", headers={"Authorization": "Bearer t0ken"})
    assert bearer.status_code == 200


def test_parse_runs_in_the_budgeted_worker_and_answers_hostile_specs_with_a_line(
    client: TestClient,
) -> None:
    corpus = Path(__file__).parents[1] / "jobspec" / "corpus"
    for name in ("int_4301_digits.nomad.hcl", "nested_lists_300.nomad.hcl"):
        resp = client.post("/v1/jobs/parse", json={"JobHCL": (corpus / name).read_text()})
        assert resp.status_code == 400, (name, resp.text[:200])
        assert resp.text.startswith("request.nomad.hcl:"), resp.text[:200]  # located
