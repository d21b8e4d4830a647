"""The provider hooks through the plugin manager: the built-in nomad providers come
through them; a plugin's providers are built with their agent config block; a plugin
that returns something else, or whose provider fails to build, is reported and skipped;
the installed provider names feed validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitorch.plugins.hookspecs import hookimpl
from gitorch.plugins.manager import PluginManager
from gitorch.plugins.providers import (
    ProviderContext,
    ProviderService,
    ServiceProvider,
    TemplateSource,
)


class Recorder(ServiceProvider):
    name = "recorder"
    config_block = "recorder"

    def __init__(self, config: Mapping[str, Any], context: ProviderContext) -> None:
        super().__init__(config, context)
        self.seen: list[ProviderService] = []

    @classmethod
    def validate_plugin_config(cls, config: Mapping[str, Any]) -> list[str]:
        return [] if config.get("ok", True) else ["recorder: ok is false"]


class Exploding(TemplateSource):
    name = "exploding"

    def __init__(self, config: Mapping[str, Any], context: ProviderContext) -> None:
        raise RuntimeError("cannot reach the backend")


class Good:
    @hookimpl
    def register_service_providers(self) -> Sequence[type[ServiceProvider]]:
        return [Recorder]

    @hookimpl
    def register_template_sources(self) -> Sequence[type[TemplateSource]]:
        return [Exploding]


class NotAProvider:
    name = "vault"


class Wrong:
    @hookimpl
    def register_secret_providers(self) -> Sequence[type[Any]]:
        return [NotAProvider]


def manager() -> PluginManager:
    pm = PluginManager()
    pm.load_plugins(entrypoints=False)
    pm.register(Good(), "good")
    pm.register(Wrong(), "wrong")
    return pm


def test_builtin_nomad_providers_come_through_the_hooks() -> None:
    pm = manager()
    assert {"nomad", "recorder"} <= pm.provider_names("service_provider")
    assert "nomad" in pm.provider_names("template_source")
    info = {i.name: i for i in pm.plugin_info()}
    assert info["builtin"].providers == ("service:nomad", "template:nomad")
    assert info["good"].providers == ("service:recorder", "template:exploding")


def test_providers_are_built_with_their_config_block() -> None:
    pm = manager()
    built = pm.providers("service_provider", {"recorder": {"x": "1"}}, ProviderContext())
    assert isinstance(built["recorder"], Recorder) and built["recorder"].config == {"x": "1"}
    assert "nomad" not in built  # no server connection in this context: reported, skipped
    assert any("nomad" in e.message and "server connection" in e.message for e in pm.errors)


def test_broken_providers_are_reported_and_skipped() -> None:
    pm = manager()
    sources = pm.providers("template_source", {}, ProviderContext())
    assert sources.keys() == {"nomad"}
    assert pm.providers("secret_provider", {}, ProviderContext()) == {}
    problems = {e.name: e.message for e in pm.errors}
    assert "constructor raised RuntimeError: cannot reach the backend" in problems["good"]
    assert "is not a subclass of gitorch SecretsProvider" in problems["wrong"]
    assert pm.providers("service_provider", {"recorder": {"ok": False}}, ProviderContext()) == {}
    assert any("recorder: ok is false" in e.message for e in pm.errors)
