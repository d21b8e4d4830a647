"""gitorch-vault through a real dev agent against the in-process fake Vault
(tests/fake_vault.py; no Vault server can be had here): a raw_exec task with a job-level
``vault { role = "web" }`` is logged in with its workload identity (JWT auth, verified by
the fake against the agent's /.well-known/jwks.json with audience vault.io), gets
VAULT_TOKEN and secrets/vault_token, and its template renders ``{{ with secret
"secret/data/app" }}{{ .Data.data.password }}{{ end }}``; the password appears in
neither the agent's log nor its API; the token is revoked when the job stops."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_vault import FakeVault, Role
from vault_agent_helpers import DevAgent, git_repo, wait_for

pytestmark = pytest.mark.timeout(180)
PASSWORD = "s3cr3t-pa55word-1f9a"

APP = """
job "app" {
  vault {
    role = "web"
  }
  group "app" {
    task "app" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo \\"$VAULT_TOKEN\\" > local/env_token; exec sleep 600"]
      }
      template {
        data        = <<EOT
password={{ with secret "secret/data/app" }}{{ .Data.data.password }}{{ end }}
EOT
        destination = "secrets/app.env"
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
"""


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    with FakeVault() as fake:
        fake.state.policies["app-read"] = ["secret/data/app"]
        fake.state.roles["web"] = Role(bound_audiences=["vault.io"], policies=["app-read"])
        fake.put_secret("secret", "app", {"password": PASSWORD})
        yield fake


@pytest.fixture
def agent(tmp_path: Path, vault: FakeVault) -> Iterator[DevAgent]:
    repo = git_repo(tmp_path / "repo", {"jobs/app.nomad.hcl": APP})
    config = f'vault {{\n  enabled = true\n  address = "{vault.address}"\n}}\n'
    a = DevAgent(tmp_path, repo, config)
    vault.state.jwks_url = f"http://127.0.0.1:{a.port}/.well-known/jwks.json"
    a.start()
    try:
        yield a
    finally:
        a.stop()


def test_secret_template_with_jwt_auth(agent: DevAgent, vault: FakeVault, tmp_path: Path) -> None:
    (alloc,) = wait_for(lambda: agent.running("app"), 60, "app running")
    task_dir = next((tmp_path / "data").glob(f"**/{alloc['ID']}/app"))
    rendered = task_dir / "secrets" / "app.env"
    assert rendered.read_text() == f"password={PASSWORD}\n"

    # the task's token: from a JWT login with its identity, in the file and the env
    assert ("POST", "/v1/auth/jwt-nomad/login") in vault.state.log
    token_file = task_dir / "secrets" / "vault_token"
    token = token_file.read_text()
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert vault.live_tokens() == {token}
    wait_for(lambda: (task_dir / "local" / "env_token").exists(), 10, "the task's env")
    assert (task_dir / "local" / "env_token").read_text().strip() == token

    # the secret and the token are in neither the agent's log nor its API
    seen = json.dumps([
        agent.get(f"/v1/allocation/{alloc['ID']}"),
        agent.get("/v1/job/app"),
        agent.get("/v1/job/app/allocations"),
    ])  # fmt: skip
    for secret in (PASSWORD, token):
        assert secret not in agent.output()
        assert secret not in seen

    agent.http.delete("/v1/job/app", params={"force": "true"}).raise_for_status()
    wait_for(lambda: vault.live_tokens() == set(), 30, "the task's token revoked")
