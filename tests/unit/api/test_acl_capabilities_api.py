"""``GET /v1/internal/ui/capabilities`` against a real in-memory server with ACLs on:
the answer is the gate's own decision (a capability listed is one the gate lets through,
one missing is refused), most-specific namespace globs and deny included; anonymous,
management, unknown tokens and ACLs off; and the UI's reading of the answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gitorch.api.app import make_app
from gitorch.api.routes_aclcaps import PATH
from gitorch.server.server import Server
from gitorch.ui.caps import Caps, from_answer
from tests.unit.api.fakes import api_client, in_memory_server, simple_job

POLICY = """
namespace "default" { policy = "read" }
namespace "prod-*" { policy = "write" }
namespace "prod-secret" {
  policy = "deny"
}
namespace "dev" {
  capabilities = ["list-jobs", "submit-job"]
}
operator { policy = "read" }
node { policy = "write" }
"""
READ = {
    "csi-list-volume", "csi-read-volume", "list-jobs", "list-scaling-policies", "parse-job",
    "read-job", "read-job-scaling", "read-scaling-policy",
}  # fmt: skip


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server("node-1")
    yield srv
    srv.stop()


@pytest.fixture
def client(server: Server) -> TestClient:
    return api_client(make_app(server, acl_tokens={"root-token"}))


ROOT = {"X-Nomad-Token": "root-token"}


def caps(client: TestClient, headers: dict[str, str], namespace: str = "") -> dict[str, Any]:
    params = {"namespace": namespace} if namespace else {}
    r = client.get(PATH, params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def client_token(client: TestClient, rules: str = POLICY) -> dict[str, str]:
    r = client.post("/v1/acl/policy/mixed", json={"Rules": rules}, headers=ROOT)
    assert r.status_code == 200, r.text
    r = client.post("/v1/acl/token", json={"Type": "client", "Policies": ["mixed"]}, headers=ROOT)
    assert r.status_code == 200, r.text
    return {"X-Nomad-Token": r.json()["SecretID"]}


def test_a_client_token_gets_the_gates_own_answer(client: TestClient) -> None:
    token = client_token(client)
    default = caps(client, token)
    assert default["Management"] is False
    assert set(default["Namespaces"]["default"]) == READ
    assert default["Scopes"] == {
        "node": ["read", "write"],
        "agent": [],
        "operator": ["read"],
        "quota": [],
        "plugin": [],
    }
    web = caps(client, token, "prod-web")["Namespaces"]["prod-web"]
    assert {"submit-job", "alloc-exec", "read-fs", "read-logs"} <= set(web) and READ <= set(web)
    assert "alloc-node-exec" not in web  # not part of the write policy
    assert caps(client, token, "prod-secret")["Namespaces"] == {"prod-secret": []}  # exact deny
    assert caps(client, token, "dev")["Namespaces"] == {"dev": ["list-jobs", "submit-job"]}
    assert caps(client, token, "other")["Namespaces"] == {"other": []}
    # the answer agrees with the gate: a listed capability passes it, a missing one is refused
    for namespace, job_id in (("prod-web", "a"), ("dev", "b"), ("default", "c")):
        job = {**simple_job(job_id), "Namespace": namespace}
        may = "submit-job" in caps(client, token, namespace)["Namespaces"][namespace]
        r = client.post("/v1/jobs", json={"Job": job}, headers=token)
        assert (r.status_code == 200) is may, (namespace, r.text)
    assert client.get("/v1/operator/scheduler/configuration", headers=token).status_code == 200
    r = client.post("/v1/operator/scheduler/configuration", json={}, headers=token)
    assert r.status_code == 403  # operator: read only, as the answer says


def test_every_namespace_at_once_lists_only_those_with_rights(client: TestClient) -> None:
    for namespace, job_id in (("prod-web", "a"), ("prod-secret", "b"), ("elsewhere", "c")):
        job = {**simple_job(job_id), "Namespace": namespace}
        assert client.post("/v1/jobs", json={"Job": job}, headers=ROOT).status_code == 200
    token = client_token(client)
    listed = caps(client, token, "*")["Namespaces"]
    assert sorted(listed) == ["default", "prod-web"]  # prod-secret denied, elsewhere nothing
    assert "submit-job" in listed["prod-web"] and "submit-job" not in listed["default"]


def test_management_anonymous_unknown_and_acls_off(server: Server, client: TestClient) -> None:
    assert caps(client, ROOT)["Management"] is True
    anonymous = caps(client, {})  # no anonymous policy yet: nothing
    assert anonymous == {
        "Management": False,
        "Namespaces": {"default": []},
        "Scopes": {"node": [], "agent": [], "operator": [], "quota": [], "plugin": []},
    }
    r = client.post(
        "/v1/acl/policy/anonymous",
        json={"Rules": 'namespace "*" { policy = "read" }'},
        headers=ROOT,
    )
    assert r.status_code == 200, r.text
    assert set(caps(client, {})["Namespaces"]["default"]) == READ
    r = client.get(PATH, headers={"X-Nomad-Token": "not-a-token"})
    assert r.status_code == 403 and "ACL token not found" in r.text
    off = api_client(make_app(server))
    r = off.get(PATH)
    assert r.status_code == 400 and "ACL support disabled" in r.text


def test_the_ui_reads_the_answer() -> None:
    answer = {
        "Management": False,
        "Namespaces": {"prod": ["read-job", "submit-job"]},
        "Scopes": {"operator": ["read"], "node": []},
    }
    got = from_answer(answer)
    assert got.namespace("submit-job", "prod") and not got.namespace("submit-job", "default")
    assert got.scope("operator", "read") and not got.scope("operator", "write")
    assert not got.scope("quota", "read")
    management = from_answer({"Management": True})
    assert management.namespace("alloc-exec", "x") and management.scope("operator", "write")
    unknown = Caps(acl=True)  # the route refused or missing: every button shows
    assert unknown.namespace("submit-job") and unknown.scope("operator", "write")
    with pytest.raises(TypeError):
        from_answer({"Namespaces": {"x": "read-job"}, "Scopes": {}})
