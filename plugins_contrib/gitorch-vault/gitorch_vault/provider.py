"""The ``vault`` secrets provider: configuration, task logins and leases."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from gitorch.core.model.vault import Vault
from gitorch.plugins.providers import (
    ProviderContext,
    ProviderError,
    SecretsLease,
    SecretsLogin,
    SecretsProvider,
    TaskIdentity,
)

from gitorch_vault.api import VaultApi, check_address

DEFAULT_ADDRESS = "http://127.0.0.1:8200"
DEFAULT_JWT_PATH = "jwt-nomad"  # Nomad's default jwt_auth_backend_path


class VaultLease(SecretsLease):
    """One task's token: reads with it, renewal (or a new login), revocation."""

    def __init__(self, provider: VaultProvider, task: TaskIdentity, block: Vault) -> None:
        self._provider = provider
        self._task = task
        self._block = block
        self._lock = threading.Lock()
        login = provider.new_login(task, block)
        super().__init__(login)
        self._api = provider.api.with_token(login.token)

    def read(self, path: str) -> Mapping[str, Any] | None:
        return self._api.read(path.strip("/"))

    def list(self, path: str) -> list[str] | None:
        return self._api.list(path.strip("/"))

    def renew(self) -> SecretsLogin:
        with self._lock:
            try:
                if not self.login.renewable:
                    raise ProviderError("the token is not renewable")
                renewed = self._api.renew_self()
                self.login = SecretsLogin(self.login.token, renewed.renewable, renewed.ttl_s)
            except ProviderError:
                self.login = self._provider.new_login(self._task, self._block)
                self._api = self._provider.api.with_token(self.login.token)
            return self.login

    def close(self) -> None:
        self._api.revoke_self()


class VaultProvider(SecretsProvider):
    name = "vault"
    config_block = "vault"

    def __init__(self, config: Mapping[str, Any], context: ProviderContext) -> None:
        super().__init__(config, context)
        self.enabled = bool(config.get("enabled", False))
        self.address = str(config.get("address") or DEFAULT_ADDRESS)
        self.jwt_path = str(config.get("jwt_auth_backend_path") or DEFAULT_JWT_PATH)
        self.default_role = str(config.get("create_from_role") or "")
        self.api = VaultApi(self.address, str(config.get("token") or ""))
        self._token_auth = bool(config.get("token"))
        self._checked = False

    @classmethod
    def validate_plugin_config(cls, config: Mapping[str, Any]) -> list[str]:
        problem = check_address(str(config.get("address") or DEFAULT_ADDRESS))
        return [problem] if problem else []

    def login(self, task: TaskIdentity, block: Vault) -> SecretsLease:
        if not self.enabled:
            raise ProviderError(
                "vault is not enabled on this agent: set vault { enabled = true address = "
                '"..." } in the agent config'
            )
        if self._token_auth and not self._checked:
            self.check_token()  # the agent's token works (auth/token/lookup-self)
            self._checked = True
        return VaultLease(self, task, block)

    def new_login(self, task: TaskIdentity, block: Vault) -> SecretsLogin:
        """A fresh token for ``task``: a child of the agent's token (token auth), else a
        JWT login with the task's workload identity."""
        role = block.role or self.default_role
        if self._token_auth:
            return self.api.create_token(role, list(block.policies))
        if not task.token:
            who = f"{task.alloc_id}/{task.task}"
            raise ProviderError(f"task {who}: no workload identity to log in to vault with")
        if not role:
            raise ProviderError(
                "JWT login needs a role: set role in the vault block or create_from_role in "
                "the agent's vault block"
            )
        return self.api.jwt_login(self.jwt_path, role, task.token)

    def check_token(self) -> Mapping[str, Any]:
        """The agent token's own lookup (token auth): its policies and TTL."""
        return self.api.lookup_self()
