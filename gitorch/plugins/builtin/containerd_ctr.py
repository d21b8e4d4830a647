"""The one module that runs containerd's ``ctr`` client for the containerd driver.

Every call names the daemon's socket (``--address``) and the driver's containerd
namespace (``-n``), so gitorch's containers and images stay apart from anyone else's
on the same daemon (Docker's own containerd included). A failing call raises
``CtrError`` carrying ctr's own message.

What ctr offers and how the driver uses it:

* ``ctr run -d --log-uri binary://...``: create and start a container detached; its
  output goes to a logging process that the containerd shim starts and keeps, so logs
  keep flowing while no agent runs (see ``log_uri``).
* ``ctr events``: the stream of ``/tasks/exit`` events that tells the driver a task ended.
* ``ctr tasks delete``: frees an ended task (the shim waits for the logging process
  to flush) and is the one place ctr states a task's exit code, as a warning
  ``task <id> exit with non-zero exit code <n>`` (none when it is 0).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_ADDRESS = "/run/containerd/containerd.sock"
DEFAULT_NAMESPACE = "nomad"
CALL_TIMEOUT_S = 60.0
# Run "$@" (ctr events) with our stdout; end it when our stdin reaches EOF.
_EVENTS_GUARD = '"$@" </dev/null & c=$!; exec >/dev/null; read _; kill $c 2>/dev/null'
_EXIT_WARNING = re.compile(r"exit with non-zero exit code (\d+)")


class CtrError(Exception):
    """A ctr call failed; the message is ctr's own (or why it could not run)."""


class NotFound(CtrError):
    """The container, task or image named does not exist."""


@dataclass(frozen=True)
class TaskState:
    """A line of ``ctr tasks ls``."""

    pid: int
    status: str  # RUNNING, STOPPED, CREATED, PAUSED...


def log_uri(stdout_path: str, stderr_path: str) -> str:
    """A ``binary://`` log URI whose process appends the task's stdout and stderr to
    the two files. The shim hands it the streams as fds 3 and 4 and waits for fd 5 to
    close; on task delete it closes the streams, sends SIGTERM and waits for the
    process (up to 12 s). The logger ignores SIGTERM (so do its two ``cat``): it exits
    once both copies have drained to end of stream, and only then does the delete
    return. The shim passes query keys (in no fixed order) as arguments: a single
    ``-c`` key makes ``/bin/sh -c <script>``."""
    script = (
        "exec 5>&-; trap '' TERM; "
        f"cat <&3 >>{shlex.quote(stdout_path)} & cat <&4 >>{shlex.quote(stderr_path)} & wait"
    )
    return "binary:///bin/sh?" + urllib.parse.urlencode(
        {"-c": script}, quote_via=urllib.parse.quote
    )


