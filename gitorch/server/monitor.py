"""Agent log lines for ``/v1/agent/monitor`` (``gitorch monitor``): a logging handler on
the root logger fans formatted records out to each follower at its own level.

A follower asking for more detail than the agent logs (``debug`` under an ``info``
agent) lowers the root logger's level while it follows; the agent's own handlers are
held at the level they had, so its log output does not change. A slow follower loses
lines (counted, and said in its stream) rather than slowing the agent.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Final

LEVELS: Final = {
    "trace": logging.DEBUG,  # Nomad's finest level; Python's finest is debug
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
BUFFER: Final = 1024  # lines a follower may fall behind before it loses some
_FORMAT = logging.Formatter("%(asctime)s [%(levelname)s] %(name)s: %(message)s")


class Follower:
    """One monitor stream: the lines at or above ``level``, and how many it lost."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.lines: queue.Queue[str] = queue.Queue(BUFFER)
        self.dropped = 0

    def offer(self, line: str) -> None:
        try:
            self.lines.put_nowait(line)
        except queue.Full:
            self.dropped += 1


def parse_level(name: str) -> int:
    """A Nomad log level name (trace, debug, info, warn, error) as a logging level;
    ValueError for anything else."""
    found = LEVELS.get(name.strip().lower())
    if found is None:
        raise ValueError(f"Unknown log level: {name[:20]}")
    return found


class LogMonitor(logging.Handler):
    def __init__(self, root: logging.Logger | None = None) -> None:
        super().__init__(logging.DEBUG)
        self._root = root or logging.getLogger()
        self._lock = threading.Lock()
        self._followers: list[Follower] = []
        self._saved: tuple[int, dict[logging.Handler, int]] | None = None

    def follow(self, level: int) -> Follower:
        follower = Follower(level)
        with self._lock:
            self._followers.append(follower)
            if len(self._followers) == 1:
                self._root.addHandler(self)
            self._set_root_level()
        return follower

    def unfollow(self, follower: Follower) -> None:
        with self._lock:
            if follower in self._followers:
                self._followers.remove(follower)
            if not self._followers:
                self._root.removeHandler(self)
            self._set_root_level()

    def _set_root_level(self) -> None:
        """Lower the root logger to the finest level followed, holding the agent's own
        handlers at the root's former level; put everything back when none follows."""
        wanted = min((f.level for f in self._followers), default=None)
        if self._saved is not None:  # undo, then apply afresh
            level, handlers = self._saved
            self._root.setLevel(level)
            for handler, before in handlers.items():
                handler.setLevel(before)
            self._saved = None
        if wanted is None or wanted >= self._root.getEffectiveLevel():
            return
        before = self._root.level
        own = {h: h.level for h in self._root.handlers if h is not self}
        self._saved = (before, own)
        for handler, was in own.items():
            handler.setLevel(max(was, self._root.getEffectiveLevel()))
        self._root.setLevel(wanted)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = _FORMAT.format(record)
        except Exception:  # noqa: BLE001 - a bad log call must not break the agent
            return
        with self._lock:
            followers = list(self._followers)
        for follower in followers:
            if record.levelno >= follower.level:
                follower.offer(line)


MONITOR = LogMonitor()  # the agent's one monitor: every follower shares it
