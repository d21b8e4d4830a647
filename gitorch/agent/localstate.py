"""The client's state on disk, so that an agent killed with ``kill -9`` comes back as
the same node and re-attaches to the tasks it left running.

Layout under ``<data_dir>/client/``::

    node-id                  the node's ID, created once, stable across restarts
    allocs/<alloc_id>.json   one alloc runner's state (task states, restart history,
                             each task's driver ``TaskHandle``), versioned msgspec JSON

Every write goes to a temporary file in the same directory, then ``os.replace``: a
reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from pathlib import Path

import msgspec

from gitorch.agent.allocrunner import AllocRunnerState
from gitorch.errors import CodecError

log = logging.getLogger(__name__)
VERSION = 1


class _Envelope(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    version: int
    state: AllocRunnerState


_decoder = msgspec.json.Decoder(_Envelope)
_encoder = msgspec.json.Encoder()


def write_atomic(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` in one step (tmp file + ``os.replace``)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LocalState:
    """Reads and writes the client's state under ``data_dir``. ``fsync`` makes each
    write survive a power loss too (a process crash never loses a finished write)."""

    def __init__(self, data_dir: Path, *, fsync: bool = False) -> None:
        self.root = Path(data_dir) / "client"
        self.allocs_dir = self.root / "allocs"
        for folder in (self.root, self.allocs_dir):  # files are 0600 (mkstemp)
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(folder, 0o700)
        self.fsync = fsync

    def node_id(self) -> str:
        """This node's ID: read from disk, or created (a UUID) and saved on first use."""
        return self._kept_uuid("node-id")

    def node_secret(self) -> str:
        """This node's secret (Nomad's SecretID): read from disk (0600), or created."""
        return self._kept_uuid("node-secret")

    def _kept_uuid(self, name: str) -> str:
        """The UUID in file ``name``; a new one, saved (0600, fsync-ed), when there is none."""
        path = self.root / name
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            text = ""
        if text:
            return text
        value = str(uuid.uuid4())
        write_atomic(path, value.encode() + b"\n", fsync=True)
        return value

    def save_alloc(self, state: AllocRunnerState) -> None:
        data = _encoder.encode(_Envelope(version=VERSION, state=state))
        write_atomic(self._alloc_path(state.alloc.id), data, fsync=self.fsync)

    def delete_alloc(self, alloc_id: str) -> None:
        self._alloc_path(alloc_id).unlink(missing_ok=True)

    def load_alloc(self, alloc_id: str) -> AllocRunnerState:
        """One alloc's state; raises CodecError naming the file when it cannot be read."""
        path = self._alloc_path(alloc_id)
        try:
            envelope = _decoder.decode(path.read_bytes())
        except (OSError, msgspec.DecodeError) as exc:
            raise CodecError(f"{path}: cannot read alloc runner state: {exc}") from exc
        if envelope.version != VERSION:
            raise CodecError(
                f"{path}: state version {envelope.version}, this gitorch reads {VERSION}"
            )
        return envelope.state

    def load_allocs(self) -> list[AllocRunnerState]:
        """Every saved alloc runner; an unreadable file is logged and skipped (its tasks
        will be restarted by the servers' placements, never silently adopted)."""
        states: list[AllocRunnerState] = []
        for path in sorted(self.allocs_dir.glob("*.json")):
            try:
                states.append(self.load_alloc(path.stem))
            except CodecError as exc:
                log.error("skipping saved alloc: %s", exc)
        return states

    def _alloc_path(self, alloc_id: str) -> Path:
        if not alloc_id or "/" in alloc_id or alloc_id.startswith("."):
            raise ValueError(f"not an allocation ID: {alloc_id!r}")
        return self.allocs_dir / f"{alloc_id}.json"
