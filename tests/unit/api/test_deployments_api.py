"""Deployment routes over a real in-memory server: a job with an ``update`` block gets a
deployment, its health comes from the task states clients report, and the actions
answer Nomad's status codes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fakes import TestClient, api_client

from gitorch.api.app import make_app
from gitorch.core.commands import AllocClientUpdate
from gitorch.core.model import (
    DriverInfo,
    Job,
    Node,
    NodeCpu,
    NodeDisk,
    NodeMemory,
    NodeResources,
    Task,
    TaskGroup,
    TaskState,
    UpdateStrategy,
)
from gitorch.server.server import Server

MS = 1_000_000
UPDATE = UpdateStrategy(max_parallel=1, min_healthy_time=100 * MS, healthy_deadline=5_000 * MS)


def job(command: str, count: int = 2, canary: int = 0) -> Job:
    u = UpdateStrategy(
        max_parallel=1, min_healthy_time=100 * MS, healthy_deadline=5_000 * MS, canary=canary
    )
    task = Task(name="t", driver="raw_exec", config={"command": command})
    return Job(id="web", task_groups=[TaskGroup(name="g", count=count, tasks=[task], update=u)])


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server.in_memory(num_workers=1)
    node = Node(
        id="n" * 36,
        name="n1",
        node_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=10_000),
            memory=NodeMemory(memory_mb=10_000),
            disk=NodeDisk(disk_mb=10_000),
        ),
        drivers={"raw_exec": DriverInfo(detected=True, healthy=True)},
    )
    s.register_node(node)
    yield s
    s.stop()


def run_everything(s: Server) -> None:
    """Play the client: every allocation the server wants running is running."""
    ups = [
        AllocClientUpdate(
            id=a.id,
            client_status="running",
            task_states={"t": TaskState(state="running", started_at=time.time_ns())},
        )
        for a in s.state.allocs.values()
        if a.desired_status == "run" and a.client_status == "pending"
    ]
    if ups:
        s.update_allocs(ups)


def wait(fn: object, what: str, timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def deployment(client: TestClient) -> dict[str, object]:
    body = client.get("/v1/job/web/deployment").json()
    assert isinstance(body, dict)
    return body


def test_a_deployment_succeeds_marks_the_version_stable_and_lists(server: Server) -> None:
    client = api_client(make_app(server))
    server.register_job(job("sleep"))
    d = wait(lambda: server.state.deployments_for_job("default", "web"), "a deployment")
    assert isinstance(d, list)
    wait(lambda: (run_everything(server), deployment(client)["Status"] == "successful")[1], "ok")
    body = deployment(client)
    assert body["TaskGroups"]["g"]["DesiredTotal"] == 2  # type: ignore[index]
    assert body["TaskGroups"]["g"]["HealthyAllocs"] == 2  # type: ignore[index]
    assert client.get("/v1/job/web").json()["Stable"] is True
    listed = client.get("/v1/deployments").json()
    assert [x["ID"] for x in listed] == [body["ID"]]
    allocs = client.get(f"/v1/deployment/allocations/{body['ID']}").json()
    assert len(allocs) == 2
    # promote with no canaries, and any action on a finished deployment: 400
    r = client.post(f"/v1/deployment/promote/{body['ID']}", json={"All": True})
    assert r.status_code == 400 and "successful" in r.text
    assert client.get("/v1/deployment/nope").status_code == 404


def test_canary_waits_for_promotion_then_rolls(server: Server) -> None:
    client = api_client(make_app(server))
    server.register_job(job("sleep", count=3))
    wait(lambda: (run_everything(server), deployment(client)["Status"] == "successful")[1], "v0")
    server.register_job(job("sleep 2", count=3, canary=1))
    wait(lambda: (run_everything(server), deployment(client)["JobVersion"] == 1)[1], "v1")

    def canary_healthy() -> bool:
        run_everything(server)
        g = deployment(client)["TaskGroups"]["g"]  # type: ignore[index]
        return len(g["PlacedCanaries"]) == 1 and g["HealthyAllocs"] == 1  # type: ignore[index]

    wait(canary_healthy, "a healthy canary")
    live = [a for a in server.state.allocs.values() if a.desired_status == "run"]
    assert sorted(a.job_version for a in live) == [0, 0, 0, 1]  # 1 new beside 3 old
    d = deployment(client)
    assert d["StatusDescription"] == "Deployment is running but requires manual promotion"
    r = client.post(f"/v1/deployment/promote/{d['ID']}", json={"All": True})
    assert r.status_code == 200, r.text
    wait(lambda: (run_everything(server), deployment(client)["Status"] == "successful")[1], "v1")
    live = [a for a in server.state.allocs.values() if a.desired_status == "run"]
    assert sorted(a.job_version for a in live) == [1, 1, 1]


def test_revert_and_stable_routes(server: Server) -> None:
    client = api_client(make_app(server))
    server.register_job(job("sleep"))
    server.register_job(job("sleep 2"))
    r = client.post("/v1/job/web/revert", json={"JobVersion": 0})
    assert r.status_code == 200, r.text
    current = client.get("/v1/job/web").json()
    assert current["Version"] == 2
    assert current["TaskGroups"][0]["Tasks"][0]["Config"]["command"] == "sleep"
    assert client.post("/v1/job/web/revert", json={"JobVersion": 9}).status_code == 404
    assert (
        client.post("/v1/job/web/stable", json={"JobVersion": 1, "Stable": True}).status_code == 200
    )
    versions = client.get("/v1/job/web/versions").json()["Versions"]
    assert {v["Version"]: v["Stable"] for v in versions}[1] is True
