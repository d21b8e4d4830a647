"""Server agents for cluster tests: started without waiting (a server alone has no
leader, so it is not healthy until its peers run too), signalled, read with ?stale."""

from __future__ import annotations

import signal as signals
import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

from harness import Agent, wait_for


class Node(Agent):
    def launch(self) -> Node:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gitorch", "agent", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def healthy(self, timeout: float = 30) -> Node:
        wait_for(self._healthy, timeout, f"{self.url} healthy ({self.log_path})")
        return self

    @property
    def raft(self) -> str:
        return f"127.0.0.1:{self.rpc_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stale(self, path: str) -> Any:
        return self.get(path, stale="")


N = TypeVar("N", bound="Node")


def agreed_leader(nodes: list[N], timeout: float = 30) -> N:
    """The one of ``nodes`` that every one of them names as leader (waits for it)."""

    def agreed() -> N | None:
        names = {n.get("/v1/status/leader") for n in nodes}
        name = names.pop() if len(names) == 1 else None
        return next((n for n in nodes if n.raft == name), None)

    return wait_for(agreed, timeout, "one agreed leader", every=0.05)


def server_config(path: Path, peers: list[str], extra: str = "", expect: int = 3) -> Path:
    joined = ", ".join(f'"{p}"' for p in peers)
    path.write_text(
        f"server {{\n  enabled          = true\n  bootstrap_expect = {expect}\n"
        f"  server_join {{ retry_join = [{joined}] }}\n}}\n{extra}"
    )
    return path


def resume_all(nodes: list[Node]) -> None:
    """SIGCONT every running node (a stopped process would hang a teardown)."""
    for node in nodes:
        if node.running:
            node.signal(signals.SIGCONT)
