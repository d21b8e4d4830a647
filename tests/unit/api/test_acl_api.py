"""The ACL system over HTTP, against a real in-memory server with ACLs on and not yet
bootstrapped: bootstrap, policies, tokens, roles, the route table, refusals."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gitorch.api.app import make_app
from gitorch.api.authz import HOW_TO_PASS, undeclared
from gitorch.server.acl import AclResolver
from gitorch.server.server import Server
from tests.unit.api.fakes import api_client, in_memory_server, simple_job

READ_ONLY = 'namespace "default" {\n  policy = "read"\n}\n'
DEV_WRITE = 'namespace "dev" {\n  policy = "write"\n}\nnode {\n  policy = "read"\n}\n'


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server("node-1")
    yield srv
    srv.stop()


@pytest.fixture
def client(server: Server) -> TestClient:
    return api_client(make_app(server, acl_tokens=set()))


def bootstrap(client: TestClient) -> dict[str, str]:
    resp = client.post("/v1/acl/bootstrap")
    assert resp.status_code == 200, resp.text
    return {"X-Nomad-Token": resp.json()["SecretID"]}


def make_token(client: TestClient, root: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = client.post("/v1/acl/token", json={"Type": "client", **body}, headers=root)
    assert resp.status_code == 200, resp.text
    token: dict[str, Any] = resp.json()
    return token


def put_policy(client: TestClient, root: dict[str, str], name: str, rules: str) -> None:
    resp = client.post(f"/v1/acl/policy/{name}", json={"Rules": rules}, headers=root)
    assert resp.status_code == 200, resp.text


def test_bootstrap_once_returns_a_management_token(client: TestClient) -> None:
    assert client.get("/v1/jobs").status_code == 403  # locked until bootstrapped
    first = client.post("/v1/acl/bootstrap")
    assert first.status_code == 200
    token = first.json()
    assert token["Type"] == "management" and token["SecretID"] and token["AccessorID"]
    again = client.post("/v1/acl/bootstrap")
    assert again.status_code == 400
    assert "already done" in again.text
    root = {"X-Nomad-Token": token["SecretID"]}
    assert client.get("/v1/jobs", headers=root).status_code == 200
    self_ = client.get("/v1/acl/token/self", headers=root).json()
    assert self_["AccessorID"] == token["AccessorID"]


def test_read_only_token_lists_jobs_but_cannot_register(client: TestClient) -> None:
    root = bootstrap(client)
    put_policy(client, root, "readonly", READ_ONLY)
    token = make_token(client, root, Name="ro", Policies=["readonly"])
    ro = {"X-Nomad-Token": token["SecretID"]}
    assert client.get("/v1/jobs", headers=ro).status_code == 200
    resp = client.post("/v1/jobs", json={"Job": simple_job()}, headers=ro)
    assert resp.status_code == 403
    assert "namespace:submit-job" in resp.text and 'namespace "default"' in resp.text
    assert token["SecretID"] not in resp.text
    bearer = {"Authorization": f"Bearer {token['SecretID']}"}
    assert client.get("/v1/jobs", headers=bearer).status_code == 200


def test_namespace_scoped_token_sees_only_its_namespace(client: TestClient) -> None:
    root = bootstrap(client)
    for ns in ("default", "dev"):
        job = {**simple_job(), "ID": f"web-{ns}", "Namespace": ns}
        resp = client.post("/v1/jobs", json={"Job": job}, headers=root)
        assert resp.status_code == 200, resp.text
    put_policy(client, root, "dev-write", DEV_WRITE)
    dev = {"X-Nomad-Token": make_token(client, root, Policies=["dev-write"])["SecretID"]}
    assert client.get("/v1/jobs", headers=dev).status_code == 403  # default namespace
    listed = client.get("/v1/jobs", params={"namespace": "dev"}, headers=dev).json()
    assert [j["ID"] for j in listed] == ["web-dev"]
    everywhere = client.get("/v1/jobs", params={"namespace": "*"}, headers=dev).json()
    assert [j["ID"] for j in everywhere] == ["web-dev"]
    assert len(client.get("/v1/jobs", params={"namespace": "*"}, headers=root).json()) == 2
    # a body naming another namespace is judged by that namespace, not the query's
    sneaky = {**simple_job(), "ID": "sneak", "Namespace": "default"}
    resp = client.post("/v1/jobs?namespace=dev", json={"Job": sneaky}, headers=dev)
    assert resp.status_code == 403
    assert client.get("/v1/job/web-default", headers=dev).status_code == 403
    assert client.get("/v1/nodes", headers=dev).status_code == 200  # node read


def test_malformed_policy_is_400_naming_the_line(client: TestClient) -> None:
    root = bootstrap(client)
    bad = 'namespace "default" {\n  policy = "read"\n  capabilities = ["fly"]\n}\n'
    resp = client.post("/v1/acl/policy/bad", json={"Rules": bad}, headers=root)
    assert resp.status_code == 400
    assert "bad:3:" in resp.text and "'fly'" in resp.text
    syntax = client.post(
        "/v1/acl/policy/bad", json={"Rules": "node {\n  policy = \n"}, headers=root
    )
    assert syntax.status_code == 400 and "bad:" in syntax.text
    assert client.get("/v1/acl/policy/bad", headers=root).status_code == 404


def test_token_with_unknown_policy_is_refused(client: TestClient) -> None:
    root = bootstrap(client)
    resp = client.post("/v1/acl/token", json={"Policies": ["nope"]}, headers=root)
    assert resp.status_code == 400 and "'nope' does not exist" in resp.text


def test_listings_and_errors_never_show_secrets(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    root = bootstrap(client)
    put_policy(client, root, "readonly", READ_ONLY)
    token = make_token(client, root, Name="ro", Policies=["readonly"])
    listed = client.get("/v1/acl/tokens", headers=root)
    assert listed.status_code == 200
    assert token["AccessorID"] in listed.text
    assert token["SecretID"] not in listed.text and root["X-Nomad-Token"] not in listed.text
    read = client.get(f"/v1/acl/token/{token['AccessorID']}", headers=root).json()
    assert read["SecretID"] == "" and read["Policies"] == ["readonly"]
    client.get("/v1/acl/tokens", headers={"X-Nomad-Token": token["SecretID"]})
    assert token["SecretID"] not in caplog.text and root["X-Nomad-Token"] not in caplog.text


def test_unknown_and_missing_tokens_say_how_to_pass_one(client: TestClient) -> None:
    bootstrap(client)
    anonymous = client.post("/v1/jobs", json={"Job": simple_job()})
    assert anonymous.status_code == 403
    assert "namespace:submit-job" in anonymous.text and HOW_TO_PASS in anonymous.text
    for needle in ("-token", "NOMAD_TOKEN", "X-Nomad-Token", "Authorization: Bearer"):
        assert needle in anonymous.text
    unknown = client.get("/v1/jobs", headers={"X-Nomad-Token": "not-a-token"})
    assert unknown.status_code == 403 and "ACL token not found" in unknown.text
    assert "not-a-token" not in unknown.text


def test_anonymous_policy_applies_to_requests_without_a_token(client: TestClient) -> None:
    root = bootstrap(client)
    assert client.get("/v1/jobs").status_code == 403
    put_policy(client, root, "anonymous", READ_ONLY)
    assert client.get("/v1/jobs").status_code == 200
    assert client.post("/v1/jobs", json={"Job": simple_job()}).status_code == 403


def test_expired_token_is_refused(server: Server, client: TestClient) -> None:
    root = bootstrap(client)
    put_policy(client, root, "readonly", READ_ONLY)
    token = make_token(client, root, Policies=["readonly"], ExpirationTTL=60 * 10**9)
    assert token["ExpirationTime"]
    ro = {"X-Nomad-Token": token["SecretID"]}
    assert client.get("/v1/jobs", headers=ro).status_code == 200
    later = server.acl.clock() + 61 * 10**9
    resolver = AclResolver(lambda: server.state, clock=lambda: later)
    gated = api_client(make_app(server, acl_tokens=set(), resolver=resolver))
    resp = gated.get("/v1/jobs", headers=ro)
    assert resp.status_code == 403 and "ACL token expired" in resp.text


def test_roles_grant_their_policies(client: TestClient) -> None:
    root = bootstrap(client)
    put_policy(client, root, "readonly", READ_ONLY)
    role = client.post(
        "/v1/acl/role", json={"Name": "readers", "Policies": [{"Name": "readonly"}]}, headers=root
    )
    assert role.status_code == 200, role.text
    token = make_token(client, root, Roles=[{"Name": "readers"}])
    headers = {"X-Nomad-Token": token["SecretID"]}
    assert client.get("/v1/jobs", headers=headers).status_code == 200
    assert client.get("/v1/acl/roles", headers=headers).json()[0]["Name"] == "readers"
    assert client.get(f"/v1/acl/role/{role.json()['ID']}", headers=headers).status_code == 200
    # a client token reads its own policy, not others
    assert client.get("/v1/acl/policy/readonly", headers=headers).status_code == 200
    put_policy(client, root, "other", READ_ONLY)
    assert client.get("/v1/acl/policy/other", headers=headers).status_code == 403


def test_policy_and_token_delete(client: TestClient) -> None:
    root = bootstrap(client)
    put_policy(client, root, "readonly", READ_ONLY)
    token = make_token(client, root, Policies=["readonly"])
    assert client.delete(f"/v1/acl/token/{token['AccessorID']}", headers=root).status_code == 200
    gone = client.get("/v1/jobs", headers={"X-Nomad-Token": token["SecretID"]})
    assert gone.status_code == 403
    assert client.delete("/v1/acl/policy/readonly", headers=root).status_code == 200
    assert client.get("/v1/acl/policies", headers=root).json() == []


def test_static_config_tokens_are_management_tokens(server: Server) -> None:
    client = api_client(make_app(server, acl_tokens={"s3cret"}))
    headers = {"X-Nomad-Token": "s3cret"}
    assert client.post("/v1/jobs", json={"Job": simple_job()}, headers=headers).status_code == 200
    assert (
        client.post("/v1/acl/policy/p", json={"Rules": READ_ONLY}, headers=headers).status_code
        == 200
    )


def test_every_route_declares_its_acl_check(server: Server) -> None:
    app = make_app(server, acl_tokens=set())
    assert undeclared(app.routes) == []


def test_open_routes_answer_anonymously(client: TestClient) -> None:
    assert client.get("/v1/agent/health").status_code == 200
    assert client.get("/v1/status/leader").status_code == 200
    assert client.get("/v1/agent/self").status_code == 403
