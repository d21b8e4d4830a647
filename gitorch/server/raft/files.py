"""What Raft keeps on disk and puts in log entries: frames, the full dump, the journal
check done before a server starts, and the last known membership.

A frame is one pysyncobj log entry holding several FSM entries (group commit). Frames
carry a CRC-32 (tag 2), so a journal damaged on disk is refused at start instead of
being applied as wrong data; tag 1 (no CRC) is still read.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Final

import msgspec
from pysyncobj import pickle as sync_pickle

JOURNAL: Final = "raft.journal"
DUMP: Final = "raft.dump"
PEERS: Final = "peers.json"
FRAME_V1: Final = b"\x01"
FRAME_V2: Final = b"\x02"
DUMP_MAGIC: Final = b"GTRDUMP\n"
DUMP_VERSION: Final = 1
PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600
_FRAME = msgspec.msgpack.Decoder(list[bytes])
# pysyncobj's journal: name (24) + version (8) + format (4) + last record offset (4),
# then records of size (4, LE) + index (8) + term (8) + command + size (4).
_HEADER: Final = 40
_NAME: Final = b"PYSYNCOBJ"
_COMMAND_TYPES: Final = {0: "regular", 1: "no-op", 2: "membership", 3: "version"}


class DataDirError(Exception):
    """The Raft files in a data dir cannot be trusted; the message says which and why."""


class Dump(msgspec.Struct, array_like=True):
    """The full-dump file after ``DUMP_MAGIC``; ``state`` is the FSM snapshot's bytes."""

    version: int
    last: tuple[bytes, int, int]  # last applied (command, index, term), and the one
    prev: tuple[bytes, int, int]  # before: pysyncobj needs both back
    cluster: list[str]
    state_crc32: int
    state: bytes


def encode_frame(entries: list[bytes]) -> bytes:
    body = msgspec.msgpack.encode(entries)
    return FRAME_V2 + zlib.crc32(body).to_bytes(4, "big") + body


def decode_frame(frame: bytes) -> list[bytes]:
    """The FSM entries of a frame; ValueError if it is damaged or unknown."""
    tag = frame[:1]
    view = memoryview(frame)
    if tag == FRAME_V2:
        body = view[5:]
        if zlib.crc32(body) != int.from_bytes(view[1:5], "big"):
            raise ValueError("frame checksum mismatch")
        return _FRAME.decode(body)
    if tag == FRAME_V1:
        return _FRAME.decode(view[1:])
    raise ValueError(f"unknown frame tag {tag!r}")


def read_dump(path: Path) -> Dump:
    raw = memoryview(path.read_bytes())
    if bytes(raw[: len(DUMP_MAGIC)]) != DUMP_MAGIC:
        raise ValueError("not a gitorch Raft dump")
    dump = msgspec.msgpack.decode(raw[len(DUMP_MAGIC) :], type=Dump)
    if dump.version != DUMP_VERSION:
        raise ValueError(f"dump version {dump.version} is not supported")
    if zlib.crc32(dump.state) != dump.state_crc32:
        raise ValueError("state checksum mismatch")
    return dump


def has_state(data_dir: Path) -> bool:
    """True when the data dir holds a Raft log or dump (not a first start)."""
    journal = data_dir / JOURNAL
    return (data_dir / DUMP).exists() or (journal.exists() and journal.stat().st_size > _HEADER)


def check_data_dir(data_dir: Path) -> None:
    """Refuse (DataDirError) a journal, its metadata or a dump that cannot be read back
    exactly: pysyncobj itself would skip what it cannot parse and serve the rest."""
    journal = data_dir / JOURNAL
    last_index = _check_journal(journal) if journal.exists() else -1
    meta = data_dir / (JOURNAL + ".meta")
    if meta.exists():
        try:
            value = sync_pickle.loads(meta.read_bytes())
        except Exception as exc:
            raise DataDirError(f"{meta}: unreadable Raft term/vote record ({exc})") from None
        if not isinstance(value, dict):
            raise DataDirError(f"{meta}: unreadable Raft term/vote record (not a dict)")
    dump = data_dir / DUMP
    if dump.exists():
        try:
            last_index = max(last_index, read_dump(dump).last[1])
        except Exception as exc:
            raise DataDirError(f"{dump}: unreadable Raft dump ({exc})") from None
    committed = commit_index(data_dir)
    if last_index >= 0 and committed > last_index:
        raise DataDirError(
            f"{journal}: Raft log ends at index {last_index} but index {committed} was "
            "committed (term/vote record): acknowledged writes are missing. Restore this "
            "data dir from a backup, or (in a cluster) move it aside and let this server "
            "rejoin from the others"
        )


