"""The file ``gitorch operator snapshot save`` writes (``GET /v1/operator/snapshot``)
and ``restore`` reads back: a header line naming the format, a JSON metadata line
(version, index, cluster, SHA-256 of the state), then the state dump (the codec's
versioned envelope), zlib-compressed. A restore checks every part before anything
enters the Raft log, so a damaged or foreign file is refused with what is wrong."""

from __future__ import annotations

import hashlib
import zlib
from typing import Final

import msgspec

from gitorch import codec
from gitorch.core.statedump import StateDump
from gitorch.errors import BadRequestError, CodecError

MAGIC: Final = b"gitorch-snapshot\n"
FORMAT_VERSION: Final = 1
MAX_STATE_BYTES: Final = 4 << 30  # decompressed: refuse a zip bomb before it fills memory


class SnapshotMeta(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    version: int
    index: int
    cluster_id: str
    created: int  # unix nanoseconds
    sha256: str  # of the uncompressed state envelope


def encode(dump: StateDump, cluster_id: str, created: int) -> bytes:
    state = codec.encode_state(dump)
    meta = SnapshotMeta(
        version=FORMAT_VERSION,
        index=dump.index,
        cluster_id=cluster_id,
        created=created,
        sha256=hashlib.sha256(state).hexdigest(),
    )
    return MAGIC + msgspec.json.encode(meta) + b"\n" + zlib.compress(state, 6)


def decode(data: bytes) -> tuple[SnapshotMeta, StateDump, bytes]:
    """The metadata, the state and its envelope of a snapshot file; ``BadRequestError``
    naming what is wrong with anything else."""
    if not data.startswith(MAGIC):
        raise BadRequestError(
            "not a gitorch snapshot: the file does not start with 'gitorch-snapshot' "
            "(save one with gitorch operator snapshot save FILE)"
        )
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise BadRequestError("damaged snapshot: the metadata line is cut off")
    try:
        meta = msgspec.json.decode(data[len(MAGIC) : end], type=SnapshotMeta)
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"damaged snapshot: metadata line: {exc}") from exc
    if meta.version != FORMAT_VERSION:
        raise BadRequestError(
            f"snapshot format version {meta.version}; this gitorch reads {FORMAT_VERSION}"
        )
    inflater = zlib.decompressobj()
    try:
        state = inflater.decompress(data[end + 1 :], MAX_STATE_BYTES)
    except zlib.error as exc:
        raise BadRequestError(f"damaged snapshot: the state does not decompress ({exc})") from exc
    if inflater.unconsumed_tail:
        raise BadRequestError(f"snapshot state is over {MAX_STATE_BYTES} bytes uncompressed")
    if not inflater.eof:
        raise BadRequestError("damaged snapshot: the state is cut off (truncated file?)")
    if hashlib.sha256(state).hexdigest() != meta.sha256:
        raise BadRequestError("damaged snapshot: the state's SHA-256 does not match its metadata")
    try:
        dump = codec.decode_state(state)
    except CodecError as exc:
        raise BadRequestError(f"snapshot state unreadable: {exc}") from exc
    return meta, dump, state
