"""/v1/event/stream over a live HTTP server on a real in-memory server: NDJSON frames in
Nomad's shape, topic and namespace filtering, ``index`` replay, heartbeats, ACLs."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from gitorch.api.app import make_app
from gitorch.api.forward import needs_leader
from gitorch.server.server import Server
from tests.unit.api.fakes import in_memory_server, serve, simple_job

pytestmark = pytest.mark.timeout(60)

NODE = "1f3a6a8e-0000-4000-8000-000000000001"
Line = dict[str, Any]


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server(NODE)
    srv.events.heartbeat_s = 0.3  # a reader thread notices its test has ended
    yield srv
    srv.stop()


@contextmanager
def stream(
    addr: str, headers: dict[str, str] | None = None, **params: Any
) -> Iterator[queue.Queue[Line]]:
    """Open the stream; yield a queue of its decoded lines (read on a thread)."""
    lines: queue.Queue[Line] = queue.Queue()
    opened, stop = threading.Event(), threading.Event()
    client = httpx.Client(base_url=f"http://{addr}", timeout=10)

    def read() -> None:
        with client.stream("GET", "/v1/event/stream", params=params, headers=headers) as r:
            ok = r.status_code == 200
            lines.put({"_status": r.status_code, "_body": "" if ok else r.read().decode()})
            opened.set()
            for line in r.iter_lines() if ok else ():
                if stop.is_set():  # heartbeats come often enough to notice (see fixture)
                    return
                if line:
                    lines.put(json.loads(line))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert opened.wait(10), "the stream did not open"
    try:
        yield lines
    finally:
        stop.set()
        thread.join(timeout=10)
        client.close()


def next_events(lines: queue.Queue[Line], topic: str, timeout: float = 5.0) -> Line:
    """The next frame holding an event of ``topic`` (heartbeats and others skipped)."""
    while True:
        frame = lines.get(timeout=timeout)
        if any(e["Topic"] == topic for e in frame.get("Events", [])):
            return frame


def test_eligibility_change_arrives_as_a_node_event(server: Server) -> None:
    with serve(make_app(server)) as addr, stream(addr, topic="Node") as lines:
        assert lines.get(timeout=5)["_status"] == 200
        resp = httpx.post(
            f"http://{addr}/v1/node/{NODE}/eligibility", json={"Eligibility": "ineligible"}
        )
        assert resp.status_code == 200
        frame = next_events(lines, "Node")
        (event,) = frame["Events"]
        assert event["Type"] == "NodeEligibility" and event["Key"] == NODE
        assert event["Index"] == frame["Index"] == resp.json()["NodeModifyIndex"]
        node = event["Payload"]["Node"]
        assert node["ID"] == NODE and node["SchedulingEligibility"] == "ineligible"
        assert not node.get("SecretID")


def test_topic_key_filter_and_index_replay(server: Server) -> None:
    with serve(make_app(server)) as addr:
        base = f"http://{addr}"
        with stream(addr, topic="Job:web") as lines:
            assert lines.get(timeout=5)["_status"] == 200
            assert (
                httpx.post(f"{base}/v1/jobs", json={"Job": simple_job("other")}).status_code == 200
            )
            web = httpx.post(f"{base}/v1/jobs", json={"Job": simple_job("web")}).json()
            frame = next_events(lines, "Job")
            assert [(e["Topic"], e["Key"], e["Type"]) for e in frame["Events"]] == [
                ("Job", "web", "JobRegistered")
            ]
            assert frame["Events"][0]["Payload"]["Job"]["TaskGroups"][0]["Count"] == 2
        # a new subscriber replays from an index still in the ring: the eval of "web"
        evals_from = web["EvalCreateIndex"]
        with stream(addr, topic="Evaluation", index=evals_from) as lines:
            assert lines.get(timeout=5)["_status"] == 200
            frame = next_events(lines, "Evaluation")
            assert frame["Index"] >= evals_from
            assert any(e["Key"] == web["EvalID"] for e in frame["Events"])


def test_namespace_filter(server: Server) -> None:
    with serve(make_app(server)) as addr:
        base = f"http://{addr}"
        with stream(addr, topic="Job", namespace="dev") as lines:
            assert lines.get(timeout=5)["_status"] == 200
            assert httpx.post(f"{base}/v1/jobs", json={"Job": simple_job("web")}).status_code == 200
            dev = simple_job("api")
            dev["Namespace"] = "dev"
            assert httpx.post(f"{base}/v1/jobs", json={"Job": dev}).status_code == 200
            frame = next_events(lines, "Job")
            assert [(e["Key"], e["Namespace"]) for e in frame["Events"]] == [("api", "dev")]


def test_heartbeat_when_nothing_happens(server: Server) -> None:
    with serve(make_app(server)) as addr, stream(addr) as lines:
        assert lines.get(timeout=5)["_status"] == 200
        assert lines.get(timeout=5) == {}  # the line that opens the stream
        assert lines.get(timeout=5) == {}  # a heartbeat (every 0.3 s here)


def test_bad_topic_is_400(server: Server) -> None:
    with serve(make_app(server)) as addr:
        resp = httpx.get(f"http://{addr}/v1/event/stream", params={"topic": "Nope:x"})
        assert resp.status_code == 400 and "Nope" in resp.text


def test_acl_each_event_needs_its_read_capability(server: Server) -> None:
    app = make_app(server, acl_tokens=set())
    with serve(app) as addr:
        base = f"http://{addr}"
        root = {"X-Nomad-Token": httpx.post(f"{base}/v1/acl/bootstrap").json()["SecretID"]}
        policy = 'namespace "default" {\n  policy = "read"\n}\n'
        put = httpx.post(f"{base}/v1/acl/policy/ro", json={"Rules": policy}, headers=root)
        assert put.status_code == 200
        token = httpx.post(
            f"{base}/v1/acl/token", json={"Type": "client", "Policies": ["ro"]}, headers=root
        ).json()
        reader = {"X-Nomad-Token": token["SecretID"]}
        with stream(addr) as anonymous:
            status = anonymous.get(timeout=5)
            assert status["_status"] == 403 and "X-Nomad-Token" in status["_body"]
        with stream(addr, headers=reader) as lines:
            assert lines.get(timeout=5)["_status"] == 200
            # a Node event (needs node:read) is not shown; the job that follows is
            httpx.post(
                f"{base}/v1/node/{NODE}/eligibility",
                json={"Eligibility": "ineligible"},
                headers=root,
            )
            job = httpx.post(f"{base}/v1/jobs", json={"Job": simple_job("web")}, headers=root)
            assert job.status_code == 200
            seen = until_topic(lines, "Job")
            topics = {e["Topic"] for f in seen for e in f.get("Events", [])}
            assert "Node" not in topics and "Job" in topics
            assert token["SecretID"] not in json.dumps(seen)


def until_topic(lines: queue.Queue[Line], topic: str, timeout: float = 5.0) -> list[Line]:
    """Every line up to and including the first frame with an event of ``topic``."""
    seen = []
    while True:
        seen.append(lines.get(timeout=timeout))
        if any(e["Topic"] == topic for e in seen[-1].get("Events", [])):
            return seen


def test_each_server_answers_its_own_stream_and_metrics() -> None:
    # a follower relays leader reads by buffering the answer: an endless stream must
    # never go through it (every server derives the events from its own log)
    assert not needs_leader("GET", "/v1/event/stream", "topic=Node")
    assert not needs_leader("GET", "/v1/metrics", "format=prometheus")
    assert needs_leader("GET", "/v1/jobs", "")


def test_an_allocation_topic_key_may_name_its_job(server: Server) -> None:
    with serve(make_app(server)) as addr, stream(addr, topic="Allocation:web") as lines:
        assert lines.get(timeout=5)["_status"] == 200
        resp = httpx.post(f"http://{addr}/v1/jobs", json={"Job": simple_job("web", count=2)})
        assert resp.status_code == 200
        frame = next_events(lines, "Allocation")
        events = frame["Events"]
        assert {e["Type"] for e in events} == {"PlanResult"} and len(events) == 2
        assert all(e["Payload"]["Allocation"]["JobID"] == "web" for e in events)
        assert all("web" in e["FilterKeys"] for e in events)
