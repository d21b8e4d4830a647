"""Shared fixtures: real git repositories and real agent processes on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import logging  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

DIVERGED = "may have diverged"


class _DivergenceWatch(logging.Handler):
    """Collects pysyncobj's "state machine may have diverged" lines."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if DIVERGED in message:
            self.lines.append(message)


@pytest.fixture(autouse=True)
def no_raft_divergence() -> Iterator[None]:
    """A Raft replica in this process that truncates already-applied entries fails the
    test that was running (agents in their own processes are checked by their tests)."""
    watch = _DivergenceWatch()
    logger = logging.getLogger("pysyncobj")
    logger.addHandler(watch)
    try:
        yield
    finally:
        logger.removeHandler(watch)
    assert not watch.lines, f"Raft replica diverged: {watch.lines[:3]}"
