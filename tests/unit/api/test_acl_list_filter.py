"""Lists under ACLs: a client token sees exactly the items of the namespaces it may
read, whichever route lists them (the ACL gate filters each answer, judging each
namespace once per request)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from gitorch.api.app import make_app
from gitorch.core.acl import NAMESPACE_POLICY, Capability, allow, merge, namespace_predicate
from gitorch.core.model.acl import ACLToken
from gitorch.server.aclpolicy import parse_policy
from gitorch.server.server import Server
from tests.unit.api.fakes import api_client, in_memory_server, simple_job
from tests.unit.api.test_acl_api import bootstrap, make_token, put_policy

NODE = "node-1"
NAMESPACES = ("default", "dev", "prod-eu")
# everything but prod-*: a glob grant with a more specific glob denied
MOST = (
    'namespace "*" {\n  policy = "read"\n}\n'
    'namespace "prod-*" {\n  policy = "deny"\n}\n'
    'node {\n  policy = "read"\n}\n'
)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server(NODE)
    yield srv
    srv.stop()


@pytest.fixture
def client(server: Server) -> TestClient:
    return api_client(make_app(server, acl_tokens=set()))


def scaled_job(namespace: str) -> dict[str, Any]:
    job = {**simple_job(f"web-{namespace}", count=1), "Namespace": namespace}
    job["TaskGroups"][0]["Scaling"] = {"Min": 1, "Max": 3, "Enabled": True}
    return job


def wait_allocs(client: TestClient, root: dict[str, str], count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        allocs = client.get("/v1/allocations", params={"namespace": "*"}, headers=root).json()
        if len(allocs) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} allocations were not placed")


def test_lists_hold_only_the_namespaces_the_token_may_read(client: TestClient) -> None:
    root = bootstrap(client)
    for ns in NAMESPACES:
        resp = client.post("/v1/jobs", json={"Job": scaled_job(ns)}, headers=root)
        assert resp.status_code == 200, resp.text
    wait_allocs(client, root, len(NAMESPACES))
    put_policy(client, root, "most", MOST)
    most = {"X-Nomad-Token": make_token(client, root, Policies=["most"])["SecretID"]}
    everywhere = {"namespace": "*"}

    def namespaces(path: str, headers: dict[str, str], key: str = "Namespace") -> list[str]:
        resp = client.get(path, params=everywhere, headers=headers)
        assert resp.status_code == 200, resp.text
        assert int(resp.headers["content-length"]) == len(resp.content)
        return sorted(item[key] if key else item["Target"]["Namespace"] for item in resp.json())

    for path in ("/v1/jobs", "/v1/allocations", f"/v1/node/{NODE}/allocations"):
        assert namespaces(path, root) == sorted(NAMESPACES), path
        assert namespaces(path, most) == ["default", "dev"], path
    # scaling policies name their namespace in their Target only
    assert namespaces("/v1/scaling/policies", root, key="") == sorted(NAMESPACES)
    assert namespaces("/v1/scaling/policies", most, key="") == ["default", "dev"]
    # a list of one namespace the token reads whole is answered as the route wrote it
    plain = client.get("/v1/allocations", params={"namespace": "dev"}, headers=most)
    assert plain.content == client.get("/v1/allocations?namespace=dev", headers=root).content
    assert client.get("/v1/jobs", params={"namespace": "prod-eu"}, headers=most).status_code == 403


names = st.text(alphabet="ab-*", min_size=1, max_size=5)
levels = st.sampled_from(sorted(NAMESPACE_POLICY))


@given(
    st.lists(st.tuples(names, levels), max_size=4),
    st.lists(st.text(alphabet="ab-", min_size=1, max_size=5), max_size=8),
    st.sampled_from(sorted(NAMESPACE_POLICY["write"])),
)
def test_namespace_predicate_agrees_with_allow(
    grants: list[tuple[str, str]], asked: list[str], action: str
) -> None:
    rules = [
        parse_policy(f'namespace "{pattern}" {{\n  policy = "{level}"\n}}\n', f"p{i}")
        for i, (pattern, level) in enumerate(grants)
    ]
    token = ACLToken(accessor_id="a", type="client")
    allowed = namespace_predicate(token, merge(rules), action)
    for namespace in [*asked, *asked]:  # the second time from its memory
        expected = allow(token, rules, Capability("namespace", action), namespace)
        assert allowed(namespace) is expected
