"""The web UI over plain HTTP against a real dev agent on a real Git repository: every
page renders, hostile job names, meta and log lines are escaped, a broken file's error
shows with its line, POSTs from another origin are refused, unknown IDs get a 404 page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from harness import Agent, GitRepo, wait_for
from ui_fixtures import BROKEN, HOSTILE, HOSTILE_JOB, echo_job

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    r = GitRepo(tmp_path_factory.mktemp("ui-http") / "repo")
    r.commit(
        "web, a hostile job and a broken file",
        **{
            "jobs__web.nomad.hcl": echo_job("web", f"hello-web {HOSTILE}", meta=HOSTILE),
            "jobs__evil.nomad.hcl": echo_job(HOSTILE_JOB, "evil-ran"),
            "jobs__broken.nomad.hcl": BROKEN,
        },
    )
    return r


@pytest.fixture(scope="module")
def agent(repo: GitRepo) -> Iterator[Agent]:
    a = Agent(repo.path.parent / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        wait_for(lambda: a.running("web") and a.running(HOSTILE_JOB), 30, "both jobs running")
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def page(agent: Agent, path: str, status: int = 200) -> str:
    r = agent.http.get(path)
    assert r.status_code == status, (path, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    return r.text


def assert_no_raw_script(html: str) -> None:
    """The only <script> element is the UI's own, and no hostile string is unescaped."""
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts[0] == '<script src="/ui/static/ui.js" defer>'
    assert scripts[1:] in ([], ['<script src="/ui/static/alloc.js" defer>'])
    assert "window.pwned" not in html.replace("&lt;script&gt;window.pwned", "")


def test_root_redirects_to_the_ui(agent: Agent) -> None:
    for path in ("/", "/ui"):
        r = agent.http.get(path)
        assert r.status_code == 307 and r.headers["location"] == "/ui/"


def test_overview_shows_commit_files_errors_and_counts(agent: Agent, repo: GitRepo) -> None:
    html = page(agent, "/ui/")
    head = repo.git("rev-parse", "HEAD")
    assert head[:12] in html and head in html  # short SHA shown, full SHA in its title
    assert "jobs/web.nomad.hcl" in html
    assert "<code>jobs/broken.nomad.hcl:3</code>" in html
    assert "expected a whole number" in html
    assert "1/1</b> servers alive" in html
    assert re.search(r"<b>1</b> nodes ready", html)
    assert re.search(r"<b>2</b> running allocations", html)
    assert_no_raw_script(html)


def test_every_page_renders_and_escapes_hostile_values(agent: Agent) -> None:
    web = agent.running("web")[0]
    evil = agent.running(HOSTILE_JOB)[0]
    node_id = web["NodeID"]
    for path in (
        "/ui/",
        "/ui/jobs",
        "/ui/jobs?status=running&type=service&q=web",
        "/ui/job/web",
        f"/ui/job/{quote(HOSTILE_JOB, safe='')}",
        f"/ui/allocation/{web['ID']}",
        f"/ui/allocation/{evil['ID']}",
        "/ui/nodes",
        f"/ui/node/{node_id}",
        "/ui/evaluations",
        "/ui/token",
    ):
        assert_no_raw_script(page(agent, path))
    jobs = page(agent, "/ui/jobs")
    assert "&lt;script&gt;" in jobs and 'href="/ui/job/%3Cscript%3E"' in jobs
    job = page(agent, "/ui/job/web")
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in job  # the meta value, escaped
    assert web["ID"][:8] in job


def test_allocation_page_shows_events_and_escaped_log(agent: Agent) -> None:
    alloc_id = agent.running("web")[0]["ID"]
    html = wait_for(
        lambda: (lambda h: h if "hello-web" in h else None)(
            page(agent, f"/ui/allocation/{alloc_id}")
        ),
        15,
        "the log line on the allocation page",
    )
    assert "hello-web &lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    assert "Task started by client" in html
    assert f'data-stream="/ui/allocation/{alloc_id}/logs/stream?task=t&amp;type=stdout"' in html


def test_log_stream_follows_through_the_logs_api(agent: Agent) -> None:
    alloc_id = agent.running("web")[0]["ID"]
    url = f"/ui/allocation/{alloc_id}/logs/stream"
    with agent.http.stream("GET", url, params={"task": "t", "type": "stdout"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        first = next(r.iter_text())
    assert "hello-web" in first


def test_unknown_ids_get_a_404_page_with_a_way_back(agent: Agent) -> None:
    for path in (
        "/ui/job/no-such-job",
        "/ui/allocation/no-such-alloc",
        "/ui/node/nope",
        "/ui/nope",
    ):
        html = page(agent, path, 404)
        assert 'href="/ui/"' in html


def test_posts_from_another_origin_are_refused(agent: Agent) -> None:
    for headers in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"}):
        r = agent.http.post("/ui/sync", headers=headers)
        assert r.status_code == 403, headers
        assert "cross-site request refused" in r.text
    r = agent.http.post("/ui/sync", headers={"Origin": agent.url})
    assert r.status_code == 200 and "Apply this sync" in r.text


def test_acl_token_from_the_cookie_reaches_the_api(tmp_path: Path, repo: GitRepo) -> None:
    """With ACLs on, a page without a token shows the API's 403; after the token form,
    the same page lists the jobs; the token never appears in a page."""
    config = tmp_path / "acl.hcl"
    config.write_text('acl {\n  enabled = true\n  tokens = ["s3cret-token"]\n}\n')
    a = Agent(
        tmp_path / "data",
        "--dev",
        "--repo",
        str(repo.path),
        "--path",
        "jobs",
        "--config",
        str(config),
    )
    a.http.headers["X-Nomad-Token"] = "s3cret-token"  # for the harness's own calls
    a.start()
    try:
        wait_for(lambda: a.running("web"), 30, "web running")
        with httpx.Client(base_url=a.url, timeout=10) as browser:
            r = browser.get("/ui/jobs")
            assert r.status_code == 403 and "Set a token" in r.text and "web" not in r.text
            assert browser.get("/v1/jobs").status_code == 403
            r = browser.post("/ui/token", data={"token": "s3cret-token"}, headers={"Origin": a.url})
            assert r.status_code == 303
            cookie = r.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
            r = browser.get("/ui/jobs")
            assert r.status_code == 200 and 'href="/ui/job/web"' in r.text
            assert "s3cret-token" not in r.text
    finally:
        a.stop_jobs()
        a.stop()
