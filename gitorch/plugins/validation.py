"""Task driver configs checked at validate time, by the drivers' own schemas.

``jobspec.validate`` takes a ``driver_check(driver, config) -> [problem, ...]``; this
module builds it from the installed driver classes (``Driver.schema_problems``), so
``gitorch job validate``, the API and every GitOps sync name a bad ``config`` field
before a task is ever placed. A driver this process does not know is not checked
here (the scheduler reports it as a missing driver).

What this process has installed also decides which service providers and secrets
providers a job may use: the check is a :class:`~gitorch.jobspec.providers.PluginChecks`
that knows their names and names the package to install for a missing one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

from gitorch.jobspec.providers import PluginChecks
from gitorch.plugins.driver import Driver

DriverCheck = Callable[[str, dict[str, object]], list[str]]


def driver_check(classes: Mapping[str, type[Driver]]) -> DriverCheck:
    def check(driver: str, config: dict[str, object]) -> list[str]:
        cls = classes.get(driver)
        return [] if cls is None else cls.schema_problems(config)

    return check


@functools.cache
def installed_driver_check() -> DriverCheck:
    """The check for every driver installed here (plugins loaded once per process)."""
    from gitorch.plugins import manager

    pm = manager.load()
    return PluginChecks(
        driver_check=driver_check(pm.driver_classes()),
        service_providers=pm.provider_names("service_provider"),
        secrets_providers=pm.provider_names("secret_provider"),
    )
