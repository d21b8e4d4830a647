"""The podman command line, as the driver uses it: the only module that runs ``podman``
(the log follower, a long-lived process, is started by ``follower``).

Every call has a timeout. A failing call raises ``PodmanError`` carrying podman's own
``Error: ...`` line, which the driver puts into a ``DriverError`` naming the task.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from gitorch.errors import DriverError

CALL_TIMEOUT_S = 60.0
STATS_FORMAT = "{{json .ContainerStats}}"


class PodmanError(DriverError):
    """A podman command failed; ``reason`` is podman's message."""

    def __init__(self, args: Sequence[str], reason: str, code: int) -> None:
        super().__init__(f"podman {' '.join(args[:2])}: {reason}")
        self.reason = reason
        self.code = code


def reason_of(stderr: str) -> str:
    """Podman's own explanation: its last ``Error:`` line, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    text = (errors or lines or ["(no message)"])[-1]
    return text.removeprefix("Error:").strip()


def _no_such(reason: str) -> bool:
    text = reason.lower()
    return "no such container" in text or "no container with name or id" in text


class Podman:
    """Runs the ``podman`` binary at ``path`` (a name is looked up on PATH)."""

    def __init__(self, path: str = "podman") -> None:
        self.path = path

    def binary(self) -> str | None:
        """The podman executable, or None when it is not installed."""
        return shutil.which(self.path)

    def run(
        self, args: Sequence[str], *, timeout: float = CALL_TIMEOUT_S, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``podman <args>``; PodmanError when it fails (or cannot run)."""
        binary = self.binary()
        if binary is None:
            raise PodmanError(args, f"{self.path} not found on PATH (apt-get install podman)", 127)
        try:
            done = subprocess.run(
                [binary, *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PodmanError(args, f"did not finish within {timeout:g}s", 124) from None
        except OSError as exc:
            raise PodmanError(args, str(exc), 126) from exc
        if check and done.returncode != 0:
            reason = reason_of(done.stderr.decode(errors="replace"))
            raise PodmanError(args, reason, done.returncode)
        return done

    def text(self, args: Sequence[str], *, timeout: float = CALL_TIMEOUT_S) -> str:
        """The stripped stdout of a successful ``podman <args>``."""
        return self.run(args, timeout=timeout).stdout.decode(errors="replace").strip()

    def info(self) -> dict[str, Any]:
        data = json.loads(self.text(["info", "--format", "json"]))
        return data if isinstance(data, dict) else {}

    def inspect(self, container: str) -> dict[str, Any] | None:
        """``podman container inspect``, or None when there is no such container."""
        try:
            out = self.text(["container", "inspect", "--format", "json", container])
        except PodmanError as exc:
            if _no_such(exc.reason):
                return None
            raise
        data = json.loads(out)
        if isinstance(data, list) and data and isinstance(data[0], dict):
            return data[0]
        return None

    def image_exists(self, image: str) -> bool:
        return self.run(["image", "exists", image], check=False).returncode == 0

    def pull(self, image: str, timeout: float) -> None:
        self.run(["pull", "--quiet", image], timeout=timeout)

    def kill(self, container: str, signum: int) -> bool:
        """Send ``signum`` to the container's PID 1; False if it is not running."""
        try:
            self.run(["kill", "--signal", str(signum), container])
        except PodmanError as exc:
            text = exc.reason.lower()
            if _no_such(text) or "not running" in text or "state improper" in text:
                return False
            raise
        return True

    def remove(self, container: str) -> None:
        """Remove the container (killing it if it runs); quiet if already gone."""
        self.run(["rm", "--force", "--time", "0", "--volumes", container], check=False)

    def stats(self, container: str) -> dict[str, Any] | None:
        """Raw counters of a running container (CPUNano, MemUsage, PIDs, ...)."""
        done = self.run(
            ["stats", "--no-stream", "--no-reset", "--format", STATS_FORMAT, container],
            check=False,
        )
        if done.returncode != 0:
            return None
        line = done.stdout.decode(errors="replace").strip().splitlines()
        data = json.loads(line[0]) if line else None
        return data if isinstance(data, dict) else None
