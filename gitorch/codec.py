"""The only serializer: msgspec msgpack for the Raft log and snapshots, JSON for HTTP.

Log entries and snapshots are versioned envelopes: one version byte, then msgpack.
No pickle anywhere: a log written by this version is read by the next one, or refused
with a clear error.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from gitorch.core.commands import Command
from gitorch.core.state import StateDump
from gitorch.errors import CodecError

ENVELOPE_VERSION = 1
T = TypeVar("T")

_cmd_encoder = msgspec.msgpack.Encoder()
_cmd_decoder: msgspec.msgpack.Decoder[Command] = msgspec.msgpack.Decoder(Command)
_dump_decoder = msgspec.msgpack.Decoder(StateDump)
_json_encoder = msgspec.json.Encoder()


def encode_command(cmd: Command) -> bytes:
    return bytes([ENVELOPE_VERSION]) + _cmd_encoder.encode(cmd)


def decode_command(data: bytes) -> Command:
    _check_version(data, "log entry")
    try:
        return _cmd_decoder.decode(data[1:])
    except msgspec.DecodeError as exc:
        raise CodecError(f"cannot decode log entry: {exc}") from exc


def encode_state(dump: StateDump) -> bytes:
    return bytes([ENVELOPE_VERSION]) + _cmd_encoder.encode(dump)


def decode_state(data: bytes) -> StateDump:
    _check_version(data, "snapshot")
    try:
        return _dump_decoder.decode(data[1:])
    except msgspec.DecodeError as exc:
        raise CodecError(f"cannot decode snapshot: {exc}") from exc


def to_json(value: Any) -> bytes:
    return _json_encoder.encode(value)


def from_json(data: bytes | str, type_: type[T]) -> T:
    return msgspec.json.decode(data, type=type_)


def convert(value: Any, type_: type[T]) -> T:
    """Build a typed value from plain dicts (str keys in Nomad's wire names)."""
    return msgspec.convert(value, type=type_)


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def _check_version(data: bytes, what: str) -> None:
    if not data:
        raise CodecError(f"empty {what}")
    if data[0] != ENVELOPE_VERSION:
        raise CodecError(
            f"{what} has envelope version {data[0]}, this gitorch reads {ENVELOPE_VERSION}: "
            "upgrade gitorch or restore the data dir that matches this version"
        )
