"""The web UI in a real browser (Debian's chromium, driven by Playwright) against a real
dev agent whose Git repository is served by `git daemon` on 127.0.0.1, so the agent syncs
only when asked (a local path would be watched and synced at once): the overview shows
the commit and a broken file's error with its line, the job page its allocations, Sync
shows a dry-run diff and applying it registers a newly committed job, an allocation page
streams the task's log, and hostile strings never run as script."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness import Agent, GitRepo
from ui_fixtures import BROKEN, HOSTILE, NEEDS_CHROMIUM, echo_job, not_pwned, served_dev_agent

pytestmark = [pytest.mark.timeout(240), NEEDS_CHROMIUM]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    r = GitRepo(tmp_path_factory.mktemp("ui-browser") / "repo")
    r.commit(
        "web and a broken file",
        **{
            "jobs__web.nomad.hcl": echo_job("web", f"hello-web {HOSTILE}", meta=HOSTILE),
            "jobs__broken.nomad.hcl": BROKEN,
        },
    )
    return r


@pytest.fixture(scope="module")
def agent(repo: GitRepo) -> Iterator[Agent]:
    with served_dev_agent(repo, "web") as a:
        yield a


def test_overview_shows_commit_and_broken_file(agent: Agent, repo: GitRepo, page: Any) -> None:
    page.goto(agent.url + "/")
    assert page.url == agent.url + "/ui/"
    head = repo.git("rev-parse", "HEAD")
    expect(page.locator("#git code.sha")).to_have_text(head[:12])
    error = page.locator("#git div.file-error")
    expect(error).to_contain_text("jobs/broken.nomad.hcl:3")
    expect(error).to_contain_text("expected a whole number")
    expect(page.locator("#git tr.file-synced")).to_contain_text("jobs/web.nomad.hcl")
    not_pwned(page)


def test_job_page_lists_allocations_and_escapes_meta(agent: Agent, page: Any) -> None:
    alloc_id = agent.running("web")[0]["ID"]
    page.goto(agent.url + "/ui/jobs")
    page.get_by_role("link", name="web", exact=True).click()
    expect(page.locator("h1")).to_have_text("Job web")
    rows = page.locator("#allocs tbody tr")
    expect(rows.first).to_contain_text(alloc_id[:8])
    expect(rows.first).to_contain_text("running")
    expect(page.locator("#job-head")).to_contain_text(HOSTILE)  # shown as text
    not_pwned(page)


def test_allocation_page_streams_the_log(agent: Agent, page: Any) -> None:
    alloc_id = agent.running("web")[0]["ID"]
    page.goto(agent.url + f"/ui/allocation/{alloc_id}")
    expect(page.locator(".timeline")).to_contain_text("Started")
    expect(page.locator("#log")).to_contain_text(f"hello-web {HOSTILE}")
    expect(page.locator("#follow")).to_be_visible()  # the live stream took over
    not_pwned(page)


def test_sync_shows_the_dry_run_then_registers_the_new_job(
    agent: Agent, repo: GitRepo, page: Any
) -> None:
    sha = repo.commit("add fresh", **{"jobs__fresh.nomad.hcl": echo_job("fresh", "hi-fresh")})
    assert "fresh" not in [j["ID"] for j in agent.get("/v1/jobs")]  # polled hourly
    page.goto(agent.url + "/ui/")
    page.get_by_role("button", name="Sync… (dry run first)").click()
    expect(page.locator("h1")).to_have_text("Sync: dry run")
    row = page.locator("table.diff tr.act-register")
    expect(row).to_contain_text("fresh")
    expect(row).to_contain_text("jobs/fresh.nomad.hcl")
    assert "fresh" not in [j["ID"] for j in agent.get("/v1/jobs")]  # nothing applied yet
    page.get_by_role("button", name="Apply this sync").click()
    expect(page.locator("h1")).to_have_text("Sync: applied")
    assert "fresh" in [j["ID"] for j in agent.get("/v1/jobs")]
    page.goto(agent.url + "/ui/")
    expect(page.locator("#git code.sha")).to_have_text(sha[:12])
    expect(page.locator("#git tr.file-synced", has_text="jobs/fresh.nomad.hcl")).to_be_visible()
