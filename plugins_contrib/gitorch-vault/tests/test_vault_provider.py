"""The vault provider against the in-process fake Vault (tests/fake_vault.py): token
auth (lookup-self, a child token per task with the block's policies), KV v2 reads and
lists with the task's token, renewal, revocation when the task ends, and errors that
name what failed without a token or a secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_vault import FakeVault
from gitorch.core.model.vault import Vault
from gitorch.plugins.providers import ProviderContext, ProviderError, TaskIdentity

from gitorch_vault import VaultProvider

TASK = TaskIdentity(namespace="default", job_id="web", group="web", task="t", alloc_id="a1")
PASSWORD = "hunter2-correct-horse"


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    with FakeVault() as fake:
        fake.state.policies["app"] = ["secret/data/app", "secret/metadata/"]
        fake.put_secret("secret", "app", {"password": PASSWORD})
        fake.put_secret("secret", "other", {"password": "not-yours"})
        yield fake


def provider(vault: FakeVault, **extra: object) -> VaultProvider:
    config = {"enabled": True, "address": vault.address, "token": vault.root, **extra}
    return VaultProvider(config, ProviderContext())


def test_token_auth_reads_renews_and_revokes(vault: FakeVault) -> None:
    lease = provider(vault).login(TASK, Vault(policies=["app"]))
    assert lease.token != vault.root and vault.live_tokens() == {lease.token}
    found = lease.read("secret/data/app")
    assert found is not None and found["data"] == {"password": PASSWORD}
    assert lease.list("secret/metadata/") == ["app", "other"]
    assert lease.read("secret/data/app-missing") is None  # allowed, not there
    assert lease.renew().token == lease.token
    lease.close()
    assert vault.live_tokens() == set()
    assert ("GET", "/v1/auth/token/lookup-self") in vault.state.log


def test_a_read_outside_the_policies_is_refused_without_secrets(vault: FakeVault) -> None:
    lease = provider(vault).login(TASK, Vault(policies=["app"]))
    with pytest.raises(ProviderError) as err:
        lease.read("secret/data/other")
    assert "permission denied" in str(err.value) and vault.address in str(err.value)
    assert lease.token not in str(err.value) and "not-yours" not in str(err.value)


def test_a_bad_agent_token_and_a_disabled_vault_are_errors(vault: FakeVault) -> None:
    with pytest.raises(ProviderError, match="looking up its token: permission denied") as err:
        provider(vault, token="s.not-a-real-token").login(TASK, Vault())
    assert "s.not-a-real-token" not in str(err.value)
    with pytest.raises(ProviderError, match="vault is not enabled on this agent"):
        provider(vault, enabled=False).login(TASK, Vault())


def test_jwt_login_needs_an_identity_and_a_role(vault: FakeVault) -> None:
    p = VaultProvider({"enabled": True, "address": vault.address}, ProviderContext())
    with pytest.raises(ProviderError, match="no workload identity"):
        p.login(TASK, Vault(role="web"))
    with pytest.raises(ProviderError, match="needs a role"):
        p.login(TaskIdentity("default", "web", "web", "t", "a1", token="x.y.z"), Vault())


def test_config_is_checked() -> None:
    assert VaultProvider.validate_plugin_config({"address": "127.0.0.1:8200"})
    assert not VaultProvider.validate_plugin_config({"address": "https://vault:8200"})
