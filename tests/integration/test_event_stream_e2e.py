"""The event stream of a real dev agent: a Node event arrives within 1 s of an
eligibility change (the issue's acceptance figure), in Nomad's frame shape."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Agent, GitRepo, wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("empty", **{"jobs__README": "no jobs"})
    a = Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        yield a
    finally:
        a.stop()


def test_node_event_within_one_second_of_an_eligibility_change(agent: Agent) -> None:
    nodes = wait_for(lambda: agent.get("/v1/nodes"), 20, "the dev node")
    node_id = nodes[0]["ID"]
    frames: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
    opened, stop = threading.Event(), threading.Event()

    def read() -> None:
        with httpx.Client(base_url=agent.url, timeout=10) as client:
            with client.stream("GET", "/v1/event/stream", params={"topic": f"Node:{node_id}"}) as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    opened.set()
                    if stop.is_set():
                        return
                    if line.strip() and line.strip() != "{}":
                        frames.put((time.monotonic(), json.loads(line)))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        assert opened.wait(10), "the stream did not open"
        changed = time.monotonic()
        resp = agent.http.post(
            f"/v1/node/{node_id}/eligibility", json={"Eligibility": "ineligible"}
        )
        assert resp.status_code == 200, resp.text
        arrived, frame = frames.get(timeout=10)
        (event,) = frame["Events"]
        assert (event["Topic"], event["Type"], event["Key"]) == ("Node", "NodeEligibility", node_id)
        assert event["Payload"]["Node"]["SchedulingEligibility"] == "ineligible"
        assert not event["Payload"]["Node"].get("SecretID")
        assert arrived - changed < 1.0, f"the event took {arrived - changed:.3f} s"
        # back to eligible: the next frame says so
        agent.http.post(f"/v1/node/{node_id}/eligibility", json={"Eligibility": "eligible"})
        _, frame = frames.get(timeout=10)
        assert frame["Events"][0]["Payload"]["Node"]["SchedulingEligibility"] == "eligible"
    finally:
        stop.set()
        # one more change wakes the reader so that it sees ``stop`` and closes
        agent.http.post(f"/v1/node/{node_id}/eligibility", json={"Eligibility": "eligible"})
        thread.join(timeout=10)
