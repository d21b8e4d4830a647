"""A real ``gitorch agent -dev`` process for these tests: a Git repository of jobs, an
agent config file, and the agent's HTTP API. Everything on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(fn: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def git_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "jobs"], check=True, env=env)
    return path


class DevAgent:
    def __init__(self, tmp: Path, repo: Path, config: str) -> None:
        self.data_dir = tmp / "data"
        self.config = tmp / "agent.hcl"
        self.config.write_text(config)
        self.port = free_port()
        self.log = tmp / "agent.log"
        self.args = [sys.executable, "-m", "gitorch", "agent", "--dev", "--repo", str(repo),
                     "--path", "jobs", "--config", str(self.config), "--data-dir",
                     str(self.data_dir), "--http-port", str(self.port), "--rpc-port",
                     str(free_port())]  # fmt: skip
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DevAgent:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # fmt: skip

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited:\n{self.output()}")
            try:
                return self.http.get("/v1/agent/health").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 30, "the agent to be healthy")
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str) -> Any:
        r = self.http.get(path)
        r.raise_for_status()
        return r.json()

    def running(self, job: str) -> list[dict[str, Any]]:
        r = self.http.get(f"/v1/job/{job}/allocations")
        if r.status_code == 404:
            return []  # not synced from Git yet
        r.raise_for_status()
        return [
            a for a in r.json()
            if a["ClientStatus"] == "running" and a["DesiredStatus"] == "run"
        ]  # fmt: skip

    def stop(self) -> None:
        """Stop every job (tasks outlive the agent), then the agent (by its PID)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            for job in self.get("/v1/jobs"):
                params = {"purge": "true", "force": "true"}
                self.http.delete(f"/v1/job/{job['ID']}", params=params)
            wait_for(
                lambda: all(a["ClientStatus"] != "running" for a in self.get("/v1/allocations"))
                or None,
                30,
                "all tasks stopped",
            )
        finally:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
