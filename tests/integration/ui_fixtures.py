"""Shared by the UI tests: a real dev agent on a real Git repository whose jobs carry
hostile names, meta and log lines, and a broken file; the repository served by `git
daemon` so the agent syncs only when asked; and Debian's chromium for the browser tests
(their ``browser`` and ``page`` fixtures are in this folder's conftest.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from harness import Agent, GitRepo, free_port, wait_for

HOSTILE = "<script>window.pwned=1</script>"
HOSTILE_JOB = "<script>"  # a job ID may not hold "/", so no closing tag

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/setup installs it)"
)


def not_pwned(page: Any) -> None:
    """No hostile string ran as script on the Playwright ``page``."""
    assert page.evaluate("typeof window.pwned") == "undefined"


def echo_job(job_id: str, line: str, meta: str = "plain") -> str:
    return f'''
job "{job_id}" {{
  meta {{
    owner = "{meta}"
  }}
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "echo '{line}'; exec sleep 300"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
      kill_timeout = "2s"
    }}
  }}
}}
'''


BROKEN = 'job "broken" {\n  group "g" {\n    count = "many"\n  }\n}\n'


def web_repo(parent: Path) -> GitRepo:
    """A repository in ``parent`` whose one commit, its subject hostile, adds the job
    ``web`` echoing ``v0``."""
    r = GitRepo(parent / "repo")
    r.commit(f"Add web {HOSTILE}", **{"jobs__web.nomad.hcl": echo_job("web", "v0")})
    return r


@contextmanager
def git_daemon(repo: GitRepo) -> Iterator[str]:
    """`git daemon` serving ``repo`` on 127.0.0.1; yields its git:// URL."""
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={repo.path.parent}",
            "--export-all",
            str(repo.path.parent),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"git://127.0.0.1:{port}/{repo.path.name}"
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def dev_agent(repo: GitRepo, url: str, name: str = "agent") -> Agent:
    """A dev agent (not started) whose GitOps source is ``url``'s ``jobs`` folder, polled
    hourly, so it syncs at its start and then only when asked."""
    config = repo.path.parent / f"{name}.hcl"
    config.write_text(f'gitops {{\n  repo = "{url}"\n  path = "jobs"\n  poll_interval = "1h"\n}}\n')
    return Agent(repo.path.parent / f"{name}-data", "--dev", "--config", str(config))


@contextmanager
def served_dev_agent(repo: GitRepo, job: str) -> Iterator[Agent]:
    """A dev agent on ``repo`` served by `git daemon`, once ``job`` is running; its jobs
    and then it are stopped after."""
    with git_daemon(repo) as url:
        a = dev_agent(repo, url)
        try:
            a.start()
            wait_for(lambda: a.running(job), 30, f"{job} running")
            yield a
        finally:
            a.stop_jobs()
            a.stop()
