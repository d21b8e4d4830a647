"""Live updates in a real browser (Debian's chromium, driven by Playwright) against a real
dev agent whose Git repository is served by `git daemon` (so it syncs only when asked):
a commit then POST /v1/gitops/sync shows the job's new version on an open job page
without a reload, through the event stream (the page's EventSource is connected:
``data-live-mode="stream"``); the overview shows the synced commit's subject (hostile
HTML as text) and author; without EventSource the page polls and still updates; the
"disconnected, retrying" banner shows while the agent is down and goes once it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Agent, GitRepo
from ui_fixtures import (
    BROKEN,
    HOSTILE,
    NEEDS_CHROMIUM,
    dev_agent,
    echo_job,
    git_daemon,
    served_dev_agent,
    web_repo,
)

pytestmark = [pytest.mark.timeout(240), NEEDS_CHROMIUM]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return web_repo(tmp_path_factory.mktemp("ui-live"))


@pytest.fixture(scope="module")
def agent(repo: GitRepo) -> Iterator[Agent]:
    with served_dev_agent(repo, "web") as a:
        yield a


def test_a_synced_commit_shows_on_the_open_job_page_through_the_event_stream(
    agent: Agent, repo: GitRepo, page: Any
) -> None:
    page.goto(agent.url + "/ui/job/web")
    expect(page.locator("body")).to_have_attribute("data-live-mode", "stream")
    head = page.locator("#job-head")
    expect(head).to_contain_text("v0")
    page.evaluate("window.sameDocument = true")  # gone if the page were reloaded
    fetches: list[str] = []
    page.on("request", lambda r: fetches.append(r.url) if r.resource_type == "fetch" else None)
    time.sleep(3)  # idle: a stream sends nothing, so nothing is fetched (polling would)
    assert fetches == []
    sha = repo.commit("web v1", **{"jobs__web.nomad.hcl": echo_job("web", "v1")})
    started = time.monotonic()
    report = agent.post("/v1/gitops/sync", {"Commit": sha})
    assert report["Commit"] == sha
    expect(head).to_contain_text("v1", timeout=5_000)
    expect(head.locator("code.sha")).to_have_text(sha[:12])
    assert time.monotonic() - started < 5
    assert page.evaluate("window.sameDocument") is True
    assert fetches and all(u == agent.url + "/ui/job/web" for u in fetches)
    expect(page.locator("body")).to_have_attribute("data-live-mode", "stream")
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_the_overview_shows_the_commit_subject_and_author_as_text(
    agent: Agent, repo: GitRepo, page: Any
) -> None:
    page.goto(agent.url + "/ui/")
    expect(page.locator("body")).to_have_attribute("data-live-mode", "stream")
    sha = repo.commit(f"Tune web {HOSTILE}", **{"jobs__web.nomad.hcl": echo_job("web", "v2")})
    agent.post("/v1/gitops/sync", {})
    git = page.locator("#git")
    expect(git.locator("code.sha")).to_have_text(sha[:12], timeout=5_000)
    expect(git.locator(".commit-subject")).to_have_text(f"Tune web {HOSTILE}")
    expect(git.locator(".commit-meta")).to_contain_text("tester")
    expect(git.locator("table.syncs tbody tr").first).to_contain_text(sha[:12])
    expect(git.locator("table.syncs tbody tr").first).to_contain_text("update web")
    expect(git.locator("a.commit-link")).to_have_count(0)  # git:// has no web page
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_without_event_source_the_page_polls_and_still_updates(
    agent: Agent, repo: GitRepo, browser: Any
) -> None:
    context = browser.new_context()
    context.add_init_script("delete window.EventSource")
    page = context.new_page()
    try:
        page.goto(agent.url + "/ui/job/web")
        expect(page.locator("body")).to_have_attribute("data-live-mode", "poll")
        sha = repo.commit("web v3", **{"jobs__web.nomad.hcl": echo_job("web", "v3")})
        agent.post("/v1/gitops/sync", {})
        expect(page.locator("#job-head code.sha")).to_have_text(sha[:12], timeout=8_000)
    finally:
        context.close()


def test_the_banner_shows_while_the_agent_is_down_and_goes_when_it_is_back(
    tmp_path: Path, page: Any
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("only a broken file", **{"jobs__broken.nomad.hcl": BROKEN})
    with git_daemon(repo) as url:
        a = dev_agent(repo, url, "down")
        try:
            a.start()
            page.goto(a.url + "/ui/")
            expect(page.locator("body")).to_have_attribute("data-live-mode", "stream")
            banner = page.locator("#conn")
            expect(banner).to_be_hidden()
            a.stop()
            expect(banner).to_be_visible(timeout=10_000)
            a.start()
            expect(banner).to_be_hidden(timeout=20_000)
            expect(page.locator("body")).to_have_attribute("data-live-mode", "stream")
            expect(page.locator("#git div.file-error")).to_contain_text("jobs/broken.nomad.hcl:3")
        finally:
            a.stop()
