"""The Git view and live feed over plain HTTP (httpx), against a real dev agent whose Git
repository is served by `git daemon` (it syncs only when asked): applying a dry run's
commit after the branch moved is 409 naming both SHAs and changes nothing (API and the
UI's Apply form), the overview shows the commit's subject (escaped) and author, and
/ui/events sends a `change` event when a sync registers a new version."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from harness import Agent, GitRepo
from ui_fixtures import HOSTILE, echo_job, served_dev_agent, web_repo

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return web_repo(tmp_path_factory.mktemp("ui-git"))


@pytest.fixture(scope="module")
def agent(repo: GitRepo) -> Iterator[Agent]:
    with served_dev_agent(repo, "web") as a:
        yield a


def version(agent: Agent) -> int:
    return int(agent.get("/v1/job/web")["Version"])


def test_the_overview_shows_the_commit_subject_escaped_and_its_author(
    agent: Agent, repo: GitRepo
) -> None:
    status = agent.get("/v1/gitops/status")
    assert status["Commit"] == repo.git("rev-parse", "HEAD")
    assert status["CommitSubject"] == f"Add web {HOSTILE}"
    assert status["CommitAuthor"] == "tester" and status["CommitTime"] > 0
    html = agent.http.get("/ui/").text
    assert "Add web &lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    assert HOSTILE not in html
    assert '<div class="muted commit-meta">tester, committed' in html


def test_applying_a_commit_the_branch_moved_past_is_409_and_changes_nothing(
    agent: Agent, repo: GitRepo
) -> None:
    shown = agent.post("/v1/gitops/sync", {"DryRun": True})["Commit"]
    moved = repo.commit("web v1", **{"jobs__web.nomad.hcl": echo_job("web", "v1")})
    assert moved != shown
    r = agent.http.post("/v1/gitops/sync", json={"Commit": shown})
    assert r.status_code == 409
    assert shown in r.text and moved in r.text
    assert version(agent) == 0 and agent.get("/v1/gitops/status")["Commit"] == shown
    bad = agent.http.post("/v1/gitops/sync", json={"Commit": "not-a-sha"})
    assert bad.status_code == 400 and "Commit" in bad.text
    # the UI's Apply form carries the dry run's commit: the same refusal, as a page
    origin = {"Origin": agent.url}
    page = agent.http.post("/ui/sync/apply", data={"commit": shown}, headers=origin)
    assert page.status_code == 409
    assert shown in page.text and moved in page.text
    assert version(agent) == 0
    # the dry run page carries the commit it showed; applying it syncs exactly that
    dry = agent.http.post("/ui/sync", headers=origin)
    assert f'<input type="hidden" name="commit" value="{moved}">' in dry.text
    assert "web v1" in dry.text  # the commit's subject
    done = agent.http.post("/ui/sync/apply", data={"commit": moved}, headers=origin)
    assert done.status_code == 200 and "Sync: applied" in done.text
    assert version(agent) == 1 and agent.get("/v1/gitops/status")["Commit"] == moved


def test_ui_events_sends_a_change_when_a_sync_registers_a_version(
    agent: Agent, repo: GitRepo
) -> None:
    lines: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        with httpx.stream("GET", agent.url + "/ui/events", timeout=30) as r:
            lines.put((r.status_code, r.headers.get("content-type", "")))
            for line in r.iter_lines():
                lines.put(line)
                if stop.is_set():
                    return

    threading.Thread(target=read, daemon=True).start()
    status, kind = lines.get(timeout=10)
    assert status == 200 and kind.startswith("text/event-stream")
    assert lines.get(timeout=5) == "retry: 1000"
    repo.commit("web v2", **{"jobs__web.nomad.hcl": echo_job("web", "v2")})
    agent.post("/v1/gitops/sync", {})
    topics: set[str] = set()
    while not {"Job", "GitOps"} <= topics:
        line = lines.get(timeout=10)
        if line == "event: change":
            data = lines.get(timeout=1)
            assert data.startswith("data: ")
            change = json.loads(data.removeprefix("data: "))
            assert set(change) == {"Index", "Topics"} and change["Index"] > 0
            topics |= set(change["Topics"])
    stop.set()
