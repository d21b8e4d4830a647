"""``POST /v1/node/:id/drain`` over a real in-memory server: the node shows Nomad's
DrainStrategy and LastDrain, a node with nothing on it finishes draining and stays
ineligible, a cancel with MarkEligible makes it eligible again, and bad requests and
unknown nodes get 400 and 404 with the reason."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import TestClient, api_client, in_memory_server

from gitorch.api.app import make_app
from gitorch.server.server import Server

NODE = "d" * 36
HOUR = 3600 * 1_000_000_000


@pytest.fixture
def server() -> Iterator[Server]:
    s = in_memory_server(NODE)
    yield s
    s.stop()


@pytest.fixture
def http(server: Server) -> TestClient:
    return api_client(make_app(server))


def node(http: TestClient) -> dict[str, Any]:
    resp = http.get(f"/v1/node/{NODE}")
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body


def wait_for(http: TestClient, check: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = node(http)
        if check(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_an_empty_node_drains_and_stays_ineligible(http: TestClient) -> None:
    spec = {"Deadline": HOUR, "IgnoreSystemJobs": False}
    resp = http.post(f"/v1/node/{NODE}/drain", json={"NodeID": NODE, "DrainSpec": spec})
    assert resp.status_code == 200 and resp.json()["NodeModifyIndex"] > 0
    body = wait_for(http, lambda n: n["LastDrain"]["Status"] == "complete")
    assert body["LastDrain"]["Status"] == "complete"
    assert body["DrainStrategy"] is None and body["Drain"] is False
    assert body["SchedulingEligibility"] == "ineligible"
    assert body["LastDrain"]["StartedAt"].endswith("Z")


def test_a_drain_shows_its_strategy_and_cancel_marks_eligible(
    server: Server, http: TestClient
) -> None:
    server.drainer.stop()  # hold the drain where it is, to read it
    spec = {"Deadline": HOUR, "IgnoreSystemJobs": True}
    http.post(f"/v1/node/{NODE}/drain", json={"DrainSpec": spec, "Meta": {"why": "kernel"}})
    body = node(http)
    strategy = body["DrainStrategy"]
    assert strategy["Deadline"] == HOUR and strategy["IgnoreSystemJobs"] is True
    assert strategy["ForceDeadline"] > strategy["StartedAt"]  # RFC 3339 sorts as time
    assert body["Drain"] is True and body["SchedulingEligibility"] == "ineligible"
    assert body["LastDrain"]["Status"] == "draining"
    assert body["LastDrain"]["Meta"] == {"why": "kernel"}
    resp = http.post(f"/v1/node/{NODE}/drain", json={"DrainSpec": None, "MarkEligible": True})
    assert resp.status_code == 200
    body = node(http)
    assert body["DrainStrategy"] is None and body["SchedulingEligibility"] == "eligible"
    assert body["LastDrain"]["Status"] == "canceled"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"DrainSpec": {"Deadline": "1h"}}, "DrainSpec.Deadline must be nanoseconds"),
        ({"DrainSpec": {"Deadline": -5}}, "DrainSpec.Deadline must be nanoseconds"),
        ({"DrainSpec": [], "MarkEligible": False}, "DrainSpec must be an object"),
        ({"DrainSpec": None, "MarkEligible": "yes"}, "MarkEligible must be true or false"),
    ],
)
def test_bad_requests_say_what_is_wrong(http: TestClient, body: Any, message: str) -> None:
    resp = http.post(f"/v1/node/{NODE}/drain", json=body)
    assert resp.status_code == 400 and message in resp.text


def test_drain_of_an_unknown_node_is_404_naming_it(http: TestClient) -> None:
    missing = "0" * 36
    resp = http.post(f"/v1/node/{missing}/drain", json={"DrainSpec": {"Deadline": HOUR}})
    assert resp.status_code == 404
    assert missing in resp.text and "gitorch node status" in resp.text
