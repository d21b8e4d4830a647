"""Helpers of the podman driver's tests: a busybox image built offline with ``podman
import`` (no registry is reachable), a harness for gitorch's conformance suite, and a
sweep that removes every container these tests started (they carry a run label)."""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitorch.core.task import TaskConfig, TaskHandle
from gitorch.plugins.driver import Driver
from gitorch.plugins.testing import Behaviour, ShellHarness

from gitorch_podman import PodmanDriver, spec

IMAGE = "localhost/gitorch-podman-test/busybox:latest"
RUN_LABEL = "com.example.gitorch-podman-test"
RUN_ID = uuid.uuid4().hex[:12]
APPLETS = ("sh", "sleep", "echo", "cat", "env", "printf", "kill", "true", "false", "ls", "id")


def busybox_tar(busybox: str) -> bytes:
    """A root filesystem: /bin/busybox, a symlink per applet used, /tmp and /etc."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for folder, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return data.getvalue()


def podman(*args: str, check: bool = True, data: bytes | None = None) -> str:
    done = subprocess.run(["podman", *args], input=data, capture_output=True, check=False)
    if check and done.returncode:
        raise AssertionError(f"podman {' '.join(args)}: {done.stderr.decode()}")
    return done.stdout.decode()


def sweep() -> None:
    ids = podman("ps", "-aq", "--filter", f"label={RUN_LABEL}={RUN_ID}", check=False).split()
    if ids:
        podman("rm", "--force", "--time", "0", *ids, check=False)


class PodmanHarness(ShellHarness):
    """The conformance suite's view of the driver: ``sh -c`` tasks in the busybox image,
    with an init as PID 1 so that an untrapped SIGTERM ends the shell."""

    driver_name = "podman"

    def make_driver(self) -> Driver:
        return PodmanDriver()

    def config_for(self, behaviour: Behaviour) -> dict[str, Any]:
        config = super().config_for(behaviour)
        labels = {RUN_LABEL: RUN_ID}
        return {"image": IMAGE, **config, "working_dir": "/local", "init": True, "labels": labels}

    def missing_command_config(self) -> tuple[dict[str, Any], str]:
        labels = {RUN_LABEL: RUN_ID}
        return {"image": IMAGE, "command": "no-such-command-xyz", "labels": labels}, (
            "no-such-command-xyz"
        )

    def is_ready(self, cfg: TaskConfig, handle: TaskHandle) -> bool:
        marker = Path(cfg.task_dir, "local", "ready")
        return marker.exists() or self.driver.wait(handle, 0) is not None

    def kill_leftovers(self, handle: TaskHandle) -> None:
        podman("rm", "--force", "--time", "0", str(handle.state.get("container_id")), check=False)

    def run(self, script: str, **overrides: Any) -> tuple[TaskConfig, TaskHandle]:
        """Start ``sh -c script`` (sh is PID 1, no init) and return at once."""
        config: dict[str, Any] = {"image": IMAGE, "command": "/bin/sh", "args": ["-c", script]}
        extra = dict(overrides.pop("config", {}))
        labels = spec.string_map(extra.pop("labels", {})) or {}
        config.update(extra, labels={**labels, RUN_LABEL: RUN_ID})
        cfg = self.task_config(config, **overrides)
        handle = self.driver.start(cfg)
        self.started.append((self.driver, handle))
        return cfg, handle


def until(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
