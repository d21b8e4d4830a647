"""gitorch finds this distribution as it would find one installed from PyPI: through
its entry point in the ``gitorch`` group, shown by ``gitorch plugin list``, switched off
by ``GITORCH_DISABLE_PLUGINS``; and a broken plugin next to it is reported and skipped.

Needs ``pip install -e plugins_contrib/gitorch-podman`` (CI does the same). The CLI runs
in a subprocess (``python -m gitorch``), as a user would run it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DIST = "gitorch-podman"


def plugin_list(*, env: dict[str, str] | None = None, as_json: bool = True) -> Any:
    args = [sys.executable, "-m", "gitorch", "plugin", "list"] + (["--json"] if as_json else [])
    environ = {k: v for k, v in os.environ.items() if k != "GITORCH_DISABLE_PLUGINS"}
    environ.update(env or {})
    done = subprocess.run(args, env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if as_json else done


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in report["Plugins"]}


@pytest.fixture(scope="module")
def installed() -> str:
    try:
        return importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{DIST} is not installed: pip install -e plugins_contrib/{DIST}")


def test_plugin_list_shows_the_installed_distribution(installed: str) -> None:
    report = plugin_list()
    rows = by_name(report)
    assert "builtin" in rows
    podman = rows["podman"]
    assert podman["dist"] == DIST and podman["version"] == installed
    assert podman["drivers"] == ["podman"] and podman["hooks"] == ["register_drivers"]
    assert not [e for e in report["Errors"] if e["name"] == "podman"]


def test_plugin_list_table(installed: str) -> None:
    out = plugin_list(as_json=False).stdout
    line = next(line for line in out.splitlines() if line.startswith("podman "))
    assert line.split()[:4] == ["podman", installed, DIST, "podman"]


def test_disable_plugins_removes_it(installed: str) -> None:
    rows = by_name(plugin_list(env={"GITORCH_DISABLE_PLUGINS": "podman"}))
    assert "podman" not in rows and "builtin" in rows


def _fake_dist(root: Path, dist: str, module: str, source: str) -> None:
    """A distribution as pip installs it: its module and a .dist-info with an entry point."""
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[gitorch]\n{dist} = {module}\n")


BAD_IMPORT = "raise RuntimeError('this plugin is broken on purpose')\n"
BAD_HOOK = """
from gitorch.plugins.hookspecs import hookimpl

@hookimpl
def register_drivers():
    raise ValueError("no drivers today")
"""


def test_a_broken_plugin_is_reported_and_skipped(installed: str, tmp_path: Path) -> None:
    _fake_dist(tmp_path, "broken-import", "gitorch_broken_import_xyz", BAD_IMPORT)
    _fake_dist(tmp_path, "broken-hook", "gitorch_broken_hook_xyz", BAD_HOOK)
    pythonpath = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    report = plugin_list(env={"PYTHONPATH": pythonpath})
    errors = {e["name"]: e["message"] for e in report["Errors"]}
    assert "RuntimeError: this plugin is broken on purpose" in errors["broken-import"]
    assert "gitorch_broken_import_xyz" in errors["broken-import"]
    assert "ValueError: no drivers today" in errors["broken-hook"]
    rows = by_name(report)
    assert "broken-import" not in rows
    assert rows["podman"]["drivers"] == ["podman"] and "builtin" in rows
    table = plugin_list(env={"PYTHONPATH": pythonpath}, as_json=False)
    assert "plugin broken-import skipped: cannot load entry point" in table.stderr
    assert any(line.startswith("podman ") for line in table.stdout.splitlines())
