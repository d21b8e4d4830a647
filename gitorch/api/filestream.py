"""Reading a growing file for the streaming client routes (logs, fs stream): chunks
from an offset, following while the task lives, and Nomad's JSON frames."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

import anyio
from starlette.responses import Response, StreamingResponse

from gitorch.api.http import nomad_headers
from gitorch.errors import NotFoundError

POLL_SECONDS = 0.2  # how often a follow re-reads a file that has not grown
HEARTBEAT_SECONDS = 10.0  # an empty frame this often keeps framed streams alive
CHUNK = 64 * 1024


def start_offset(path: Path, origin: str, offset: int) -> int:
    """Where to start reading: ``offset`` from the start, or back from the end."""
    if origin == "start":
        return offset
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    return max(0, size - offset)


async def follow_file(
    current_path: Callable[[], Path],
    path: Path,
    *,
    start: int,
    follow: bool,
    done: Callable[[], bool],
) -> AsyncIterator[tuple[int, bytes] | None]:
    """Yield ``(offset, bytes)`` of the file from ``start``; while following, poll for
    growth (and a rotation to a new file), yielding ``None`` when idle, until the task
    is done."""
    pos = start
    while True:
        data = read_chunk(path, pos)
        if data:
            yield pos, data
            pos += len(data)
            continue
        if not follow:
            return
        try:
            latest = current_path()
        except NotFoundError:
            latest = path
        if latest != path:
            path, pos = latest, 0
            continue
        if done():
            if not read_chunk(path, pos):
                return
            continue
        yield None
        await anyio.sleep(POLL_SECONDS)


def read_chunk(path: Path, pos: int, size: int = CHUNK) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(pos)
            return f.read(size)
    except FileNotFoundError:
        return b""


def stream_response(
    chunks: AsyncIterator[tuple[int, bytes] | None], *, plain: bool, file: str
) -> Response:
    """Raw bytes (``plain``) or Nomad's JSON frames ``{"Data", "File", "Offset"}``."""

    async def body() -> AsyncIterator[bytes]:
        idle = 0.0
        async for chunk in chunks:
            if chunk is None:
                idle += POLL_SECONDS
                if not plain and idle >= HEARTBEAT_SECONDS:
                    idle = 0.0
                    yield b"{}"
                continue
            idle = 0.0
            offset, data = chunk
            if plain:
                yield data
            else:
                encoded = base64.b64encode(data).decode("ascii")
                yield json.dumps({"Data": encoded, "File": file, "Offset": offset}).encode()

    media = "text/plain; charset=utf-8" if plain else "application/json"
    return StreamingResponse(body(), media_type=media, headers=nomad_headers())


async def follow_open(
    f: BinaryIO, *, start: int, follow: bool, done: Callable[[], bool]
) -> AsyncIterator[tuple[int, bytes] | None]:
    """As ``follow_file``, on a file already opened (and checked) by the caller, which
    this closes when done."""
    pos = start
    try:
        while True:
            f.seek(pos)
            data = f.read(CHUNK)
            if data:
                yield pos, data
                pos += len(data)
                continue
            if not follow or done():
                return
            yield None
            await anyio.sleep(POLL_SECONDS)
    finally:
        f.close()


async def read_range(f: BinaryIO, start: int, limit: int) -> AsyncIterator[bytes]:
    """``limit`` bytes (0: to the end) from ``start`` of an open file, which this closes."""
    try:
        f.seek(start)
        left = limit if limit > 0 else -1
        while left != 0:
            data = f.read(CHUNK if left < 0 else min(CHUNK, left))
            if not data:
                return
            yield data
            if left > 0:
                left -= len(data)
            await anyio.sleep(0)
    finally:
        f.close()
