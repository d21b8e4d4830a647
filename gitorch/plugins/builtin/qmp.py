"""A tiny QMP (QEMU Machine Protocol) client over a unix socket, stdlib only.

QMP is newline-delimited JSON: the server greets with ``{"QMP": {...}}``, the client
leaves capabilities negotiation with ``qmp_capabilities``, then each ``{"execute": ...}``
gets one ``{"return": ...}`` or ``{"error": {...}}``; asynchronous ``{"event": ...}``
messages may come in between and are collected in ``events``.

QEMU serves one QMP client at a time, so the driver connects per operation (which also
makes re-attaching after an agent restart trivial). Socket paths longer than the
kernel's limit (108 bytes) are reached through ``/proc/self/fd/<dir fd>/<name>``.
"""

from __future__ import annotations

import json
import os
import socket
from types import TracebackType
from typing import Any

from gitorch.errors import DriverError

SUN_PATH_MAX = 107


class QMPError(DriverError):
    """The QMP socket cannot be reached, or QEMU answered a command with an error."""


class QMPClient:
    """One QMP session: ``with QMPClient(path) as qmp: qmp.execute("query-status")``."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self.greeting: dict[str, Any] = {}
        self._sock: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> QMPClient:
        self.connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        """Connect, read the greeting and leave capabilities negotiation."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(self.timeout)
        try:
            _connect(sock, self.path)
        except OSError as exc:
            sock.close()
            raise QMPError(f"cannot connect to QMP socket {self.path}: {exc}") from exc
        self._sock = sock
        try:
            greeting = self._read()
            if "QMP" not in greeting:
                raise QMPError(f"QMP socket {self.path}: unexpected greeting {greeting!r}")
            self.greeting = greeting["QMP"]
            self.execute("qmp_capabilities")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run one command; its ``return`` value. QMPError on an ``error`` answer."""
        if self._sock is None:
            raise QMPError(f"QMP socket {self.path}: not connected")
        message: dict[str, Any] = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        try:
            self._sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError as exc:
            raise QMPError(f"QMP socket {self.path}: cannot send {command}: {exc}") from exc
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                error = reply["error"]
                desc = error.get("desc", error) if isinstance(error, dict) else error
                raise QMPError(f"QMP {command} failed: {desc}")
            if "return" in reply:
                return reply["return"]

    def _read(self) -> dict[str, Any]:
        """The next JSON message (a line) from the socket."""
        assert self._sock is not None
        while b"\n" not in self._buffer:
            try:
                chunk = self._sock.recv(65536)
            except OSError as exc:
                raise QMPError(f"QMP socket {self.path}: {exc}") from exc
            if not chunk:
                raise QMPError(f"QMP socket {self.path}: closed by QEMU")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise QMPError(f"QMP socket {self.path}: not JSON: {line[:200]!r}") from exc
        if not isinstance(message, dict):
            raise QMPError(f"QMP socket {self.path}: unexpected message {message!r}")
        return message


def _connect(sock: socket.socket, path: str) -> None:
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        sock.connect(path)
        return
    directory, name = os.path.split(path)
    fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{fd}/{name}")
    finally:
        os.close(fd)


def execute(
    path: str, command: str, arguments: dict[str, Any] | None = None, timeout: float = 5.0
) -> Any:
    """Connect, run one command, disconnect; the command's return value."""
    with QMPClient(path, timeout) as client:
        return client.execute(command, arguments)
