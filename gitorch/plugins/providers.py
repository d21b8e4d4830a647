"""Provider plugins: what serves ``provider = "..."`` on a ``service``, the key/value and
service-catalog template functions, and ``vault`` blocks with ``secret``/``secrets``.

Three kinds, each a class with a unique ``name``, returned by a ``register_*`` hook
(:mod:`gitorch.plugins.hookspecs`) and built once per agent with the agent config block
named ``config_block`` (``consul { }``, ``vault { }``) and a :class:`ProviderContext`:

* :class:`ServiceProvider`: registers an allocation's services somewhere, deregisters
  them, and records the results of the checks the client runs. ``"nomad"`` (built in)
  writes them to the servers; ``"consul"`` (gitorch-consul) to a Consul agent.
* :class:`TemplateSource`: answers template functions for one task. The source named
  ``"nomad"`` answers ``nomadService(s)`` and ``nomadVar*``; the one named ``"consul"``
  answers ``key``, ``keyOrDefault``, ``ls``, ``service`` and ``services``.
* :class:`SecretsProvider`: logs a task in (its ``vault`` block, its workload identity)
  and reads secrets with the token it gets (``secret``, ``secrets``). ``"vault"``
  (gitorch-vault).

Built-ins are registered through the same hooks (entry point ``builtin``). A method
that cannot reach its backend raises :class:`ProviderError` (or ``OSError``): the agent
retries. Anything else a plugin raises is reported with the plugin's name and the
call is skipped, never fatal to the agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from gitorch.core.model.service import CheckResult, Service, ServiceRegistration
from gitorch.core.model.vault import Vault
from gitorch.errors import GitorchError
from gitorch.templating.source import (
    KeyPair,
    ServiceInstance,
    ServiceSummary,
    VariableMeta,
)


class ProviderError(GitorchError):
    """A provider could not do what was asked (its backend is unreachable or refused);
    the message names what and where, and never holds a secret."""


class ServerSink(Protocol):
    """The agent's connection to the servers, as the built-in nomad providers use it."""

    def upsert_services(self, services: list[ServiceRegistration]) -> int: ...

    def delete_services(self, alloc_ids: list[str]) -> int: ...

    def update_checks(self, alloc_id: str, results: list[CheckResult]) -> int: ...


@dataclass(frozen=True)
class ProviderContext:
    """What the agent hands each provider it builds."""

    node_id: str = ""
    datacenter: str = "dc1"
    servers: ServerSink | None = None
    """The agent's server connection (the built-in service provider writes through it)."""
    server_addresses: tuple[str, ...] = ()
    """The servers' HTTP addresses (the built-in template source reads from them)."""
    http_client: Any = None
    """An ``httpx.Client`` set up for the servers' TLS, or None for a plain one."""


@dataclass(frozen=True)
class TaskIdentity:
    """The task a template renders for or a secret is read for, and its workload
    identity (a JWT the servers signed; empty when it has none)."""

    namespace: str
    job_id: str
    group: str
    task: str
    alloc_id: str
    token: str = field(default="", repr=False)


class Provider:
    """What every provider class has: a name, the agent config block it reads, a config
    check, construction, and ``close``."""

    name: ClassVar[str] = ""
    config_block: ClassVar[str] = ""
    """The agent config block this provider is configured by ("" for none)."""

    def __init__(self, config: Mapping[str, Any], context: ProviderContext) -> None:
        self.config = dict(config)
        self.context = context

    @classmethod
    def validate_plugin_config(cls, config: Mapping[str, Any]) -> list[str]:
        """Problems with ``config`` (the agent config block), one message each."""
        return []

    def close(self) -> None:
        """Release connections and threads; the agent is stopping."""


@dataclass(frozen=True)
class ProviderService:
    """One service instance of one allocation for a service provider to register."""

    registration: ServiceRegistration
    """ID, name, namespace, node, datacenter, job, allocation, tags, address, port."""
    service: Service
    """The jobspec's ``service`` block (meta, checks, provider)."""
    task: str
    group: str
    check_ids: tuple[str, ...] = ()
    """The ID of each check in ``service.checks``, as in the check results."""


class ServiceProvider(Provider):
    """Keeps allocations' service registrations in a catalog (``provider = name``)."""

    def upsert(self, services: Sequence[ProviderService]) -> None:
        """Register (or update) these instances. For each allocation among them, they
        are all of its instances this provider serves: any other it registered for that
        allocation before is to be removed."""
        raise NotImplementedError

    def delete(self, alloc_ids: Sequence[str]) -> None:
        """Remove every instance (and check) of these allocations."""
        raise NotImplementedError

    def update_checks(self, alloc_id: str, results: Sequence[CheckResult]) -> None:
        """The latest results of an allocation's checks (only when one changed)."""
        raise NotImplementedError


class TemplateReader:
    """One task's view of a template source, for one render. Every lookup answers
    ``None`` while it has nothing (yet): the template waits. The base answers nothing;
    a source overrides what it serves."""

    def fresh(self) -> TemplateReader:
        """A reader for the next render (nothing remembered); this one by default."""
        return self

    def services(self, name: str) -> list[ServiceInstance] | None:
        return None

    def service_list(self) -> list[ServiceSummary] | None:
        return None

    def variable(self, path: str) -> Mapping[str, str] | None:
        return None

    def variable_list(self, prefix: str) -> list[VariableMeta] | None:
        return None

    def key(self, path: str) -> str | None:
        return None

    def key_list(self, prefix: str) -> list[KeyPair] | None:
        return None

    def wait_change(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` until an answer this reader gave may have changed
        (blocking queries where the backend has them); True if one did."""
        return False


class TemplateSource(Provider):
    """Answers template functions (see the module docstring for which, by name)."""

    def reader(self, task: TaskIdentity) -> TemplateReader:
        raise NotImplementedError


@dataclass(frozen=True)
class SecretsLogin:
    """A task's login to a secrets provider: the token handed to the task."""

    token: str = field(repr=False)
    renewable: bool = False
    ttl_s: float = 0.0
    """Seconds until the token expires (0: it does not)."""


class SecretsLease:
    """One task's secrets session: its token, reads with it, renewal, and the end."""

    def __init__(self, login: SecretsLogin) -> None:
        self.login = login

    @property
    def token(self) -> str:
        return self.login.token

    def read(self, path: str) -> Mapping[str, Any] | None:
        """The response ``data`` of ``path`` (for KV v2: ``{"data": ..., "metadata":
        ...}``), or None if there is nothing there."""
        raise NotImplementedError

    def list(self, path: str) -> list[str] | None:
        """The names under ``path``, or None if there is nothing there."""
        raise NotImplementedError

    def renew(self) -> SecretsLogin:
        """Renew the token (or log in again when it cannot be renewed); the login now
        in force. A new token (``token`` differs) is the task's ``change_mode`` event."""
        raise NotImplementedError

    def close(self) -> None:
        """The task stopped: give the token back (revoke it) if the provider can."""


class SecretsProvider(Provider):
    """Logs tasks in to a secrets backend (a ``vault`` block)."""

    def login(self, task: TaskIdentity, block: Vault) -> SecretsLease:
        """Log ``task`` in as ``block`` asks (its ``role``, ``policies``), using its
        workload identity where the provider authenticates with one."""
        raise NotImplementedError


__all__ = [
    "Provider",
    "ProviderContext",
    "ProviderError",
    "ProviderService",
    "SecretsLease",
    "SecretsLogin",
    "SecretsProvider",
    "ServerSink",
    "ServiceProvider",
    "TaskIdentity",
    "TemplateReader",
    "TemplateSource",
]