def _check_journal(path: Path) -> int:
    """The index of the journal's last record (-1 if it has none)."""
    data = path.read_bytes()
    if len(data) < _HEADER:
        if not data.strip(b"\0"):
            return -1  # created, never written
        raise DataDirError(f"{path}: corrupted Raft journal: truncated header")
    if data[:24].rstrip(b"\0") != _NAME:
        raise DataDirError(f"{path}: corrupted Raft journal: not a pysyncobj journal")
    fmt, last = struct.unpack("<II", data[32:40])
    if fmt != 1 or not _HEADER <= last <= len(data):
        raise DataDirError(f"{path}: corrupted Raft journal: bad header (format {fmt}, end {last})")
    pos, number, prev = _HEADER, 0, (-1, 0)
    while pos < last:
        number += 1
        try:
            prev = _check_record(data, pos, last, prev)
        except ValueError as exc:
            raise DataDirError(
                f"{path}: corrupted Raft journal: record {number} at byte {pos}: {exc}"
            ) from None
        pos += struct.unpack("<I", data[pos : pos + 4])[0] + 8
    _check_end(path, data, last, prev)
    return prev[0]


def _check_end(path: Path, data: bytes, last: int, prev: tuple[int, int]) -> None:
    """The header's end offset must be the end of the log: records past it that carry
    on the index sequence (checked like any other, frames' CRCs included) mean the header
    was moved back, and starting would silently drop those writes. One such record is
    allowed: a process killed between writing a record and the header (that record was
    not yet acknowledged). A truncation zeroes the bytes after the new end, and reused
    space holds records whose index or term does not follow."""
    hidden: list[int] = []
    pos, tail = last, prev
    while pos < len(data) and tail[0] >= 0:
        try:
            tail = _check_record(data, pos, len(data), tail)
        except ValueError:
            break
        hidden.append(tail[0])
        pos += struct.unpack("<I", data[pos : pos + 4])[0] + 8
    if len(hidden) > 1:
        raise DataDirError(
            f"{path}: Raft journal header rolled back: it ends at byte {last} (index "
            f"{prev[0]}), but {len(hidden)} more valid records follow it (indexes "
            f"{hidden[0]}..{hidden[-1]}); starting would lose writes that may have been "
            "acknowledged. Restore this data dir from a backup, or (in a cluster) move it "
            "aside and let this server rejoin from the others"
        )


def commit_index(data_dir: Path) -> int:
    """The commit index in the journal's term/vote record (0 if none)."""
    try:
        value = sync_pickle.loads((data_dir / (JOURNAL + ".meta")).read_bytes())
    except Exception:  # noqa: BLE001 - check_data_dir reports a damaged one
        return 0
    return int(value.get("raftCommitIndex", 0)) if isinstance(value, dict) else 0


def _check_record(data: bytes, pos: int, last: int, prev: tuple[int, int]) -> tuple[int, int]:
    if pos + 4 > last:
        raise ValueError("truncated size")
    size = struct.unpack("<I", data[pos : pos + 4])[0]
    if size < 17 or pos + 8 + size > last:
        raise ValueError(f"size {size} runs past the end")
    if struct.unpack("<I", data[pos + 4 + size : pos + 8 + size])[0] != size:
        raise ValueError("size trailer does not match")
    idx, term = struct.unpack("<QQ", data[pos + 4 : pos + 20])
    if prev[0] >= 0 and (idx != prev[0] + 1 or term < prev[1]):
        raise ValueError(f"index {idx} term {term} after index {prev[0]} term {prev[1]}")
    command = data[pos + 20 : pos + 4 + size]
    kind = command[0]
    if kind not in _COMMAND_TYPES:
        raise ValueError(f"unknown command type {kind}")
    if kind in (0, 2):
        try:
            value = sync_pickle.loads(command[1:])
        except Exception as exc:
            raise ValueError(f"{_COMMAND_TYPES[kind]} entry {idx} does not decode: {exc}") from None
        if kind == 0:
            args = value[1] if isinstance(value, tuple) and len(value) >= 2 else ()
            if not args or not isinstance(args[0], bytes):
                raise ValueError(f"entry {idx} is not a gitorch frame")
            decode_frame(args[0])
    return idx, term


def load_peers(data_dir: Path) -> list[str] | None:
    """The membership this server last saw (None if never saved or unreadable)."""
    try:
        value = json.loads((data_dir / PEERS).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return sorted(value)
    return None


def save_peers(data_dir: Path, peers: list[str]) -> None:
    tmp = data_dir / (PEERS + ".tmp")
    write_private(tmp, json.dumps(sorted(peers)).encode())
    os.replace(tmp, data_dir / PEERS)


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and make it 0700: Raft data is for this server only."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` as a 0600 file (replacing what was there)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