class Ctr:
    """``ctr`` against one daemon socket and namespace."""

    def __init__(self, binary: str, address: str, namespace: str) -> None:
        self.binary = binary
        self.address = address
        self.namespace = namespace

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--address", self.address, "-n", self.namespace, *args]

    def call(self, *args: str, timeout: float = CALL_TIMEOUT_S) -> str:
        """Run ``ctr <args>``; its stdout. Raises CtrError (NotFound when ctr says so)."""
        try:
            done = subprocess.run(
                self.argv(*args),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CtrError(
                f"ctr {args[0]} {args[1] if len(args) > 1 else ''}: "
                f"no answer from containerd at {self.address} in {timeout:g}s"
            ) from None
        except OSError as exc:
            raise CtrError(f"cannot run {self.binary}: {exc}") from None
        if done.returncode != 0:
            raise _error(done.stderr)
        return done.stdout

    # -- the daemon ------------------------------------------------------------------

    def server_version(self, timeout: float) -> str:
        """The daemon's version (a real round trip: ``ctr version`` asks the server)."""
        out = self.call("--timeout", f"{timeout:g}s", "version", timeout=timeout + 5)
        server = out.split("Server:", 1)
        if len(server) < 2:
            raise CtrError(f"containerd at {self.address} did not state its version: {out!r}")
        match = re.search(r"Version:\s*(\S+)", server[1])
        return match.group(1) if match else ""

    def events(self) -> subprocess.Popen[str]:
        """A running ``ctr events`` of this namespace's task exits (one JSON per line).

        It runs under a small sh that ends it once its stdin closes: when the caller
        closes it, and when the caller dies (even by SIGKILL), so no ``ctr events``
        outlives the agent that started it."""
        watch = self.argv("events", f'namespace=={self.namespace},topic=="/tasks/exit"')
        return subprocess.Popen(
            ["/bin/sh", "-c", _EVENTS_GUARD, "ctr-events", *watch],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    # -- images ----------------------------------------------------------------------

    def has_image(self, ref: str) -> bool:
        return ref in self.call("images", "ls", "-q").split()

    def pull(self, ref: str, timeout: float) -> None:
        self.call("images", "pull", ref, timeout=timeout)

    def import_image(self, tarball: str, timeout: float) -> str:
        """Import an image tarball (``docker save`` or OCI layout); ctr's report."""
        return self.call("images", "import", tarball, timeout=timeout)

    def remove_image(self, ref: str) -> None:
        self.call("images", "rm", ref)

    # -- containers and tasks --------------------------------------------------------

    def run_detached(self, flags: Sequence[str], image: str, cid: str, argv: Sequence[str]) -> None:
        self.call("run", "-d", *flags, image, cid, *argv)

    def container_labels(self, cid: str) -> dict[str, str]:
        info: Any = json.loads(self.call("containers", "info", cid))
        labels = info.get("Labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    def set_label(self, cid: str, key: str, value: str) -> None:
        self.call("containers", "label", cid, f"{key}={value}")

    def remove_container(self, cid: str) -> None:
        self.call("containers", "rm", cid)

    def tasks(self) -> dict[str, TaskState]:
        """The namespace's tasks by container ID."""
        found: dict[str, TaskState] = {}
        for line in self.call("tasks", "ls").splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 3 and parts[1].isdigit():
                found[parts[0]] = TaskState(pid=int(parts[1]), status=parts[2])
        return found

    def kill(self, cid: str, signum: int, all_processes: bool = False) -> None:
        self.call("tasks", "kill", "-s", str(signum), *(["-a"] if all_processes else []), cid)

    def delete_task(self, cid: str, force: bool = False) -> int:
        """Delete an ended task (``force``: a running one too); its exit code."""
        try:
            done = subprocess.run(
                self.argv("tasks", "rm", *(["-f"] if force else []), cid),
                capture_output=True,
                text=True,
                timeout=CALL_TIMEOUT_S,
                check=False,
            )
        except (subprocess.TimeoutExpired, OSError) as exc:
            raise CtrError(f"ctr tasks rm {cid}: {exc}") from None
        if done.returncode != 0:
            raise _error(done.stderr)
        match = _EXIT_WARNING.search(done.stderr)
        return int(match.group(1)) if match else 0

    def metrics(self, cid: str) -> dict[str, Any]:
        data: Any = json.loads(self.call("tasks", "metrics", "--format", "json", cid))
        return data if isinstance(data, dict) else {}

    def exec(
        self, cid: str, exec_id: str, argv: Sequence[str], timeout: float
    ) -> tuple[bytes, int]:
        """Run ``argv`` in the container; (stdout+stderr, exit code)."""
        try:
            done = subprocess.run(
                self.argv("tasks", "exec", "--exec-id", exec_id, cid, *argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            try:
                self.call("tasks", "kill", "-s", "9", "--exec-id", exec_id, cid)
            except CtrError:
                pass
            raise CtrError(f"exec {argv[0]!r} still running after {timeout:g}s") from None
        return done.stdout, done.returncode


def _error(stderr: str) -> CtrError:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    message = lines[-1] if lines else "ctr failed without a message"
    message = message.removeprefix("ctr: ")
    if "not found" in message:
        return NotFound(message)
    return CtrError(message)
