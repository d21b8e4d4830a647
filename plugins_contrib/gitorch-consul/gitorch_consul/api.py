"""The one adapter over py-consul: the Consul HTTP API calls this plugin makes, with
Consul's documented paths and fields, and its errors turned into ``ProviderError``
(never carrying the token).

Agent: ``PUT /v1/agent/service/register?replace-existing-checks=true``, ``PUT
/v1/agent/service/deregister/:id``, ``GET /v1/agent/services?filter=``, ``PUT
/v1/agent/check/{pass,warn,fail}/:id?note=``. KV: ``GET /v1/kv/:key`` (``?recurse``).
Health and catalog: ``GET /v1/health/service/:name?passing``, ``GET
/v1/catalog/services``; reads take ``index``/``wait`` (blocking queries).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import consul  # type: ignore[import-untyped]
import requests
from gitorch.plugins.providers import ProviderError

DEFAULT_ADDRESS = "127.0.0.1:8500"
TIMEOUT_S = 90.0  # above the longest blocking query this plugin makes (MAX_WAIT_S)
MAX_WAIT_S = 60


def parse_address(address: str) -> tuple[str, str, int]:
    """``host:port`` or ``http(s)://host:port`` to (scheme, host, port)."""
    text = address if "://" in address else f"http://{address}"
    url = urllib.parse.urlsplit(text)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f'address must be "host:port" or "http(s)://host:port", not {address!r}')
    return url.scheme, url.hostname, url.port or (443 if url.scheme == "https" else 8500)


def check_config(config: Mapping[str, Any]) -> list[str]:
    problems = []
    try:
        parse_address(str(config.get("address", DEFAULT_ADDRESS)))
    except ValueError as exc:
        problems.append(f"consul: {exc}")
    if not isinstance(config.get("token", ""), str):
        problems.append("consul: token must be a string")
    return problems


class ConsulApi:
    """A Consul agent's HTTP API, as this plugin uses it."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.address = str(config.get("address", DEFAULT_ADDRESS))
        scheme, host, port = parse_address(self.address)
        token = str(config.get("token", "")) or None
        self._c = consul.Consul(
            host=host, port=port, scheme=scheme, token=token, connections_timeout=TIMEOUT_S
        )

    def _fail(self, what: str, exc: Exception) -> ProviderError:
        return ProviderError(f"consul at {self.address}: {what}: {type(exc).__name__}: {exc}")

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (consul.ConsulException, requests.RequestException) as exc:
            raise self._fail(what, exc) from None

    # -- agent services and checks ------------------------------------------------------

    def register(
        self,
        *,
        service_id: str,
        name: str,
        address: str,
        port: int,
        tags: list[str],
        meta: dict[str, str],
        checks: list[dict[str, Any]],
    ) -> None:
        self._call(
            f"registering service {service_id}",
            self._c.agent.service.register,
            name,
            service_id=service_id,
            address=address or None,
            port=port or None,
            tags=tags or None,
            meta=meta or None,
            check=checks[0] if checks else None,
            extra_checks=checks[1:],
            replace_existing_checks=True,
        )

    def deregister(self, service_id: str) -> None:
        self._call(
            f"deregistering service {service_id}", self._c.agent.service.deregister, service_id
        )

    def services_where(self, meta_key: str, value: str) -> list[str]:
        """IDs of the agent's services whose ``Meta[meta_key] == value``."""
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        found = self._call(
            "listing services",
            self._c.agent.services,
            filter_expr=f'Meta.{meta_key} == "{quoted}"',
        )
        return sorted(found) if isinstance(found, dict) else []

    def check_status(self, check_id: str, status: str, note: str) -> None:
        """A TTL check's status: ``passing``, ``warning`` or ``critical``."""
        fn = {
            "passing": self._c.agent.check.ttl_pass,
            "warning": self._c.agent.check.ttl_warn,
            "critical": self._c.agent.check.ttl_fail,
        }[status]
        self._call(f"updating check {check_id}", fn, check_id, notes=note or None)

    # -- reads (blocking queries) -------------------------------------------------------

    def kv(
        self, key: str, *, recurse: bool = False, index: int | None = None, wait: str | None = None
    ) -> tuple[int, Any]:
        return self._call(  # type: ignore[no-any-return]
            f"reading key {key}", self._c.kv.get, key, recurse=recurse, index=index, wait=wait
        )

    def health(
        self, name: str, *, index: int | None = None, wait: str | None = None
    ) -> tuple[int, Any]:
        return self._call(  # type: ignore[no-any-return]
            f"reading service {name}",
            self._c.health.service,
            name,
            passing=True,
            index=index,
            wait=wait,
        )

    def catalog(self, *, index: int | None = None, wait: str | None = None) -> tuple[int, Any]:
        return self._call(  # type: ignore[no-any-return]
            "reading the catalog", self._c.catalog.services, index=index, wait=wait
        )
