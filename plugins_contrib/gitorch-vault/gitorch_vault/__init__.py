"""gitorch-vault: HashiCorp Vault as gitorch's ``vault`` secrets provider.

A task with a ``vault`` block (job, group or task level) is logged in before it starts:
with its workload identity (JWT auth, ``POST /v1/auth/<jwt_auth_backend_path>/login``
with the block's ``role``, else the agent's ``create_from_role``), or, when the agent's
``vault { token }`` is set, with a child token of that token (``POST
/v1/auth/token/create[/<role>]`` with the block's ``policies``). The task gets the
token (``VAULT_TOKEN``, ``secrets/vault_token``); its templates read ``secret
"secret/data/app"`` (KV v2, ``GET /v1/<path>``) and ``secrets`` (``LIST``) with it;
the agent renews it (``/v1/auth/token/renew-self``) and gives it back when the task
ends (``/v1/auth/token/revoke-self``).
"""

from __future__ import annotations

from collections.abc import Sequence

from gitorch.plugins.hookspecs import hookimpl
from gitorch.plugins.providers import SecretsProvider

from gitorch_vault.provider import VaultLease, VaultProvider

__all__ = ["VaultLease", "VaultProvider"]


@hookimpl
def register_secret_providers() -> Sequence[type[SecretsProvider]]:
    return [VaultProvider]
