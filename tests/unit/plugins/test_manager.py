"""The plugin manager: built-ins through the hooks (once), third-party entry points,
broken plugins reported and skipped, disabling, listing, building drivers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gitorch.plugins import builtin
from gitorch.plugins.builtin.mock import MockDriver
from gitorch.plugins.hookspecs import hookimpl
from gitorch.plugins.manager import DISABLE_ENV, PluginError, PluginManager, load

BUILTIN_DRIVERS = {cls.name for cls in builtin.register_drivers()}


def _installed_drivers(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Drivers of everything installed now (other plugins may be installed too)."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    return set(load().driver_classes())


def _install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str, **modules: str
) -> None:
    """A fake installed distribution 'fakeplug' with ``gitorch`` entry points."""
    dist = tmp_path / "fakeplug-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[gitorch]\n" + textwrap.dedent(entry_points))
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_ENV, raising=False)


GOOD = """
    from gitorch.plugins.hookspecs import hookimpl
    from gitorch.plugins.builtin.mock import MockDriver

    class Fancy(MockDriver):
        name = "fancy"

    @hookimpl
    def register_drivers():
        return [Fancy]
"""


def test_builtins_are_registered_once_through_the_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    pm = load()
    assert [e for e in pm.errors if e.name == "builtin"] == []
    assert set(pm.driver_classes()) >= BUILTIN_DRIVERS
    builtin = [row for row in pm.plugin_info() if row.name == "builtin"]
    assert len(builtin) == 1
    assert builtin[0].dist == "gitorch" and builtin[0].version
    assert set(builtin[0].drivers) == BUILTIN_DRIVERS
    assert "register_drivers" in builtin[0].hooks
    assert len(pm.pluggy.get_plugins()) == len(pm.plugin_info())


def test_third_party_entry_point_is_loaded_with_its_dist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _installed_drivers(monkeypatch)
    _install(tmp_path, monkeypatch, "fancy = fakeplug_good\n", fakeplug_good=GOOD)
    pm = load()
    assert [e for e in pm.errors if e.name in ("fancy", "builtin")] == []
    row = next(r for r in pm.plugin_info() if r.name == "fancy")
    assert (row.dist, row.version, row.drivers) == ("fakeplug", "1.2.3", ("fancy",))
    drivers = pm.drivers()
    assert set(drivers) == before | {"fancy"}
    assert drivers["fancy"].fingerprint().healthy


def test_broken_plugins_are_reported_and_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _installed_drivers(monkeypatch)
    _install(
        tmp_path,
        monkeypatch,
        """
        aaa_import = fakeplug_import_error
        bbb_missing = fakeplug_no_such_module
        ccc_hook = fakeplug_raises
        ddd_unknown = fakeplug_unknown_hook
        eee_bad = fakeplug_bad_result
        fancy = fakeplug_good
        """,
        fakeplug_import_error="raise RuntimeError('kaboom at import')\n",
        fakeplug_raises="""
            from gitorch.plugins.hookspecs import hookimpl
            @hookimpl
            def register_drivers():
                raise ValueError("hook exploded")
        """,
        fakeplug_unknown_hook="""
            from gitorch.plugins.hookspecs import hookimpl
            @hookimpl
            def register_teleporters():
                return []
        """,
        fakeplug_bad_result="""
            from gitorch.plugins.hookspecs import hookimpl
            @hookimpl
            def register_drivers():
                return [object]
        """,
        fakeplug_good=GOOD,
    )
    pm = load()
    drivers = pm.drivers()
    assert set(drivers) == before | {"fancy"}
    by_name = {e.name: e.message for e in pm.errors}
    assert "kaboom at import" in by_name["aaa_import"]
    assert "fakeplug_no_such_module" in by_name["bbb_missing"]
    assert "hook exploded" in by_name["ccc_hook"]
    assert "register_teleporters" in by_name["ddd_unknown"]
    assert "not a class with a name" in by_name["eee_bad"]
    names = {row.name for row in pm.plugin_info()}
    assert "ddd_unknown" not in names and "aaa_import" not in names and "fancy" in names
    assert len(pm.errors) == len({(e.name, e.message) for e in pm.errors})


def test_disabled_by_argument_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(tmp_path, monkeypatch, "fancy = fakeplug_good\n", fakeplug_good=GOOD)
    pm = PluginManager()
    pm.load_plugins(environ={DISABLE_ENV: " fancy , other"})
    assert "fancy" not in pm.driver_classes()
    pm = PluginManager()
    pm.load_plugins({"builtin"})
    assert "fancy" in pm.driver_classes()
    assert not BUILTIN_DRIVERS & set(pm.driver_classes())


def test_third_party_driver_overrides_builtin_but_not_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DISABLE_ENV, raising=False)

    class MyExec(MockDriver):
        name = "exec"

    class First:
        @hookimpl
        def register_drivers(self) -> list[type[MockDriver]]:
            return [MyExec]

    class Second:
        @hookimpl
        def register_drivers(self) -> list[type[MockDriver]]:
            return [type("OtherExec", (MockDriver,), {"name": "exec"})]

    pm = PluginManager()
    pm.load_plugins(entrypoints=False)
    assert pm.register(First(), "first") and pm.register(Second(), "second")
    assert pm.driver_classes()["exec"] is MyExec
    assert pm.errors == [PluginError("second", "driver 'exec' is already provided by first")]


def test_bad_plugin_config_and_failing_constructor_skip_the_driver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DISABLE_ENV, raising=False)

    class Grumpy(MockDriver):
        name = "grumpy"

        def __init__(self, plugin_config: object = None) -> None:
            raise OSError("no socket")

    class Plugin:
        @hookimpl
        def register_drivers(self) -> list[type[MockDriver]]:
            return [Grumpy]

    pm = PluginManager()
    pm.load_plugins(entrypoints=False)
    pm.register(Plugin(), "grumpy-plugin")
    drivers = pm.drivers({"raw_exec": {"enabled": "yes"}})
    assert "raw_exec" not in drivers and "grumpy" not in drivers and "mock" in drivers
    messages = [e.message for e in pm.errors]
    assert "driver raw_exec: plugin.raw_exec.config.enabled: must be true or false" in messages
    assert "driver grumpy: constructor raised OSError: no socket" in messages


def test_register_rejects_invalid_hookimpl(monkeypatch: pytest.MonkeyPatch) -> None:
    class Wrong:
        @hookimpl
        def register_commands(self, cli: object, extra: object) -> None:
            pass

    pm = PluginManager()
    assert not pm.register(Wrong(), "wrong")
    assert pm.errors[0].name == "wrong" and "extra" in pm.errors[0].message


def test_register_commands_reaches_plugins() -> None:
    seen = []

    class Cmds:
        @hookimpl
        def register_commands(self, cli: object) -> None:
            seen.append(cli)

    pm = PluginManager()
    pm.register(Cmds(), "cmds")
    pm.register_commands("the-cli")
    assert seen == ["the-cli"]
