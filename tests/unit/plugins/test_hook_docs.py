"""The plugin authoring guide documents every hook: each hook declared in
``gitorch.plugins.hookspecs`` (found the way pluggy finds them) has a section in
docs/plugins/README.md headed by its name in backticks, showing its signature, and
the guide has no section for a hook that no longer exists."""

from __future__ import annotations

import re
from pathlib import Path

import pluggy
import pytest

from gitorch.plugins import hookspecs

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "README.md"
HEADING = re.compile(r"^## `([a-z_][a-z0-9_]*)`\s*$", re.MULTILINE)


def declared_hooks() -> set[str]:
    """Every function of hookspecs marked with the hookspec marker."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return {
        name
        for name, caller in vars(pm.hook).items()
        if isinstance(caller, pluggy.HookCaller) and caller.has_spec()
    }


def sections() -> dict[str, str]:
    """The guide's ``## `name` `` sections, by name, with their text."""
    text = GUIDE.read_text()
    found = list(HEADING.finditer(text))
    out = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        body = text[match.end() : end]
        out[match.group(1)] = body.split("\n## ", 1)[0]
    return out


def test_hooks_are_found() -> None:
    assert {"register_drivers", "register_devices"} <= declared_hooks()


@pytest.mark.parametrize("hook", sorted(declared_hooks()))
def test_every_hook_has_a_section(hook: str) -> None:
    documented = sections()
    assert hook in documented, (
        f"hook {hook!r} of gitorch.plugins.hookspecs has no section in {GUIDE}: "
        f"add one headed ## `{hook}` with its signature and contract"
    )
    assert f"def {hook}(" in documented[hook], f"the {hook} section does not show its signature"


def test_no_section_for_a_hook_that_does_not_exist() -> None:
    stale = set(sections()) - declared_hooks()
    assert not stale, f"{GUIDE} documents hooks that hookspecs does not declare: {stale}"
