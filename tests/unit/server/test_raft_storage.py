"""Storage faults of a real Raft node: a full disk (a real tmpfs) refuses writes with
the reason and recovers when space is freed; a journal header moved back is refused
at start; Raft files are 0600 in a 0700 folder."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import threading
from pathlib import Path

import pytest
from test_raft import Fsm, free_port, wait_for
from tmpfs import fill, tmpfs

from gitorch.server.raft import DataDirError, RaftNode, StorageFullError, check_data_dir
from gitorch.server.raft.files import JOURNAL
from gitorch.server.raft.journal import ReservedJournal

pytestmark = pytest.mark.timeout(120)


def start(data_dir: Path, fsm: Fsm) -> RaftNode:
    addr = f"127.0.0.1:{free_port()}"
    node = RaftNode(addr, [addr], data_dir, fsm.apply, fsm.snapshot, fsm.restore)
    assert wait_for(node.is_leader) and node.wait_ready(10)
    return node


def write_entries(node: RaftNode, count: int, writers: int = 8) -> None:
    """``count`` entries from ``writers`` threads (one: one log record per entry)."""

    def writer(k: int) -> None:
        for i in range(k, count, writers):
            node.submit(b"e" + str(i).encode())

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def record_offsets(journal: Path) -> list[int]:
    data = journal.read_bytes()
    end = struct.unpack("<I", data[36:40])[0]
    pos, offsets = 40, []
    while pos < end:
        offsets.append(pos)
        pos += struct.unpack("<I", data[pos : pos + 4])[0] + 8
    return offsets


def test_a_full_disk_refuses_writes_with_the_reason_and_recovers(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "24m") as mnt:
        fsm = Fsm()
        node = start(mnt / "raft", fsm)
        try:
            write_entries(node, 50)
            filler = fill(mnt / "filler")
            with pytest.raises(StorageFullError, match="no disk space for the Raft log in .*"
                               "writes are refused until space is freed"):  # fmt: skip
                node.submit(b"while-full")
            assert node.storage_problem() is not None and node.fatal() is None
            assert len(fsm.entries) == 50  # what was there is still served
            filler.unlink()
            assert node.submit(b"after") == 51
            assert node.storage_problem() is None
        finally:
            node.close()
        # and the log on the once-full disk reads back whole
        check_data_dir(mnt / "raft")
        again = Fsm()
        node = start(mnt / "raft", again)
        try:
            assert wait_for(lambda: len(again.entries) == 51)
            assert again.entries[-1] == b"after"
        finally:
            node.close()


def test_a_journal_write_that_hits_enospc_is_held_and_written_when_space_returns(
    tmp_path: Path,
) -> None:
    """The path no check can cover (a follower's entries, an internal entry): the write
    fails with ENOSPC, the record stays in memory, and it lands once there is space."""
    with tmpfs(tmp_path / "mnt", "8m") as mnt:
        journal = ReservedJournal(str(mnt / JOURNAL))
        journal.add(b"\x01", 1, 1)
        filler = fill(mnt / "filler")
        big = b"\x01" + b"x" * (6 << 20)  # past the reserve: must allocate, cannot
        journal.add(big, 2, 1)
        assert len(journal) == 2 and "records not written" in str(journal.degraded())
        filler.unlink()
        journal.onOneSecondTimer()
        assert journal.degraded() is None
        journal._destroy()
        again = ReservedJournal(str(mnt / JOURNAL))
        assert [e[1] for e in again] == [1, 2] and again[1][0] == big
        again._destroy()


@pytest.mark.parametrize("back", [10, 100, 1000])
def test_a_rolled_back_journal_header_is_refused_at_start(tmp_path: Path, back: int) -> None:
    fsm = Fsm()
    node = start(tmp_path / "raft", fsm)
    write_entries(node, 1100, writers=1)
    node.close()
    check_data_dir(tmp_path / "raft")  # as written: fine
    journal = tmp_path / "raft" / JOURNAL
    offsets = record_offsets(journal)
    data = bytearray(journal.read_bytes())
    data[36:40] = struct.pack("<I", offsets[-back])
    journal.write_bytes(bytes(data))
    with pytest.raises(DataDirError, match=rf"header rolled back: .* {back} more valid records"):
        check_data_dir(tmp_path / "raft")


def test_a_rolled_back_header_with_the_tail_wiped_is_caught_by_the_commit_index(
    tmp_path: Path,
) -> None:
    node = start(tmp_path / "raft", Fsm())
    write_entries(node, 300, writers=1)
    node.close()
    journal = tmp_path / "raft" / JOURNAL
    offsets = record_offsets(journal)
    data = bytearray(journal.read_bytes())
    data[36:40] = struct.pack("<I", offsets[-100])
    data[offsets[-100] :] = bytes(len(data) - offsets[-100])
    journal.write_bytes(bytes(data))
    with pytest.raises(DataDirError, match="acknowledged writes are missing"):
        check_data_dir(tmp_path / "raft")


def test_a_truncated_log_is_not_mistaken_for_a_rollback(tmp_path: Path) -> None:
    """A follower drops conflicting entries (deleteEntriesFrom): their bytes stay in the
    file, but the journal marks the new end so they never read as a continuation."""
    path = tmp_path / JOURNAL
    journal = ReservedJournal(str(path))
    for i in range(1, 21):
        journal.add(b"\x01", i, 1)
    journal.deleteEntriesFrom(10)
    journal._destroy()
    check_data_dir(tmp_path)
    again = ReservedJournal(str(path))
    assert [e[1] for e in again] == list(range(1, 11))
    again._destroy()


def test_raft_files_are_private(tmp_path: Path) -> None:
    node = start(tmp_path / "raft", Fsm())
    try:
        write_entries(node, 20)
        assert node.compact()
    finally:
        node.close()
    folder = tmp_path / "raft"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = sorted(p.name for p in folder.iterdir())
    assert {"raft.journal", "raft.journal.meta", "raft.dump"} <= set(names), names
    for p in folder.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p, oct(p.stat().st_mode))
    shutil.rmtree(folder)
    assert not os.path.exists(folder)
