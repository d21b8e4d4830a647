"""The allocation page's views in a real browser (Debian's chromium, driven by
Playwright) against a real dev agent running a real raw_exec task: a command typed into
the exec terminal runs in the task and its output (hostile HTML included) shows as text,
the resource charts are drawn and grow as alloc.js polls, and the log search hides the
lines that do not match."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness import Agent, GitRepo, wait_for
from ui_fixtures import HOSTILE, NEEDS_CHROMIUM, not_pwned

pytestmark = [pytest.mark.timeout(240), NEEDS_CHROMIUM]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

JOB = """
job "app" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo alpha-1; echo beta-2; echo gamma-3; exec sleep 300"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
      kill_timeout = "2s"
    }
  }
}
"""


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    repo = GitRepo(tmp_path_factory.mktemp("ui-alloc-browser") / "repo")
    repo.commit("one task", **{"jobs__app.nomad.hcl": JOB})
    a = Agent(repo.path.parent / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        wait_for(lambda: a.running("app"), 30, "app running")
        yield a
    finally:
        a.stop_jobs()
        a.stop()


@pytest.fixture
def page(page: Any, agent: Agent) -> Any:
    """conftest.py's page, opened on the task's allocation."""
    alloc_id = agent.running("app")[0]["ID"]
    page.goto(f"{agent.url}/ui/allocation/{alloc_id}")
    return page


def test_exec_terminal_runs_a_typed_command(page: Any) -> None:
    expect(page.locator("#exec-nojs")).to_be_hidden()
    form = page.locator("#exec-form")
    expect(form.locator("input[name=command]")).to_have_value("/bin/sh")
    form.get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator("#exec-status")).to_contain_text("connected to t")
    line = page.locator("#term-in")
    line.fill(f"echo '{HOSTILE}' marker-$((6*7))")
    line.press("Enter")
    term = page.locator("#term")
    expect(term).to_contain_text(f"{HOSTILE} marker-42")  # the output, as text
    assert term.locator("script").count() == 0
    not_pwned(page)
    page.get_by_role("button", name="Disconnect").click()
    expect(page.locator("#exec-status")).to_contain_text("disconnected")
    # without a terminal (tty off) the exit code comes back as the shell's
    form.get_by_label("terminal (tty)").uncheck()
    form.get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator("#exec-status")).to_contain_text("connected to t")
    line.fill("echo no-tty-$((2+3)) >&2; exit 3")
    line.press("Enter")
    expect(term).to_contain_text("$ echo no-tty-$((2+3)) >&2; exit 3")  # echoed locally
    expect(term.locator("span.stderr")).to_have_text("no-tty-5\n")
    expect(page.locator("#exec-status")).to_have_text("exited with code 3")
    expect(page.locator("#term-line")).to_be_hidden()
    not_pwned(page)


def test_exec_terminal_shows_the_refusal(page: Any) -> None:
    form = page.locator("#exec-form")
    form.locator("input[name=command]").fill("'unbalanced")
    form.get_by_role("button", name="Connect", exact=True).click()
    status = page.locator("#exec-status")
    expect(status).to_contain_text("refused (400)")
    expect(status).to_contain_text("No closing quotation")


def test_resource_charts_are_drawn_and_grow(page: Any) -> None:
    cpu = page.locator("#alloc-stats svg.spark.cpu polyline")
    expect(cpu).to_have_count(1)
    expect(page.locator("#alloc-stats svg.spark.mem circle")).to_have_count(1)
    expect(page.locator("#alloc-stats")).to_contain_text("of 50 MHz reserved")

    def points() -> int:
        return len((cpu.get_attribute("points") or "").split())

    assert points() == 1
    wait_for(lambda: points() >= 3, 15, "the chart to gain points as alloc.js polls", every=0.5)


def test_log_search_hides_lines_that_do_not_match(page: Any) -> None:
    log = page.locator("#log")
    expect(log).to_contain_text("alpha-1")
    expect(page.locator("#follow")).to_be_visible()  # the live stream took over
    page.locator("#log-q").fill("BETA")
    hits = page.locator("#log-hits")
    expect(hits).to_be_visible()
    expect(log).to_be_hidden()
    expect(hits).to_have_text("beta-2\n")
    expect(hits.locator("mark")).to_have_text("beta")
    expect(page.locator("#log-count")).to_have_text("1 of 3 lines contain \u201cBETA\u201d.")
    page.locator("#log-q").fill("")
    expect(log).to_be_visible()
    expect(hits).to_be_hidden()
    not_pwned(page)
