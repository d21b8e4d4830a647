"""/v1/metrics on a real in-memory server: Nomad's JSON summary and Prometheus text,
with gauges and counters that follow what the cluster does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gitorch.api.app import make_app
from gitorch.server.server import Server
from tests.unit.api.fakes import api_client, in_memory_server, simple_job, wait_for

pytestmark = pytest.mark.timeout(60)

NODE = "1f3a6a8e-0000-4000-8000-000000000002"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server(NODE)
    yield srv
    srv.stop()


def gauge(summary: dict[str, Any], name: str) -> float:
    (value,) = [g["Value"] for g in summary["Gauges"] if g["Name"] == name]
    return float(value)


def counter(summary: dict[str, Any], name: str, **labels: str) -> int:
    return sum(
        int(c["Count"])
        for c in summary["Counters"]
        if c["Name"] == name and all(c["Labels"].get(k) == v for k, v in labels.items())
    )


def test_json_summary_follows_the_cluster(server: Server) -> None:
    client = api_client(make_app(server))
    before = client.get("/v1/metrics").json()
    assert set(before) >= {"Timestamp", "Gauges", "Counters", "Samples"}
    assert before["Timestamp"].endswith("+0000 UTC")
    assert gauge(before, "nomad.nomad.job_status.running") == 0
    assert gauge(before, "nomad.nomad.nodes.ready") == 1
    assert client.post("/v1/jobs", json={"Job": simple_job("web", count=2)}).status_code == 200
    wait_for(lambda: len(server.state.allocs) == 2)
    after = client.get("/v1/metrics").json()
    assert gauge(after, "nomad.raft.appliedIndex") == server.state.index
    assert gauge(after, "nomad.raft.appliedIndex") > gauge(before, "nomad.raft.appliedIndex")
    assert gauge(after, "nomad.nomad.job_status.running") == 1
    assert gauge(after, "nomad.nomad.allocations.pending") == 2
    assert gauge(after, "nomad.nomad.heartbeat.active") == 1
    assert counter(after, "nomad.nomad.plan.apply") >= 1
    assert counter(after, "nomad.nomad.fsm.apply", type="RegisterJob") == 1
    assert counter(after, "nomad.http.requests", method="POST", code="200") == 1
    assert counter(after, "nomad.http.requests", method="GET", code="200") >= 1
    for name in ("total_ready", "total_unacked"):
        assert gauge(after, f"nomad.nomad.broker.{name}") >= 0


def test_prometheus_text(server: Server) -> None:
    client = api_client(make_app(server))
    client.get("/v1/nope")  # a 404 is counted too
    resp = client.get("/v1/metrics", params={"format": "prometheus"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = resp.text.splitlines()
    assert "# TYPE nomad_raft_appliedIndex gauge" in lines
    assert f"nomad_raft_appliedIndex {server.state.index}" in lines
    assert "# TYPE nomad_http_requests_total counter" in lines
    assert 'nomad_http_requests_total{code="404",method="GET"} 1' in lines
    samples = [line for line in lines if line and not line.startswith("#")]
    assert all(len(line.rsplit(" ", 1)) == 2 for line in samples)
    assert client.get("/v1/metrics", params={"format": "xml"}).status_code == 400


def test_open_without_a_token_and_no_secrets(server: Server) -> None:
    client: TestClient = api_client(make_app(server, acl_tokens=set()))
    secret = client.post("/v1/acl/bootstrap").json()["SecretID"]
    resp = client.get("/v1/metrics")
    assert resp.status_code == 200
    assert secret not in resp.text
    assert client.get("/v1/jobs").status_code == 403
    refused = client.get("/v1/metrics").json()
    assert counter(refused, "nomad.http.requests", method="GET", code="403") == 1
