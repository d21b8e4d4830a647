"""gitorch's own ``nomad`` providers, registered through the provider hooks like any
plugin's (:mod:`gitorch.plugins.builtin`): the service provider writes registrations
and check results to the servers (Nomad's native service discovery), the template
source reads ``nomadService(s)`` and ``nomadVar*`` from the servers' HTTP API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitorch.agent.templatesource import ServerTemplateSource
from gitorch.core.model.service import CheckResult
from gitorch.plugins.providers import (
    ProviderContext,
    ProviderError,
    ProviderService,
    ServerSink,
    ServiceProvider,
    TaskIdentity,
    TemplateReader,
    TemplateSource,
)
from gitorch.templating.source import ServiceInstance, ServiceSummary, VariableMeta


class NomadServiceProvider(ServiceProvider):
    """``provider = "nomad"``: registrations live in the servers' state."""

    name = "nomad"

    def __init__(self, config: Mapping[str, Any], context: ProviderContext) -> None:
        super().__init__(config, context)
        if context.servers is None:
            raise ProviderError("the nomad service provider needs the agent's server connection")
        self._sink: ServerSink = context.servers

    def upsert(self, services: Sequence[ProviderService]) -> None:
        self._sink.upsert_services([s.registration for s in services])

    def delete(self, alloc_ids: Sequence[str]) -> None:
        self._sink.delete_services(list(alloc_ids))

    def update_checks(self, alloc_id: str, results: Sequence[CheckResult]) -> None:
        self._sink.update_checks(alloc_id, list(results))


class NomadReader(TemplateReader):
    """One task's reads of the servers' services and variables."""

    def __init__(self, source: ServerTemplateSource) -> None:
        self.source = source

    def fresh(self) -> NomadReader:
        return NomadReader(self.source.fresh())

    def services(self, name: str) -> list[ServiceInstance] | None:
        return self.source.services(name)

    def service_list(self) -> list[ServiceSummary] | None:
        return self.source.service_list()

    def variable(self, path: str) -> Mapping[str, str] | None:
        return self.source.variable(path)

    def variable_list(self, prefix: str) -> list[VariableMeta] | None:
        return self.source.variable_list(prefix)


class NomadTemplateSource(TemplateSource):
    """``nomadService(s)`` and ``nomadVar*``, read as the task (its namespace and
    workload identity). Without server addresses every read waits."""

    name = "nomad"

    def __init__(self, config: Mapping[str, Any], context: ProviderContext) -> None:
        super().__init__(config, context)
        self.base = (
            ServerTemplateSource(context.server_addresses, client=context.http_client)
            if context.server_addresses
            else None
        )

    def reader(self, task: TaskIdentity) -> TemplateReader:
        if self.base is None:
            return TemplateReader()
        return NomadReader(self.base.for_task(task.namespace, task.token))

    def close(self) -> None:
        if self.base is not None:
            self.base.close()
