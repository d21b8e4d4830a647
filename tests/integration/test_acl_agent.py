"""ACLs on a real dev agent started with ``acl { enabled = true }`` and not bootstrapped:
the CLI bootstraps it, applies policies and makes tokens; the HTTP API enforces them;
every route walked anonymously is refused unless Nomad leaves it open."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gitorch.api.authz import CHECKS, HOW_TO_PASS, OPEN
from tests.harness import Agent, GitRepo, wait_for

# A job that can never be placed: nothing runs, nothing outlives the test.
UNPLACEABLE = {
    "ID": "web",
    "Type": "service",
    "Datacenters": ["nowhere"],
    "TaskGroups": [
        {
            "Name": "web",
            "Count": 1,
            "Tasks": [
                {
                    "Name": "server",
                    "Driver": "raw_exec",
                    "Config": {"command": "/bin/true"},
                    "Resources": {"CPU": 100, "MemoryMB": 64},
                }
            ],
        }
    ],
}


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("empty", **{"README.md": "no jobs\n"})
    config = tmp_path / "acl.hcl"
    config.write_text("acl {\n  enabled = true\n}\n")
    a = Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs",
              "--config", str(config))  # fmt: skip
    a.start()
    try:
        yield a
    finally:
        a.stop()


def cli(agent: Agent, *args: str, token: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NOMAD_ADDR": agent.url, "GITORCH_ADDR": "", "GITORCH_TOKEN": ""}
    env["NOMAD_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "gitorch", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_bootstrap_policies_tokens_and_refusals(agent: Agent, tmp_path: Path) -> None:
    http = agent.http
    assert http.get("/v1/jobs").status_code == 403  # waiting for bootstrap
    root = ok_json(cli(agent, "acl", "bootstrap", "-json"))
    assert root["Type"] == "management"
    secret = root["SecretID"]
    again = cli(agent, "acl", "bootstrap")
    assert again.returncode == 1 and "already done" in again.stderr

    mgmt = {"X-Nomad-Token": secret}
    for ns in ("default", "dev"):
        job = {**UNPLACEABLE, "ID": f"web-{ns}", "Namespace": ns}
        assert http.post("/v1/jobs", json={"Job": job}, headers=mgmt).status_code == 200

    # a read-only policy token lists jobs but may not register one
    rules = tmp_path / "readonly.hcl"
    rules.write_text('namespace "default" {\n  policy = "read"\n}\n')
    applied = cli(agent, "acl", "policy", "apply", "readonly", str(rules), token=secret)
    assert applied.returncode == 0, applied.stderr
    ro = ok_json(cli(agent, "acl", "token", "create", "-policy", "readonly", "-json", token=secret))
    ro_headers = {"X-Nomad-Token": ro["SecretID"]}
    listed = http.get("/v1/jobs", headers=ro_headers)
    assert listed.status_code == 200 and [j["ID"] for j in listed.json()] == ["web-default"]
    refused = http.post("/v1/jobs", json={"Job": UNPLACEABLE}, headers=ro_headers)
    assert refused.status_code == 403 and "namespace:submit-job" in refused.text
    status = cli(agent, "job", "status", token=ro["SecretID"])
    assert status.returncode == 0 and "web-default" in status.stdout

    # a namespace-scoped token sees only its namespace, even when asking for all
    rules.write_text('namespace "dev" {\n  policy = "write"\n}\n')
    assert cli(agent, "acl", "policy", "apply", "dev", str(rules), token=secret).returncode == 0
    dev = ok_json(cli(agent, "acl", "token", "create", "-policy", "dev", "-json", token=secret))
    dev_headers = {"X-Nomad-Token": dev["SecretID"]}
    every = http.get("/v1/jobs", params={"namespace": "*"}, headers=dev_headers).json()
    assert [j["ID"] for j in every] == ["web-dev"]
    assert http.get("/v1/jobs", headers=dev_headers).status_code == 403

    # listings carry accessors, never secrets; token self shows the caller
    listing = cli(agent, "acl", "token", "list", token=secret)
    assert listing.returncode == 0 and ro["AccessorID"] in listing.stdout
    assert ro["SecretID"] not in listing.stdout and secret not in listing.stdout
    me = ok_json(cli(agent, "acl", "token", "self", "-json", token=ro["SecretID"]))
    assert me["AccessorID"] == ro["AccessorID"] and me["Policies"] == ["readonly"]
    info = cli(agent, "acl", "policy", "info", "readonly", token=secret)
    assert 'policy = "read"' in info.stdout
    assert "readonly" in cli(agent, "acl", "policy", "list", token=secret).stdout

    # a malformed policy is a 400 naming the line
    rules.write_text('namespace "default" {\n  policy = "read"\n  capabilities = ["fly"]\n}\n')
    bad = cli(agent, "acl", "policy", "apply", "bad", str(rules), token=secret)
    assert bad.returncode == 1 and "bad:3:" in bad.stderr and "HTTP 400" in bad.stderr

    # deleting a token revokes it
    assert cli(agent, "acl", "token", "delete", ro["AccessorID"], token=secret).returncode == 0
    assert http.get("/v1/jobs", headers=ro_headers).status_code == 403
    assert cli(agent, "acl", "policy", "delete", "readonly", token=secret).returncode == 0
    assert ro["SecretID"] not in agent.output() and secret not in agent.output()


def test_every_route_walked_anonymously_is_refused_unless_open(agent: Agent) -> None:
    http: httpx.Client = agent.http
    assert http.post("/v1/acl/bootstrap").status_code == 200
    walked = 0
    for (method, template), check in sorted(CHECKS.items()):
        if method == "*" or template == "/v1/acl/bootstrap" or template.startswith("/ui/"):
            continue  # UI pages read the API as the user: the API's check is theirs
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: m.group(1), template)
        resp = http.request(method, path, params={"wait": "1ms"}, content=b"{}")
        walked += 1
        if check is OPEN:
            # the route itself may refuse (the webhook checks its signature), the gate not
            assert HOW_TO_PASS not in resp.text, f"{method} {path} is open in Nomad"
        else:
            assert resp.status_code == 403, f"{method} {path} answered {resp.status_code}"
            assert "X-Nomad-Token" in resp.text and "NOMAD_TOKEN" in resp.text
    assert walked > 60


IDENTITY_JOB = {
    "ID": "idjob",
    "Type": "service",
    "TaskGroups": [
        {
            "Name": "g",
            "Count": 1,
            "Tasks": [
                {
                    "Name": "t",
                    "Driver": "raw_exec",
                    "KillTimeout": 1_000_000_000,
                    "Identity": {"Env": True, "File": True},
                    "Templates": [
                        {
                            "DestPath": "local/secret.txt",
                            "EmbeddedTmpl": (
                                '{{ with nomadVar "nomad/jobs/idjob" }}{{ .pw }}{{ end }}'
                            ),
                        }
                    ],
                    "Config": {"command": "/bin/sleep", "args": ["3600"]},
                    "Resources": {"CPU": 10, "MemoryMB": 16},
                }
            ],
        }
    ],
}


def test_workload_identity_works_with_acls_on(agent: Agent) -> None:
    """A task's identity is no ACL token, yet with ACLs on its template reads its job's
    variable and its NOMAD_TOKEN reads that variable over HTTP (and nothing else)."""
    root = ok_json(cli(agent, "acl", "bootstrap", "-json"))["SecretID"]
    admin = {"X-Nomad-Token": root}
    http = agent.http
    put = http.put("/v1/var/nomad/jobs/idjob", json={"Items": {"pw": "s3cret-acl"}}, headers=admin)
    assert put.status_code == 200, put.text
    reg = http.post("/v1/jobs", json={"Job": IDENTITY_JOB}, headers=admin)
    assert reg.status_code == 200, reg.text
    try:

        def rendered() -> Path | None:
            found = next(agent.data_dir.glob("**/t/local/secret.txt"), None)
            return found if found is not None and found.read_text() else None

        secret = wait_for(rendered, 60, "the template to render the variable under ACLs")
        assert secret.read_text() == "s3cret-acl"
        token_file = next(agent.data_dir.glob("**/t/secrets/nomad_token"))
        jwt = {"X-Nomad-Token": token_file.read_text()}
        own = http.get("/v1/var/nomad/jobs/idjob", headers=jwt)
        assert own.status_code == 200 and own.json()["Items"] == {"pw": "s3cret-acl"}
        assert http.get("/v1/jobs", headers=jwt).status_code == 403
        assert http.get("/v1/var/nomad/jobs/other", headers=jwt).status_code == 403
        # the node secret signs identities for its own node's allocations only
        node = {"X-Nomad-Token": (agent.data_dir / "client" / "node-secret").read_text().strip()}
        alloc = next(a for a in http.get("/v1/allocations", headers=admin).json()
                     if a["JobID"] == "idjob")  # fmt: skip
        ask = {"AllocID": alloc["ID"], "Task": "t", "NodeID": alloc["NodeID"]}
        signed = http.post("/v1/internal/identity/sign", json=ask, headers=node)
        assert signed.status_code == 200 and signed.json()["Token"].count(".") == 2
        ask["NodeID"] = "another-node"
        foreign = http.post("/v1/internal/identity/sign", json=ask, headers=node)
        assert foreign.status_code == 403 and "may not ask identities" in foreign.text
        assert http.post("/v1/internal/identity/sign", json=ask).status_code == 403
    finally:
        http.delete("/v1/job/idjob", params={"purge": "true"}, headers=admin)
        wait_for(
            lambda: all(
                a["ClientStatus"] != "running"
                for a in http.get("/v1/allocations", headers=admin).json()
            ),
            30,
            "the task to stop",
        )
