"""Hostile input on every route of the HTTP API: malformed and oversized bodies, deep
nesting, integers past int64, junk query parameters. The promise under test: a client
error is a 4xx that says why, never a 5xx, and nothing reaches Raft that cannot be
encoded (the in-memory server encodes every command as Raft would)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fakes import FakeClient, TestClient, api_client, in_memory_server, simple_job
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from gitorch.api.app import make_app
from gitorch.api.http import MAX_DEPTH, parse_wait
from gitorch.api.routes_agent import ENTERPRISE_PATHS
from gitorch.errors import BadRequestError
from gitorch.server.cluster import AgentMembers, RaftConfiguration
from gitorch.server.server import Server

NODE = "node-fuzz-1"
LOG_ALLOC = "alloc-with-logs"


class OneServerCluster:
    """The cluster view of a lone leader (so the operator routes exist)."""

    def is_leader(self) -> bool:
        return True

    def leader_http_addr(self) -> str | None:
        return "127.0.0.1:1"

    def server_health(self) -> tuple[bool, str]:
        return True, "ok"

    def raft_configuration(self) -> RaftConfiguration:
        return RaftConfiguration(servers=[], index=1)

    def remove_raft_peer(self, address: str) -> int:
        return 1

    def agent_members(self) -> AgentMembers:
        return AgentMembers(server_name="s", server_region="global", server_dc="dc1", members=[])


class Fuzzed:
    def __init__(self, client: TestClient, server: Server, routes: list[tuple[str, str]]) -> None:
        self.client, self.server, self.routes = client, server, routes
        self.sent = 0
        self.by_status: dict[int, int] = {}
        self.failures: list[str] = []

    def send(self, method: str, path: str, **kwargs: Any) -> int:
        response = self.client.request(method, path, **kwargs)
        self.sent += 1
        self.by_status[response.status_code] = self.by_status.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            self.failures.append(
                f"{method} {path} -> {response.status_code}: {response.text[:200]}"
            )
        status: int = response.status_code
        return status


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    root: Path = tmp_path_factory.mktemp("logs")
    (root / LOG_ALLOC).mkdir()
    (root / LOG_ALLOC / "t.stdout.0").write_bytes(b"hello\n" * 100)
    server = in_memory_server(NODE)
    app = make_app(server, FakeClient(NODE, root), cluster=OneServerCluster())
    routes = sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
        # the event streams and the agent monitor stream until the client leaves, and the
        # Enterprise-only paths answer 501 by design (Nomad's): each has its own tests
        and route.path
        not in ("/v1/event/stream", "/ui/events", "/v1/agent/monitor", *ENTERPRISE_PATHS)
    )
    try:
        yield Fuzzed(api_client(app), server, routes)
    finally:
        server.stop()


def _short_wait(text: str) -> bool:
    """Keep blocking queries short: junk (a 400) or a wait of at most 50 ms."""
    try:
        return parse_wait(text) <= 0.05
    except BadRequestError:
        return True


_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
BIG = st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**30, 2**63 - 1, -(2**63)])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), BIG, st.floats(allow_nan=False), st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
NAMES = ["Job", "ID", "Name", "TaskGroups", "Count", "Priority", "Allocs", "Eligibility",
         "Node", "JobHCL", "DryRun", "Diff", "EnforceIndex", "JobModifyIndex", "Resources",
         "CPU", "MemoryMB", "Tasks", "Config", "ClientStatus", "TaskStates"]  # fmt: skip


@st.composite
def nomad_shaped(draw: st.DrawFn) -> Any:
    """A body close to what a route wants, with one part replaced by something hostile."""
    job = simple_job(draw(st.sampled_from(["web", "x", ""])), draw(st.integers(0, 3)))
    target = draw(st.sampled_from(["job", "group", "task", "resources", "top"]))
    value = draw(st.one_of(JSON, BIG))
    key = draw(st.sampled_from(NAMES))
    holder: dict[str, Any] = {
        "job": job,
        "group": job["TaskGroups"][0],
        "task": job["TaskGroups"][0]["Tasks"][0],
        "resources": job["TaskGroups"][0]["Tasks"][0]["Resources"],
        "top": {},
    }[target]
    holder[key] = value
    return {"Job": job, "Allocs": [{"ID": value, "ClientStatus": "running"}], key: value}


def _deep(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


BODIES = st.one_of(
    st.none(),
    st.binary(max_size=64),
    JSON.map(lambda v: json.dumps(v).encode()),
    nomad_shaped().map(lambda v: json.dumps(v).encode()),
    st.builds(
        _deep,
        st.sampled_from([MAX_DEPTH, MAX_DEPTH + 1, 1000, 100_000]),
        st.sampled_from(["list", "object"]),
    ),  # fmt: skip
)
QUERY_VALUES = st.one_of(
    st.text(max_size=12),
    st.integers().map(str),
    BIG.map(str),
    st.sampled_from(["", "-1", "0", "1", "true", "stdout", "stderr", "start", "end", "*"]),
)
QUERY = st.fixed_dictionaries(
    {},
    optional={
        "index": QUERY_VALUES,
        "wait": st.one_of(st.sampled_from(["1ms", "10ms", "0"]), st.text(max_size=8)).filter(
            _short_wait
        ),
        "offset": QUERY_VALUES,
        "origin": QUERY_VALUES,
        "type": QUERY_VALUES,
        "task": st.sampled_from(["t", "", "nope"]),
        "plain": QUERY_VALUES,
        "prefix": QUERY_VALUES,
        "namespace": QUERY_VALUES,
        "purge": QUERY_VALUES,
        "job": QUERY_VALUES,
        "status": QUERY_VALUES,
        "address": QUERY_VALUES,
        "stale": QUERY_VALUES,
        "path": st.one_of(
            QUERY_VALUES, st.sampled_from(["t.stdout.0", "/", "..", "../../etc/passwd", "\x00"])
        ),
        "limit": QUERY_VALUES,
        "follow": QUERY_VALUES,
        "node_id": st.sampled_from(["", NODE, "other-node"]),
    },
)
PATH_VALUES = st.one_of(
    st.sampled_from(["web", NODE, LOG_ALLOC, "x", "%00", "..", "a%2Fb"]),
    st.text(min_size=1, max_size=30).map(lambda t: quote(t, safe="")),
)


@settings(
    max_examples=int(os.environ.get("GITORCH_ROUTE_FUZZ_EXAMPLES", "600")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_route_answers_5xx_to_hostile_input(fuzzed: Fuzzed, data: st.DataObject) -> None:
    method, template = data.draw(st.sampled_from(fuzzed.routes), label="route")
    path = _PARAM.sub(lambda m: data.draw(PATH_VALUES, label=m.group(1)), template)
    params = data.draw(QUERY, label="query")
    params.setdefault("wait", "1ms")  # a blocking query without one waits 5 minutes
    if template.startswith(("/v1/client/fs/logs", "/v1/client/fs/stream")):
        params["follow"] = "false"  # a follow streams until the task ends: not a fuzz target
    body = data.draw(BODIES, label="body") if method in ("POST", "PUT") else None
    fuzzed.send(method, path, params=params, content=body)
    assert not fuzzed.failures, fuzzed.failures


def test_the_route_fuzz_covered_every_route_and_found_no_5xx(fuzzed: Fuzzed) -> None:
    """Runs after the fuzz (file order): every route was reached, and the counts are
    printed for the record (``pytest -s``)."""
    for method, template in fuzzed.routes:
        path = _PARAM.sub("x", template)
        body: bytes | None = _deep(100_000, "list") if method in ("POST", "PUT") else None
        fuzzed.send(method, path, params={"wait": "1ms"}, content=body)
    print(f"route fuzz: {fuzzed.sent} requests, status counts {sorted(fuzzed.by_status.items())}")
    assert fuzzed.sent >= 600 and not fuzzed.failures, fuzzed.failures


@pytest.fixture
def app_client(fuzzed: Fuzzed) -> TestClient:
    return fuzzed.client


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/validate/job", "/v1/job/web/plan",
                                  "/v1/jobs/parse", "/v1/node/x/eligibility",
                                  "/v1/internal/node/register", "/v1/internal/allocs/update",
                                  "/v1/gitops/sync"])  # fmt: skip
def test_json_nested_100000_deep_is_a_400_that_says_so(app_client: TestClient, path: str) -> None:
    response = app_client.post(path, content=_deep(100_000, "list"))
    assert response.status_code == 400
    assert f"nested deeper than {MAX_DEPTH} levels" in response.text


def test_nesting_at_the_limit_is_accepted_and_one_past_is_refused(app_client: TestClient) -> None:
    ok = {"Job": {**simple_job("nested"), "Meta": None}}
    config: dict[str, Any] = {}
    ok["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["deep"] = config
    for _ in range(MAX_DEPTH - 9):  # Job.TaskGroups[0].Tasks[0].Config.deep is 7 deep
        config["a"] = {}
        config = config["a"]
    assert app_client.post("/v1/validate/job", json=ok).status_code == 200
    config["a"] = {"b": {}}
    response = app_client.post("/v1/validate/job", json=ok)
    assert (
        response.status_code == 400
        and "$.Job.TaskGroups[0].Tasks[0].Config.deep.a" in response.text
    )


@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1, 10**40])
def test_integers_past_int64_are_refused_before_raft(
    app_client: TestClient, fuzzed: Fuzzed, value: int
) -> None:
    job = simple_job("bigint")
    job["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMB"] = value
    before = fuzzed.server.state.index
    response = app_client.post("/v1/jobs", content=json.dumps({"Job": job}))
    assert response.status_code == 400
    assert "$.Job.TaskGroups[0].Tasks[0].Resources.MemoryMB" in response.text
    assert "outside the range of a 64-bit integer" in response.text
    assert fuzzed.server.state.index == before


def test_a_body_over_the_size_limit_is_refused(app_client: TestClient) -> None:
    from gitorch.api.http import MAX_BODY_BYTES

    response = app_client.post("/v1/jobs", content=b" " * (MAX_BODY_BYTES + 1))
    assert response.status_code == 400 and "limit" in response.text


@pytest.mark.parametrize(
    ("offset", "status"),
    [
        (str(2**63), 400),
        (str(2**64), 400),
        ("9" * 30, 400),
        ("-1", 400),
        (str(2**63 - 1), 200),
        ("3", 200),
    ],  # fmt: skip
)
def test_log_offsets_are_range_checked(app_client: TestClient, offset: str, status: int) -> None:
    response = app_client.get(
        f"/v1/client/fs/logs/{LOG_ALLOC}",
        params={"task": "t", "type": "stdout", "offset": offset, "plain": "true"},
    )
    assert response.status_code == status
    if status == 400:
        assert "offset must be between 0 and 9223372036854775807" in response.text
    elif offset == "3":
        assert response.text.startswith("lo\nhello")


def test_blocking_index_past_uint64_is_a_400(app_client: TestClient) -> None:
    response = app_client.get("/v1/jobs", params={"index": str(2**64), "wait": "1ms"})
    assert response.status_code == 400 and "index must be between 0 and" in response.text


def test_an_empty_alloc_update_writes_nothing_to_raft(
    app_client: TestClient, fuzzed: Fuzzed
) -> None:
    before = fuzzed.server.state.index
    bodies: list[dict[str, Any]] = [{"Allocs": []}, {}, {"Allocs": None}]
    for body in bodies:
        response = app_client.post("/v1/internal/allocs/update", json=body)
        assert response.status_code == 200
        assert response.json()["Index"] == before
    assert fuzzed.server.state.index == before
