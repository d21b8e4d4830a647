"""PUT /v1/system/gc on a real in-memory server: the finished allocations and
evaluations of a stopped job go, a running job keeps everything, a threshold keeps
what changed recently, and only management tokens may ask."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from gitorch.api.app import make_app
from gitorch.core.commands import AllocClientUpdate
from gitorch.server.server import Server
from tests.unit.api.fakes import api_client, in_memory_server, simple_job, wait_for

pytestmark = pytest.mark.timeout(60)

NODE = "9cde0000-0000-4000-8000-000000000006"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server(NODE)
    yield srv
    srv.stop()


def stopped_and_finished(client: TestClient, server: Server) -> list[str]:
    """Run "old" and "live"; stop "old" and let its client report it complete."""
    for job_id in ("old", "live"):
        resp = client.post("/v1/jobs", json={"Job": simple_job(job_id, count=2)})
        assert resp.status_code == 200
    wait_for(lambda: len(server.state.allocs) == 4)
    assert client.delete("/v1/job/old").status_code == 200
    old = [a.id for a in server.state.allocs_for_job("default", "old")]
    wait_for(lambda: all(server.state.allocs[i].desired_status == "stop" for i in old))
    server.update_allocs([AllocClientUpdate(id=i, client_status="complete") for i in old])
    wait_for(lambda: all(e.terminal() for e in server.state.evals.values()))
    return old


def test_gc_purges_a_stopped_jobs_finished_allocs_and_evals(server: Server) -> None:
    client = api_client(make_app(server))
    old = stopped_and_finished(client, server)
    kept = client.put("/v1/system/gc", params={"threshold": "1h"})
    assert kept.status_code == 200
    assert len(client.get("/v1/job/old/allocations").json()) == 2
    resp = client.put("/v1/system/gc")
    assert resp.status_code == 200 and resp.text == ""
    assert client.get("/v1/job/old/allocations").json() == []
    assert client.get("/v1/job/old/evaluations").json() == []
    assert all(client.get(f"/v1/allocation/{i}").status_code == 404 for i in old)
    assert len(client.get("/v1/job/live/allocations").json()) == 2
    assert len(client.get("/v1/job/live/evaluations").json()) >= 1
    assert client.get("/v1/job/old").json()["Stop"] is True  # the job itself stays
    assert client.put("/v1/system/gc", params={"threshold": "soon"}).status_code == 400


def test_gc_needs_a_management_token(server: Server) -> None:
    client = api_client(make_app(server, acl_tokens=set()))
    root = {"X-Nomad-Token": client.post("/v1/acl/bootstrap").json()["SecretID"]}
    rules = 'namespace "default" {\n  policy = "write"\n}\n'
    assert client.post("/v1/acl/policy/w", json={"Rules": rules}, headers=root).status_code == 200
    token = client.post(
        "/v1/acl/token", json={"Type": "client", "Policies": ["w"]}, headers=root
    ).json()
    refused = client.put("/v1/system/gc", headers={"X-Nomad-Token": token["SecretID"]})
    assert refused.status_code == 403 and "management" in refused.text
    assert client.put("/v1/system/gc", headers=root).status_code == 200
