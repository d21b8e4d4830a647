"""Test harness: real git repositories in tmp_path and real `gitorch agent` processes.

Agents listen on 127.0.0.1 on free ports; every wait is bounded; every process is
stopped by the PID this harness started.
"""

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
GIT_ENV = {
    "GIT_AUTHOR_NAME": "tester",
    "GIT_AUTHOR_EMAIL": "tester@example.com",
    "GIT_COMMITTER_NAME": "tester",
    "GIT_COMMITTER_EMAIL": "tester@example.com",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(fn: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll ``fn`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (httpx.HTTPError, KeyError, IndexError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class GitRepo:
    """A real repository a test commits to, as a user would."""

    def __init__(self, path: Path, branch: str = "main") -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", branch)

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        out = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return out.stdout.strip()

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str, **files: str | None) -> str:
        """Write (or, with None, delete) files given as path=text, commit all, return SHA."""
        for rel, text in files.items():
            rel = rel.replace("__", "/")
            if text is None:
                self.git("rm", "-q", rel)
            else:
                self.write(rel, text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


class Agent:
    """A `gitorch agent` process started by the test."""

    def __init__(self, data_dir: Path, *args: str, http_port: int | None = None) -> None:
        self.data_dir = data_dir
        self.http_port = http_port or free_port()
        self.rpc_port = free_port()
        self.args = [
            *args,
            "--data-dir",
            str(data_dir),
            "--http-port",
            str(self.http_port),
            "--rpc-port",
            str(self.rpc_port),
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"agent-{self.http_port}.log"
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def start(self, timeout: float = 30) -> Agent:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gitorch", "agent", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._healthy, timeout, f"agent on {self.url} to be healthy ({self.log_path})")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.output()}")
        return self.http.get("/v1/agent/health").status_code == 200

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def stop_jobs(self, timeout: float = 30) -> None:
        """Purge every job and wait until no allocation is live: tasks outlive the agent
        (as in Nomad), so a test stops them through the API before it stops the agent."""
        if self.proc is None or self.proc.poll() is not None:
            return

        def stopped() -> bool:
            # GitOps re-registers a job its repository still holds when it syncs (as
            # after an agent restart): suspend it first, and purge again what comes back.
            for job in self.get("/v1/jobs", namespace="*"):
                job_id, ns = job["ID"], job["Namespace"]
                self.http.post(f"/v1/gitops/job/{job_id}/suspend")  # 404 without GitOps
                self.http.delete(
                    f"/v1/job/{job_id}", params={"purge": "true", "force": "true", "namespace": ns}
                )
            return all(
                a["ClientStatus"] in ("complete", "failed", "lost")
                for a in self.get("/v1/allocations", namespace="*")
            )

        wait_for(stopped, timeout, "all tasks stopped", every=0.5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any = None) -> Any:
        r = self.http.post(path, json=body)
        r.raise_for_status()
        return r.json()

    def allocs(self, job_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/v1/job/{job_id}/allocations"))

    def running(self, job_id: str, version: int | None = None) -> list[dict[str, Any]]:
        return [
            a
            for a in self.allocs(job_id)
            if a["ClientStatus"] == "running"
            and a["DesiredStatus"] == "run"
            and (version is None or a["JobVersion"] == version)
        ]
