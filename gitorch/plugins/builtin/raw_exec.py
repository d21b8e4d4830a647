"""The raw_exec driver: run a command with no isolation, as the agent's user (Nomad's
raw_exec). Disabled unless the agent config enables it::

    plugin "raw_exec" {
      config { enabled = true }
    }

Task config: ``command`` (required), ``args`` (list of strings). The task runs in
``task_dir`` with exactly ``cfg.env`` as its environment, in its own session.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, ClassVar

from gitorch.core.task import DriverFingerprint, TaskConfig
from gitorch.errors import DriverError
from gitorch.plugins.builtin.supervised import SupervisedDriver, resolve_on_path, user_prefix
from gitorch.plugins.driver import Field


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


class RawExecDriver(SupervisedDriver):
    name: ClassVar[str] = "raw_exec"
    config_schema: ClassVar[dict[str, Field]] = {
        "command": Field("string", required=True, doc="program to run (PATH or task-relative)"),
        "args": Field("list(string)", doc="arguments"),
    }
    plugin_config_schema: ClassVar[dict[str, Field]] = {
        "enabled": Field("bool", doc="raw_exec runs tasks unisolated: off by default"),
        "no_cgroups": Field("bool", doc="accepted for Nomad compatibility; raw_exec uses none"),
    }

    def __init__(self, plugin_config: Any = None) -> None:
        super().__init__(plugin_config)
        self._setsid = shutil.which("setsid")
        self._setpriv = shutil.which("setpriv")

    @property
    def enabled(self) -> bool:
        return self.plugin_config.get("enabled") is True

    def fingerprint(self) -> DriverFingerprint:
        if not self.enabled:
            return DriverFingerprint(
                health="undetected",
                health_description='disabled (set plugin "raw_exec" { config { enabled = true } })',
            )
        if self._setsid is None:
            return DriverFingerprint(
                health="unhealthy", health_description="setsid (util-linux) not found on PATH"
            )
        return DriverFingerprint(
            health="healthy", health_description="Healthy", attributes={"driver.raw_exec": "1"}
        )

    def _check_ready(self, cfg: TaskConfig) -> None:
        if not self.enabled:
            raise DriverError(
                f"task {cfg.id}: the raw_exec driver is disabled on this agent "
                '(enable it with plugin "raw_exec" { config { enabled = true } })'
            )
        if self._setsid is None:
            raise DriverError(f"task {cfg.id}: raw_exec needs setsid (util-linux) on PATH")

    def _command(self, cfg: TaskConfig) -> list[str]:
        command: str = cfg.config["command"]
        args: list[str] = list(cfg.config.get("args", []))
        if not command:
            raise DriverError(f"task {cfg.id}: config.command is empty")

        def exists(path: str) -> bool:
            return _executable(os.path.join(cfg.task_dir, path))

        if resolve_on_path(command, cfg.env, exists) is None:
            path = cfg.env.get("PATH", os.defpath)
            raise DriverError(
                f"task {cfg.id}: command {command!r} not found "
                f"(not an executable file in the task dir or on PATH={path})"
            )
        assert self._setsid is not None
        return [self._setsid, "--", *user_prefix(cfg, self._setpriv), command, *args]
