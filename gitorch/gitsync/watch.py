"""Watch a local repository's git dir for new commits (the only watchdog import).

An accelerator only: the sync loop polls as well, so a missed event delays a sync by one
poll interval at worst.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

_TOP_LEVEL = frozenset({"HEAD", "packed-refs"})  # files directly in the git dir
_TREES = ("refs", "logs")  # folders watched recursively


class WatchError(Exception):
    """The watcher could not start; the message says why and what to do."""


class RefWatcher:
    """Calls `on_change()` from a daemon thread soon after a ref of `git_dir` changes.

    Events within `debounce` seconds of each other are coalesced into one call (at most
    `max_delay` after the first); a call is never concurrent with another.
    """

    def __init__(
        self,
        git_dir: Path,
        on_change: Callable[[], None],
        *,
        debounce: float = 0.03,
        max_delay: float = 0.25,
    ) -> None:
        self._git_dir = Path(git_dir).absolute()
        self._on_change = on_change
        self._debounce = debounce
        self._max_delay = max_delay
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._observer: BaseObserver | None = None
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        """Start watching; raises WatchError when the git dir cannot be watched."""
        if self._observer is not None:
            raise WatchError(f"watcher for {self._git_dir} already started")
        if not (self._git_dir / "refs").is_dir():
            raise WatchError(f"{self._git_dir} is not a git dir (no refs/): fix gitops.repo")
        handler = _Handler(self._git_dir, self._pending)
        observer = Observer()
        observer.schedule(handler, str(self._git_dir), recursive=False)
        for name in _TREES:
            if (self._git_dir / name).is_dir():
                observer.schedule(handler, str(self._git_dir / name), recursive=True)
        self._stopping.clear()
        try:
            observer.start()
        except OSError as exc:
            raise WatchError(
                f"cannot watch {self._git_dir} ({exc}): raise fs.inotify.max_user_watches "
                "or rely on polling"
            ) from exc
        self._observer = observer
        self._worker = threading.Thread(
            target=self._run, name=f"gitorch-refwatch:{self._git_dir.name}", daemon=True
        )
        self._worker.start()

    def stop(self) -> None:
        """Stop watching and wait for the threads; no `on_change()` call starts afterwards."""
        observer, worker = self._observer, self._worker
        self._observer = self._worker = None
        self._stopping.set()
        self._pending.set()  # wake the worker
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=5)
        self._pending.clear()

    def __enter__(self) -> RefWatcher:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        while True:
            self._pending.wait()
            if self._stopping.is_set():
                return
            deadline = time.monotonic() + self._max_delay
            while True:  # coalesce a burst (ref lock, rename, reflog append, ...)
                self._pending.clear()
                if self._stopping.wait(self._debounce):
                    return
                if not self._pending.is_set() or time.monotonic() >= deadline:
                    break
            try:
                self._on_change()
            except Exception:
                log.exception("ref watcher callback failed for %s", self._git_dir)


class _Handler(FileSystemEventHandler):
    """Sets `pending` when an event touches a ref, packed-refs, HEAD or a reflog."""

    def __init__(self, git_dir: Path, pending: threading.Event) -> None:
        super().__init__()
        self._root = str(git_dir)
        self._pending = pending

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(self._relevant(os.fsdecode(p)) for p in paths if p):
            self._pending.set()

    def _relevant(self, path: str) -> bool:
        rel = os.path.relpath(path, self._root).replace(os.sep, "/")
        if rel.endswith(".lock") or rel.startswith("../"):
            return False  # the rename that follows the lock file is the real update
        return rel in _TOP_LEVEL or rel.split("/", 1)[0] in _TREES
