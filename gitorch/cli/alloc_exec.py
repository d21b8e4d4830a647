"""The client side of an ``alloc exec`` session: Nomad's exec frames over the WebSocket
(``gitorch.api.wsclient``), stdin pumped from a thread, the local terminal in raw mode
(and its size sent, again on SIGWINCH) when a terminal was asked for."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import sys
import termios
import threading
import tty as ttys
from collections.abc import Iterator

from gitorch.api.client import Client
from gitorch.api.wsclient import SyncWs, WsClosed

READ_BYTES = 4096


def run_exec(
    client: Client, alloc_id: str, task: str, command: list[str], use_stdin: bool, tty: bool
) -> int:
    """Run ``command`` in ``task``; its exit code."""
    params = {"task": task, "command": json.dumps(command), "tty": str(tty).lower()}
    ws = client.websocket(f"/v1/client/allocation/{alloc_id}/exec", params)
    try:
        with _raw_terminal(tty):
            if tty:
                _send_size(ws)
                previous = signal.signal(signal.SIGWINCH, lambda *_: _send_size(ws))
            try:
                _start_stdin(ws, use_stdin)
                return _receive(ws)
            finally:
                if tty:
                    signal.signal(signal.SIGWINCH, previous)
    finally:
        ws.close()


def _receive(ws: SyncWs) -> int:
    out, err = sys.stdout.buffer, sys.stderr.buffer
    while True:
        frame = ws.recv()
        for name, stream in (("stdout", out), ("stderr", err)):
            part = frame.get(name)
            if isinstance(part, dict) and part.get("data"):
                stream.write(base64.b64decode(part["data"]))
                stream.flush()
        if frame.get("exited"):
            result = frame.get("result") or {}
            code = result.get("exit_code", 0) if isinstance(result, dict) else 0
            return int(code)


def _start_stdin(ws: SyncWs, use_stdin: bool) -> None:
    if not use_stdin:
        ws.send({"stdin": {"close": True}})
        return

    def read() -> bytes:
        try:
            return os.read(sys.stdin.fileno(), READ_BYTES)
        except (OSError, ValueError):  # no descriptor (stdin replaced in-process)
            data: bytes = sys.stdin.buffer.read(READ_BYTES)
            return data

    def pump() -> None:
        try:
            while data := read():
                ws.send({"stdin": {"data": base64.b64encode(data).decode("ascii")}})
            ws.send({"stdin": {"close": True}})
        except (OSError, WsClosed):
            return  # the session is over

    threading.Thread(target=pump, name="exec-stdin", daemon=True).start()


def _send_size(ws: SyncWs) -> None:
    size = shutil.get_terminal_size()
    with contextlib.suppress(WsClosed):
        ws.send({"tty_size": {"height": size.lines, "width": size.columns}})


@contextlib.contextmanager
def _raw_terminal(tty: bool) -> Iterator[None]:
    """The local terminal in raw mode (keys go to the remote one) while the session
    lasts, when there is one and a terminal was asked for."""
    if not tty or not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    ttys.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
