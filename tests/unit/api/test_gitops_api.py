"""GitOps routes: status (a blocking query), sync reports, signed webhooks."""

from __future__ import annotations

import threading
import time

import pytest
from fakes import WEBHOOK_SECRET, FakeBackend, TestClient, api_client

from gitorch.api.app import make_app
from gitorch.core.model import FileError, replace
from gitorch.gitsync.webhook import sign
from gitorch.server.backend import SyncChange

PUSH = b'{"ref": "refs/heads/main", "after": "' + b"c" * 40 + b'"}'


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def client(backend: FakeBackend) -> TestClient:
    return api_client(make_app(backend))


def test_status_reports_jobs_and_file_errors(client: TestClient, backend: FakeBackend) -> None:
    backend.record_sync(
        {"jobs/web.nomad.hcl": "web"},
        [FileError(file="jobs/bad.nomad.hcl", line=3, message="unexpected '}'")],
    )
    resp = client.get("/v1/gitops/status")
    assert resp.status_code == 200
    body = resp.json()
    assert body["Branch"] == "main" and body["Commit"] == "b" * 40
    assert [{k: j[k] for k in ("ID", "File", "Commit", "Status")} for j in body["Jobs"]] == [
        {"ID": "web", "File": "jobs/web.nomad.hcl", "Commit": "b" * 40, "Status": "synced"}
    ]
    assert body["Errors"] == [
        {"File": "jobs/bad.nomad.hcl", "Line": 3, "Message": "unexpected '}'"}
    ]
    assert int(resp.headers["X-Nomad-Index"]) >= 1


def test_status_blocks_until_the_next_sync(client: TestClient, backend: FakeBackend) -> None:
    backend.record_sync({}, [])
    index = int(client.get("/v1/gitops/status").headers["X-Nomad-Index"])
    threading.Timer(0.3, lambda: backend.record_sync({"a.nomad.hcl": "a"}, [])).start()
    start = time.monotonic()
    resp = client.get("/v1/gitops/status", params={"index": index, "wait": "5s"})
    assert 0.2 < time.monotonic() - start < 4
    assert [j["ID"] for j in resp.json()["Jobs"]] == ["a"]


def test_sync_is_200_even_when_files_failed(client: TestClient, backend: FakeBackend) -> None:
    backend.report = replace(
        backend.report,
        changes=[SyncChange(job_id="web", file="web.nomad.hcl", action="register", version=0)],
        errors=[FileError(file="bad.nomad.hcl", line=2, message="boom")],
    )
    resp = client.post("/v1/gitops/sync", json={"DryRun": True})
    assert resp.status_code == 200
    body = resp.json()
    assert body["DryRun"] is True
    assert body["Changes"][0]["Action"] == "register"
    assert body["Errors"] == [{"File": "bad.nomad.hcl", "Line": 2, "Message": "boom"}]
    assert client.post("/v1/gitops/sync").json()["DryRun"] is False


def test_sync_rejects_a_bad_body(client: TestClient) -> None:
    resp = client.post("/v1/gitops/sync", json={"DryRun": "yes"})
    assert resp.status_code == 400 and "DryRun" in resp.text
    assert client.post("/v1/gitops/sync", content=b"{").status_code == 400


def test_webhook_needs_a_valid_signature(client: TestClient, backend: FakeBackend) -> None:
    good = {"X-Hub-Signature-256": sign(WEBHOOK_SECRET, PUSH)}
    resp = client.post("/v1/gitops/webhook", content=PUSH, headers=good)
    assert resp.status_code == 202
    assert backend.webhooks == [PUSH]
    bad = {"X-Hub-Signature-256": sign("wrong", PUSH)}
    assert client.post("/v1/gitops/webhook", content=PUSH, headers=bad).status_code == 403
    assert client.post("/v1/gitops/webhook", content=PUSH).status_code == 403
    assert backend.webhooks == [PUSH]


def test_webhook_is_open_but_status_is_gated_under_acl(backend: FakeBackend) -> None:
    client = api_client(make_app(backend, acl_tokens={"tok"}))
    good = {"X-Hub-Signature-256": sign(WEBHOOK_SECRET, PUSH)}
    assert client.post("/v1/gitops/webhook", content=PUSH, headers=good).status_code == 202
    assert client.get("/v1/gitops/status").status_code == 403
    assert client.post("/v1/gitops/sync", json={}).status_code == 403
    assert client.get("/v1/gitops/status", headers={"X-Nomad-Token": "tok"}).status_code == 200
