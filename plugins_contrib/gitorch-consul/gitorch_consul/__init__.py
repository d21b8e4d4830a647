"""gitorch-consul: Consul as a gitorch provider plugin.

* ``service { provider = "consul" }``: the agent registers each running allocation's
  services with the local Consul agent (``/v1/agent/service/register``), with one TTL
  check per jobspec ``check`` whose status follows the result of the check the gitorch
  client runs, and deregisters them when the tasks stop.
* Templates: ``key``, ``keyOrDefault``, ``ls`` read Consul KV (``/v1/kv/``); ``service``
  reads the passing instances (``/v1/health/service/:name``) and ``services`` the
  catalog (``/v1/catalog/services``), with blocking queries to learn of changes.

Configured by the agent config's ``consul { address token }`` block (Nomad's names;
default address ``127.0.0.1:8500``).
"""

from __future__ import annotations

from collections.abc import Sequence

from gitorch.plugins.hookspecs import hookimpl
from gitorch.plugins.providers import ServiceProvider, TemplateSource

from gitorch_consul.services import ConsulServiceProvider
from gitorch_consul.source import ConsulTemplateSource

__all__ = ["ConsulServiceProvider", "ConsulTemplateSource"]


@hookimpl
def register_service_providers() -> Sequence[type[ServiceProvider]]:
    return [ConsulServiceProvider]


@hookimpl
def register_template_sources() -> Sequence[type[TemplateSource]]:
    return [ConsulTemplateSource]
