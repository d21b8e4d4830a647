"""Real gitorch agent processes on 127.0.0.1 for benchmarks: a 3-server cluster and
client-only agents, each a ``python -m gitorch agent`` with its own config and data dir."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(what: str, fn: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


class Agent:
    def __init__(self, root: Path, name: str, http: int = 0, rpc: int = 0) -> None:
        self.name = name
        self.http, self.rpc = http or free_port(), rpc or free_port()
        self.config = root / f"{name}.hcl"
        self.data_dir = root / name
        self.log = root / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.http}", timeout=5)

    @property
    def raft(self) -> str:
        return f"127.0.0.1:{self.rpc}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.http}"

    def start(self, config: str) -> None:
        self.config.write_text(config)
        self.restart()

    def restart(self) -> None:
        """Start the process again with the config file and data dir it had."""
        args = ["-config", str(self.config), "--data-dir", str(self.data_dir)]
        args += ["--http-port", str(self.http), "--rpc-port", str(self.rpc)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gitorch", "agent", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def get(self, path: str) -> Any:
        try:
            r = self.client.get(path)
            return r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None


def start_servers(root: Path, count: int = 3, extra: str = "") -> list[Agent]:
    """``count`` server agents that bootstrap one cluster; returns once they agree on a
    leader."""
    servers = [Agent(root, f"server{i}") for i in range(count)]
    peers = ", ".join(f'"{s.raft}"' for s in servers)
    config = (
        f"server {{\n  enabled = true\n  bootstrap_expect = {count}\n"
        f"  server_join {{ retry_join = [{peers}] }}\n{extra}}}\n"
    )
    try:
        for s in servers:
            s.start(config)
        wait("a leader", lambda: all(s.get("/v1/status/leader") for s in servers), 90)
    except BaseException:
        for s in servers:
            s.stop()
        raise
    return servers


def leader_of(servers: list[Agent]) -> Agent:
    name = servers[0].get("/v1/status/leader")
    return next(s for s in servers if s.raft == name)
