"""The agent's provider plugins (:mod:`gitorch.plugins.providers`), loaded through the
plugin manager and built with the agent config's ``consul { }`` and ``vault { }``
blocks. A plugin that fails to load or to build is logged and skipped."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitorch.plugins.providers import (
    ProviderContext,
    SecretsProvider,
    ServiceProvider,
    TemplateSource,
)

log = logging.getLogger(__name__)


@dataclass
class Providers:
    services: dict[str, ServiceProvider] = field(default_factory=dict)
    sources: dict[str, TemplateSource] = field(default_factory=dict)
    secrets: dict[str, SecretsProvider] = field(default_factory=dict)

    def close(self) -> None:
        for kind in (self.services, self.sources, self.secrets):
            for name, provider in kind.items():
                try:
                    provider.close()
                except Exception:  # noqa: BLE001 - stopping goes on
                    log.exception("provider %s: close failed", name)


def load_providers(
    blocks: Mapping[str, Mapping[str, Any]], context: ProviderContext
) -> Providers:
    """Every installed provider, built with its agent config block and ``context``."""
    from gitorch.plugins import manager

    pm = manager.load()
    found = Providers(
        services=pm.providers("service_provider", blocks, context),
        sources=pm.providers("template_source", blocks, context),
        secrets=pm.providers("secret_provider", blocks, context),
    )
    for error in pm.errors:  # those of drivers and devices are the client's to log
        if any(word in error.message for word in _WORDS):
            log.error("plugin %s skipped: %s", error.name, error.message)
    return found


_WORDS = ("service provider", "template source", "secret provider", "providers", "sources")
