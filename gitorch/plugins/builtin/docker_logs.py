"""A container's stdout and stderr into the task's log files (Nomad's docker_logger).

One ``LogFollower`` per stream runs in a thread, reading the daemon's logs API with
``follow`` and ``timestamps``: each frame is one log message, ``<RFC3339Nano> <bytes>``.
It appends the bytes to the log file and keeps its position: the last message's
timestamp, how many messages so far carried exactly that timestamp, and the file's
size after it. The position is saved to a checkpoint file at most every CHECKPOINT_S
and whenever a session ends.

Resuming (a broken stream, or a new agent process through ``recover``) asks for the
messages ``since`` the position's second, drops those up to the recorded message, then
drops as many leading bytes as the file grew past the recorded size: those bytes were
written after the last checkpoint (before the agent died) and are exactly the start of
what the daemon sends again. So nothing is written twice and nothing is lost, however
stale the checkpoint. With no checkpoint the position is "before the first message,
file size at container start" (kept in the task handle): the daemon replays it all.

Once the container is no longer running, a last non-following read drains whatever the
broken stream may have missed.

A container with a TTY (``config.tty``) has one stream (stderr merges into stdout) and
the SDK hands its logs over byte by byte instead of message by message; they are cut
back into messages at each newline (the daemon's log copier ends a message there).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

CHECKPOINT_S = 0.25
RETRY_MAX_S = 2.0


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A raw (TTY) log stream cut into messages, each ending at a newline."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        while (end := pending.find(b"\n")) >= 0:
            yield bytes(pending[: end + 1])
            del pending[: end + 1]
    if pending:
        yield bytes(pending)


class LogsUnsupported(Exception):
    """The daemon's log driver cannot be read back (syslog, none, ...)."""


@dataclass
class Position:
    """Where a stream's copy stands: after the ``n``-th message stamped ``ts_ns``, the
    log file being ``size`` bytes long."""

    ts_ns: int = 0
    n: int = 0
    size: int = 0


def parse_timestamp(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 timestamp with up to 9 fraction digits."""
    head, dot, rest = text.partition(".")
    digits = ""
    if dot:
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
    else:
        head, rest = text[:19], text[19:]
    zone = "+00:00" if rest in ("Z", "z", "") else rest
    seconds = int(datetime.fromisoformat(head + zone).timestamp())
    return seconds * 1_000_000_000 + int((digits or "0").ljust(9, "0")[:9])


def load_position(path: str, base_size: int) -> Position:
    """The saved checkpoint, or the start of the container's output."""
    try:
        with open(path) as f:
            data = json.load(f)
        return Position(int(data["ts_ns"]), int(data["n"]), int(data["size"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Position(size=base_size)


class LogFollower:
    """Copies one stream (``"stdout"`` or ``"stderr"``) of a container into ``path``."""

    def __init__(
        self,
        api: Any,
        container_id: str,
        stream: str,
        path: str,
        checkpoint_path: str,
        base_size: int,
        *,
        tty: bool = False,
    ) -> None:
        self.api = api
        self.tty = tty
        self.container_id = container_id
        self.stream = stream
        self.path = path
        self.checkpoint_path = checkpoint_path
        self.pos = load_position(checkpoint_path, base_size)
        self.closed = False
        self._live: Any = None
        self._saved_at = 0.0
        self._lock = threading.Lock()

    def run(self, running: Callable[[], bool]) -> None:
        """Follow until the container stops (``running()`` false), then drain; raises
        LogsUnsupported when the daemon cannot give logs back."""
        delay = 0.05
        while not self.closed:
            try:
                self._session(follow=True)
            except LogsUnsupported:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken stream is resumed
                log.debug("%s %s: log stream broke: %s", self.container_id[:12], self.stream, exc)
            if self.closed:
                return
            if not running():
                try:
                    self._session(follow=False)
                except Exception as exc:  # noqa: BLE001 - gone (removed) or unreadable
                    log.debug("%s %s: final drain: %s", self.container_id[:12], self.stream, exc)
                return
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def close(self) -> None:
        """Stop following (the container keeps running); saves the position."""
        self.closed = True
        live = self._live
        if live is not None:
            try:
                live.close()
            except Exception:  # noqa: BLE001 - already closed
                pass

    def _frames(self, follow: bool) -> Iterator[bytes]:
        since = self.pos.ts_ns // 1_000_000_000 if self.pos.ts_ns else None
        try:
            frames = self.api.logs(
                self.container_id,
                stdout=self.stream == "stdout",
                stderr=self.stream == "stderr",
                stream=True,
                follow=follow,
                timestamps=True,
                since=since,
            )
        except Exception as exc:
            if getattr(exc, "status_code", None) == 501 or "does not support" in str(exc):
                raise LogsUnsupported(str(exc)) from exc
            raise
        self._live = frames
        if self.closed:
            frames.close()
        return _lines(frames) if self.tty else iter(frames)

    def _session(self, follow: bool) -> None:
        """One logs request, copied from the current position."""
        frames = self._frames(follow)
        want = Position(self.pos.ts_ns, self.pos.n, self.pos.size)
        seen_at_ts = 0
        with open(self.path, "ab") as out:
            skip = max(0, out.tell() - want.size)
            caught_up = want.ts_ns == 0
            try:
                for frame in frames:
                    stamp, _, data = frame.partition(b" ")
                    ts = parse_timestamp(stamp.decode())
                    if not caught_up:
                        if ts < want.ts_ns:
                            continue
                        if ts == want.ts_ns and seen_at_ts < want.n:
                            seen_at_ts += 1
                            continue
                        caught_up = True
                    if skip:
                        dropped = min(skip, len(data))
                        data, skip = data[dropped:], skip - dropped
                    if data:
                        out.write(data)
                        out.flush()
                    self.pos = Position(
                        ts, self.pos.n + 1 if ts == self.pos.ts_ns else 1, out.tell()
                    )
                    if time.monotonic() - self._saved_at >= CHECKPOINT_S:
                        self.save()
            finally:
                self._live = None
                self.save()

    def save(self) -> None:
        """Write the position to the checkpoint file (atomically)."""
        with self._lock:
            self._saved_at = time.monotonic()
            tmp = f"{self.checkpoint_path}.tmp"
            data = {"ts_ns": self.pos.ts_ns, "n": self.pos.n, "size": self.pos.size}
            try:
                with open(tmp, "w") as f:
                    json.dump(data, f)
                os.replace(tmp, self.checkpoint_path)
            except OSError as exc:  # the task was destroyed under us
                log.debug("%s: cannot save log checkpoint: %s", self.checkpoint_path, exc)
