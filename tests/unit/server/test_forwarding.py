"""Follower-to-leader forwarding in the HTTP layer (gitorch.api.forward): two in-memory
servers, the leader's app served by uvicorn on 127.0.0.1 (the relay's real hop), the
follower's app called through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import anyio
import httpx
import pytest

from gitorch.api.app import make_app
from gitorch.api.forward import FORWARDED, NOT_LEADER, LeaderForwarding, Relay, needs_leader
from gitorch.server.cluster import AgentMembers, RaftConfiguration
from gitorch.server.server import Server
from tests.unit.api.fakes import serve

JOB = {
    "ID": "web",
    "TaskGroups": [
        {"Name": "g", "Count": 1, "Tasks": [{"Name": "t", "Driver": "mock", "Config": {}}]}
    ],
}


class FakeCluster:
    def __init__(self, leader: bool, leader_http: str | None = None) -> None:
        self.leader, self.leader_http = leader, leader_http

    def is_leader(self) -> bool:
        return self.leader

    def leader_http_addr(self) -> str | None:
        return self.leader_http

    def server_health(self) -> tuple[bool, str]:
        return (self.leader or self.leader_http is not None), "ok"

    def raft_configuration(self) -> RaftConfiguration:
        return RaftConfiguration(servers=[], index=1)

    def remove_raft_peer(self, address: str) -> int:
        return 1

    def agent_members(self) -> AgentMembers:
        return AgentMembers(server_name="s", server_region="global", server_dc="dc1", members=[])


class Seen:
    """ASGI middleware recording the requests that reached the leader."""

    def __init__(self, app: Any) -> None:
        self.app, self.requests = app, []  # type: list[tuple[str, str, bool]]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            self.requests.append(
                (scope["method"], scope["path"], FORWARDED.lower().encode() in headers)
            )
        await self.app(scope, receive, send)


@pytest.fixture
def served() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture
def servers() -> Iterator[tuple[Server, Server]]:
    leader, follower = Server.in_memory(), Server.in_memory()
    try:
        yield leader, follower
    finally:
        leader.stop()
        follower.stop()


def call(app: Any, method: str, path: str, **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://follower") as c:
            return await c.request(method, path, **kw)

    return anyio.run(go)


def follower_app(follower: Server, cluster: FakeCluster, retry_s: float = 2.0) -> Any:
    """The follower's app, relaying to wherever ``cluster`` says the leader is."""
    relay = Relay(retry_s=retry_s)
    return LeaderForwarding(make_app(follower), cluster=cluster, relay=relay)


def test_rules_writes_and_consistent_reads_go_to_the_leader() -> None:
    assert needs_leader("PUT", "/v1/jobs", "")
    assert needs_leader("DELETE", "/v1/operator/raft/peer", "address=1.2.3.4:4647")
    assert needs_leader("GET", "/v1/jobs", "")
    assert needs_leader("GET", "/v1/jobs", "stale=false")
    assert not needs_leader("GET", "/v1/jobs", "stale")
    assert not needs_leader("GET", "/v1/jobs", "namespace=default&stale=true")
    assert not needs_leader("GET", "/v1/agent/health", "")
    assert not needs_leader("PUT", "/v1/agent/join", "")
    assert not needs_leader("GET", "/v1/status/leader", "")
    assert not needs_leader("GET", "/v1/client/fs/logs/abc", "task=t")
    assert not needs_leader("GET", "/ui/jobs", "")


def test_follower_relays_writes_and_reads_and_answers_stale_reads_itself(
    servers: tuple[Server, Server], served: ExitStack
) -> None:
    leader, follower = servers
    seen = Seen(make_app(leader, cluster=FakeCluster(leader=True)))
    addr = served.enter_context(serve(seen))
    app = follower_app(follower, FakeCluster(leader=False, leader_http=addr))

    resp = call(app, "PUT", "/v1/jobs", json={"Job": JOB})
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Nomad-Index"] == str(resp.json()["Index"])
    assert leader.state.job("default", "web") is not None  # applied on the leader
    assert follower.state.job("default", "web") is None
    assert seen.requests[-1] == ("PUT", "/v1/jobs", True)

    consistent = call(app, "GET", "/v1/jobs")
    assert [j["ID"] for j in consistent.json()] == ["web"]
    stale = call(app, "GET", "/v1/jobs", params={"stale": ""})
    assert stale.json() == []  # the follower's own (empty) state
    assert call(app, "GET", "/v1/agent/self").status_code == 200
    assert len(seen.requests) == 2

    missing = call(app, "GET", "/v1/job/nope")
    assert missing.status_code == 404 and "not found" in missing.text
    spaced = call(app, "GET", "/v1/job/no%20pe", params={"namespace": "a b"})
    assert spaced.status_code == 404 and seen.requests[-1] == ("GET", "/v1/job/no pe", True)


def test_no_leader_is_a_503_after_the_retry_window(servers: tuple[Server, Server]) -> None:
    leader, follower = servers
    app = follower_app(follower, FakeCluster(False, None), retry_s=0.3)
    resp = call(app, "PUT", "/v1/jobs", json={"Job": JOB})
    assert resp.status_code == 503 and "No cluster leader" in resp.text
    assert leader.state.job("default", "web") is None


def test_forwarded_requests_are_never_forwarded_again(
    servers: tuple[Server, Server], served: ExitStack
) -> None:
    leader, follower = servers
    # The "leader" it relays to has just lost leadership: it must say so, not relay on.
    demoted = follower_app(leader, FakeCluster(False, "127.0.0.1:1"))
    resp = call(demoted, "PUT", "/v1/jobs", json={"Job": JOB}, headers={FORWARDED: "1"})
    assert resp.status_code == 503 and resp.headers.get(NOT_LEADER) == "1"
    assert (
        leader.state.job("default", "web") is None and follower.state.job("default", "web") is None
    )

    # A relaying follower retries such an answer until the window ends, then gives up.
    addr = served.enter_context(serve(demoted))
    app = follower_app(follower, FakeCluster(False, addr), retry_s=0.3)
    resp = call(app, "PUT", "/v1/jobs", json={"Job": JOB})
    assert resp.status_code == 503 and "not the leader" in resp.text
    assert leader.state.job("default", "web") is None
