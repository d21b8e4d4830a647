"""The client's files under data_dir and a task's secrets/ are private: 0600 files in
0700 folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gitorch.agent.localstate import LocalState
from gitorch.agent.taskrunner import make_dirs
from gitorch.core.task import TaskConfig


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_local_state_is_private_even_under_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        state = LocalState(tmp_path / "data")
        state.node_id()
    finally:
        os.umask(old)
    root = tmp_path / "data" / "client"
    assert mode(root) == 0o700 and mode(root / "allocs") == 0o700
    assert mode(root / "node-id") == 0o600


def test_a_tasks_secrets_dir_is_private(tmp_path: Path) -> None:
    cfg = TaskConfig(
        alloc_id="a1",
        task_name="t",
        driver="raw_exec",
        task_dir=str(tmp_path / "t"),
        alloc_dir=str(tmp_path / "alloc"),
        log_dir=str(tmp_path / "alloc" / "logs"),
    )
    old = os.umask(0o022)
    try:
        make_dirs(cfg)
        (tmp_path / "t" / "secrets").chmod(0o755)  # a restart finds it loose: fixed again
        make_dirs(cfg)
    finally:
        os.umask(old)
    assert mode(tmp_path / "t" / "secrets") == 0o700
    assert mode(tmp_path / "t" / "local") == 0o755  # the rest as Nomad makes it
