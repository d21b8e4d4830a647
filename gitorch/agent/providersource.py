"""The template functions the servers do not answer, from provider plugins: ``key``,
``keyOrDefault``, ``ls``, ``service`` and ``services`` from the template source named
``consul``, ``secret`` and ``secrets`` from the task's secrets lease (its ``vault``
block, :mod:`gitorch.agent.hooks.secrets`).

:class:`~gitorch.agent.templatesource.ServerTemplateSource` (the built-in ``nomad``
template source) hands these functions to an :class:`OtherSources`, which it carries
through ``fresh`` and ``for_task``. A function whose provider is not installed is an
error that says what to install; a ``secret`` in a task without a ``vault`` block is an
error that says to add one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitorch.jobspec.providers import missing
from gitorch.plugins.providers import SecretsLease, TaskIdentity, TemplateReader, TemplateSource
from gitorch.templating.errors import FunctionError
from gitorch.templating.source import KeyPair, ServiceInstance, ServiceSummary

_NO_VAULT_BLOCK = (
    "secret: the task has no vault block, so it has no secrets token; add vault { } "
    "to the task, its group or its job"
)
_ANONYMOUS = TaskIdentity(namespace="default", job_id="", group="", task="", alloc_id="")


class OtherSources:
    """One task's (or no task's) view of the provider plugins' template functions."""

    def __init__(
        self,
        consul: TemplateSource | None = None,
        *,
        secrets_installed: bool = False,
        task: TaskIdentity | None = None,
        lease: SecretsLease | None = None,
    ) -> None:
        self._consul = consul
        self._secrets_installed = secrets_installed
        self._task = task
        self._lease = lease
        self._reader: TemplateReader | None = None
        self._secrets_read = False

    def for_task(self, task: TaskIdentity, lease: SecretsLease | None = None) -> OtherSources:
        return OtherSources(
            self._consul, secrets_installed=self._secrets_installed, task=task, lease=lease
        )

    def fresh(self) -> OtherSources:
        """The same view for the next render (the providers' readers start afresh)."""
        return OtherSources(
            self._consul,
            secrets_installed=self._secrets_installed,
            task=self._task,
            lease=self._lease,
        )

    @property
    def lease(self) -> SecretsLease | None:
        return self._lease

    def reader(self) -> TemplateReader:
        """The consul-named source's reader for this render (its answers remembered)."""
        if self._consul is None:
            raise FunctionError(missing("template", "consul"))
        if self._reader is None:
            self._reader = self._consul.reader(self._task or _ANONYMOUS)
        return self._reader

    @property
    def watchable(self) -> bool:
        """A render asked the consul-named source: :meth:`wait_change` can block on it."""
        return self._reader is not None

    @property
    def secrets_read(self) -> bool:
        """A render read a secret (re-read on a timer: KV secrets have no index)."""
        return self._secrets_read

    def wait_change(self, timeout_s: float) -> bool:
        """Block until an answer of the consul-named source may have changed."""
        return self._reader.wait_change(timeout_s) if self._reader is not None else False

    # -- the functions ----------------------------------------------------------------

    def key(self, path: str) -> str | None:
        return self.reader().key(path)

    def key_list(self, prefix: str) -> list[KeyPair] | None:
        return self.reader().key_list(prefix)

    def catalog_services(self, name: str) -> list[ServiceInstance] | None:
        return self.reader().services(name)

    def catalog_service_list(self) -> list[ServiceSummary] | None:
        return self.reader().service_list()

    def _secrets(self) -> SecretsLease:
        if not self._secrets_installed:
            raise FunctionError(missing("secrets", "vault"))
        if self._lease is None:
            raise FunctionError(_NO_VAULT_BLOCK)
        self._secrets_read = True
        return self._lease

    def secret(self, path: str) -> Mapping[str, Any] | None:
        return self._secrets().read(path)

    def secret_list(self, path: str) -> list[str] | None:
        return self._secrets().list(path)
