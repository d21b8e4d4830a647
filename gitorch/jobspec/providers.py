"""Which provider plugins a job needs, checked against those installed.

A service's ``provider`` (``"nomad"``, built in; ``"consul"`` from ``gitorch-consul``)
and a ``vault`` block (from ``gitorch-vault``) are served by plugins of the agents
(:mod:`gitorch.plugins.providers`). Validation is handed what this process has
installed as a :class:`PluginChecks` (the ``driver_check`` argument of
:func:`~gitorch.jobspec.validate.validate`, which it extends); a job that needs a
provider nobody installed is refused with the block's line and the package to install,
never accepted and silently left unregistered. Without that information (a plain
``driver_check``, or none: the isolated parse worker) provider names are not checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gitorch.core.model.job import Job
from gitorch.jobspec.redact import excerpt

Problem = tuple[str, str, str]  # (block path, message, key of the line)
DriverCheck = Callable[[str, dict[str, object]], list[str]]

DIST_HINTS = {"consul": "gitorch-consul", "vault": "gitorch-vault"}
"""The distribution that provides each provider gitorch knows of."""
PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


def missing(kind: str, name: str) -> str:
    """The message for a provider that no installed plugin provides."""
    dist = DIST_HINTS.get(name, f"a plugin that provides the {kind} provider {name!r}")
    hint = f"pip install {dist}" if name in DIST_HINTS else f"install {dist}"
    return f"provider {name}: no plugin provides it; {hint}"


@dataclass(frozen=True)
class PluginChecks:
    """A ``driver_check`` that also knows which providers are installed here."""

    driver_check: DriverCheck | None = None
    service_providers: frozenset[str] = frozenset({"nomad"})
    secrets_providers: frozenset[str] = frozenset()
    hints: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, driver: str, config: dict[str, object]) -> list[str]:
        return [] if self.driver_check is None else self.driver_check(driver, config)


def service_provider_problem(provider: str, checks: object) -> str:
    """What is wrong with a service's ``provider`` (empty: nothing)."""
    if not PROVIDER_NAME.fullmatch(provider):
        return f'unknown provider {excerpt(provider)}; use "nomad" or an installed plugin\'s'
    if isinstance(checks, PluginChecks) and provider not in checks.service_providers:
        return missing("service", provider)
    return ""


def vault_problems(
    job: Job, checks: object, lines: Mapping[str, int] | None = None
) -> list[Problem]:
    """A ``vault`` block when no plugin provides the ``vault`` secrets provider: one
    problem per block as written (a job's block, inherited by its tasks, is one)."""
    if not isinstance(checks, PluginChecks) or "vault" in checks.secrets_providers:
        return []
    at = lines or {}
    out: list[Problem] = []
    seen: set[str] = set()
    jwhere = f'job "{job.id}"'
    for group in job.task_groups:
        gwhere = f'{jwhere} > group "{group.name}"'
        for task in group.tasks:
            if task.vault is None:
                continue
            twhere = f'{gwhere} > task "{task.name}"'
            written = [f"{w} > vault" for w in (twhere, gwhere, jwhere)]
            path = next((w for w in written if w in at), written[0])
            if path not in seen:
                seen.add(path)
                out.append((path, missing("secrets", "vault"), path))
    return out
