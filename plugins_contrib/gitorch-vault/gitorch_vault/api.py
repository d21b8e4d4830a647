"""The one adapter over hvac: the Vault HTTP API calls this plugin makes, with Vault's
documented paths, and hvac's errors turned into ``ProviderError`` that never carry a
token or a secret.

``GET /v1/auth/token/lookup-self``, ``POST /v1/auth/<path>/login`` (JWT), ``POST
/v1/auth/token/create[/<role>]``, ``POST /v1/auth/token/renew-self``, ``POST
/v1/auth/token/revoke-self``, ``GET /v1/<path>`` (a KV v2 read: ``<mount>/data/<path>``),
``GET /v1/<path>?list=true``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import hvac  # type: ignore[import-untyped]
import requests
from gitorch.plugins.providers import ProviderError, SecretsLogin
from hvac import exceptions as hvac_errors

TIMEOUT_S = 10


def check_address(address: str) -> str:
    url = urllib.parse.urlsplit(address)
    if url.scheme not in ("http", "https") or not url.hostname:
        return f'vault: address must be "http(s)://host:port", not {address[:60]!r}'
    return ""


class VaultApi:
    """One Vault token's view of the API (the agent's, or a task's)."""

    def __init__(self, address: str, token: str = "") -> None:
        self.address = address
        self._c = hvac.Client(url=address, token=token or None, timeout=TIMEOUT_S)

    def with_token(self, token: str) -> VaultApi:
        return VaultApi(self.address, token)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except hvac_errors.InvalidPath:
            return None
        except (hvac_errors.VaultError, requests.RequestException) as exc:
            name = type(exc).__name__
            errors = getattr(exc, "errors", None)
            detail = "; ".join(str(e) for e in errors)[:200] if errors else name
            raise ProviderError(f"vault at {self.address}: {what}: {detail}") from None

    @staticmethod
    def _login(answer: Any, what: str) -> SecretsLogin:
        auth = answer.get("auth") if isinstance(answer, Mapping) else None
        if not isinstance(auth, Mapping) or not auth.get("client_token"):
            raise ProviderError(f"vault: {what}: the answer holds no auth.client_token")
        return SecretsLogin(
            token=str(auth["client_token"]),
            renewable=bool(auth.get("renewable", False)),
            ttl_s=float(auth.get("lease_duration") or 0),
        )

    def lookup_self(self) -> Mapping[str, Any]:
        found = self._call("looking up its token", self._c.auth.token.lookup_self)
        return dict(found.get("data") or {}) if isinstance(found, Mapping) else {}

    def jwt_login(self, mount: str, role: str, jwt: str) -> SecretsLogin:
        answer = self._call(
            f"JWT login at auth/{mount} (role {role!r})",
            self._c.auth.jwt.jwt_login,
            role=role,
            jwt=jwt,
            use_token=False,
            path=mount,
        )
        return self._login(answer, f"JWT login at auth/{mount}")

    def create_token(self, role: str, policies: list[str]) -> SecretsLogin:
        answer = self._call(
            "creating a task token",
            self._c.auth.token.create,
            role_name=role or None,
            policies=policies or None,
            renewable=True,
        )
        return self._login(answer, "creating a task token")

    def renew_self(self) -> SecretsLogin:
        return self._login(self._call("renewing", self._c.auth.token.renew_self), "renewing")

    def revoke_self(self) -> None:
        self._call("revoking", self._c.auth.token.revoke_self)

    def read(self, path: str) -> Mapping[str, Any] | None:
        found = self._call(f"reading {path}", self._c.read, path)
        data = found.get("data") if isinstance(found, Mapping) else None
        return dict(data) if isinstance(data, Mapping) else None

    def list(self, path: str) -> list[str] | None:
        found = self._call(f"listing {path}", self._c.list, path)
        data = found.get("data") if isinstance(found, Mapping) else None
        keys = data.get("keys") if isinstance(data, Mapping) else None
        return [str(k) for k in keys] if isinstance(keys, list) else None
