"""The allocation page's views over plain HTTP (and a WebSocket) against a real dev agent
running a real raw_exec task: resource-use charts drawn from the history the browser
sends back, the file browser (listing, a large file one 64 KiB window at a time, a
binary file, refused paths), the exec terminal's relay (a real command's output and exit
code, refusals as a frame, a cross-origin upgrade refused, the token from the cookie),
and the log's ``?q=`` search."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Agent, GitRepo, wait_for
from ui_fixtures import HOSTILE
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

pytestmark = pytest.mark.timeout(180)

SCRIPT = (
    "echo alpha-1; echo beta-2; echo gamma-BETA-3; echo '" + HOSTILE + "'; "
    "seq 1 40000 > local/big.txt; head -c 4096 /dev/urandom > local/blob.bin; "
    "touch local/ready; exec sleep 300"
)


def job(job_id: str) -> str:
    return f'''
job "{job_id}" {{
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "{SCRIPT}"]
      }}
      resources {{
        cpu    = 50
        memory = 32
      }}
      kill_timeout = "2s"
    }}
  }}
}}
'''


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    r = GitRepo(tmp_path_factory.mktemp("ui-alloc") / "repo")
    r.commit("one task", **{"jobs__app.nomad.hcl": job("app")})
    return r


def ready(agent: Agent) -> str | None:
    """The running allocation's ID once its task has written its files."""
    running = agent.running("app")
    if not running:
        return None
    alloc_id = str(running[0]["ID"])
    r = agent.http.get(f"/v1/client/fs/stat/{alloc_id}", params={"path": "t/local/ready"})
    return alloc_id if r.status_code == 200 else None


@pytest.fixture(scope="module")
def agent(repo: GitRepo) -> Iterator[Agent]:
    a = Agent(repo.path.parent / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        wait_for(lambda: ready(a), 30, "the task running with its files written")
        yield a
    finally:
        a.stop_jobs()
        a.stop()


@pytest.fixture(scope="module")
def alloc_id(agent: Agent) -> str:
    return wait_for(lambda: ready(agent), 30, "the task's files")


def get(agent: Agent, url: str, status: int = 200, /, **params: str) -> str:
    r = agent.http.get(url, params=params)
    assert r.status_code == status, (url, r.status_code, r.text[:800])
    assert r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    return r.text


def history_of(fragment: str) -> dict[str, Any]:
    m = re.search(r'data-history="([^"]*)"', fragment)
    assert m, fragment[:500]
    value: dict[str, Any] = json.loads(html.unescape(m.group(1)))
    return value


# -- resource use ------------------------------------------------------------------------


def test_allocation_page_shows_current_figures_and_a_chart(agent: Agent, alloc_id: str) -> None:
    page = get(agent, f"/ui/allocation/{alloc_id}")
    section = page[page.index('id="resources"') : page.index('id="alloc-files"')]
    assert "<h3>t</h3>" in section
    assert re.search(
        r'<b class="cpu-now">[0-9.]+ MHz</b> \([0-9.]+ % of a core\) of 50 MHz', section
    )
    rss = re.search(r'<b class="mem-now">([0-9.]+) (MiB|KiB)</b> RSS of 32 MiB reserved', section)
    assert rss and float(rss.group(1)) > 0, section  # the shell's resident memory
    assert section.count('<svg class="spark') == 2
    assert '<script src="/ui/static/alloc.js" defer>' in page


def test_stats_fragment_extends_the_history_the_browser_sends(agent: Agent, alloc_id: str) -> None:
    url = f"/ui/allocation/{alloc_id}/stats"
    first = get(agent, url)
    assert first.lstrip().startswith('<div id="alloc-stats"')  # a fragment, not a page
    hist = history_of(first)
    assert list(hist) == ["t"] and len(hist["t"]["c"]) == 1 and len(hist["t"]["m"]) == 1
    sent = {"t": {"c": [5.0, 10.0, 15.0], "m": [1000.0, 2000.0]}, "ghost": {"c": [1]}}
    second = get(agent, url, h=json.dumps(sent))
    grown = history_of(second)
    assert list(grown) == ["t"]  # a task the allocation does not have is dropped
    assert grown["t"]["c"][:3] == [5.0, 10.0, 15.0] and len(grown["t"]["c"]) == 4
    assert grown["t"]["m"][:2] == [1000.0, 2000.0] and grown["t"]["m"][2] > 0
    cpu = re.search(r'<svg class="spark cpu".*?<polyline points="([^"]+)"', second, re.S)
    assert cpu and len(cpu.group(1).split()) == 4  # one point per sample, newest rightmost
    assert cpu.group(1).split()[-1].startswith("160.0,")
    # a long history is cut to the newest 60 points; garbage is ignored, never a 500
    longer = history_of(get(agent, url, h=json.dumps({"t": {"c": list(range(100)), "m": []}})))
    assert len(longer["t"]["c"]) == 60 and longer["t"]["c"][0] == 41.0
    assert len(history_of(get(agent, url, h="{not json"))["t"]["c"]) == 1
    nasty = {"t": {"c": [-1, "x", 1e309, True, 3], "m": "no"}}
    assert history_of(get(agent, url, h=json.dumps(nasty)))["t"]["c"][0] == 3.0


# -- files ----------------------------------------------------------------------------------


def test_file_browser_lists_directories_first_with_sizes_and_modes(
    agent: Agent, alloc_id: str
) -> None:
    fs = f"/ui/allocation/{alloc_id}/fs"
    root = get(agent, fs)
    names = re.findall(r'<tr class="(dir|file)"><td><a href="([^"]+)">([^<]+)</a>', root)
    assert [(k, n) for k, _, n in names] == [("dir", "alloc/"), ("dir", "t/")]
    assert names[1][1] == f"{fs}?path=t"
    local = get(agent, fs, path="t/local")
    rows = re.findall(
        r'<tr class="(dir|file)"><td><a href="[^"]+">([^<]+)</a></td>\s*'
        r"<td>([^<]*)</td><td><code>([^<]+)</code>",
        local,
    )
    by_name = {name: (kind, size, mode) for kind, name, size, mode in rows}
    assert by_name["big.txt"][0] == "file" and by_name["big.txt"][1].endswith("KiB")
    assert by_name["blob.bin"] == ("file", "4.0 KiB", "-rw-r--r--")
    assert 'href="' + fs + '">allocation dir</a> / <a href="' + fs + '?path=t">t</a>' in local


def test_a_large_file_is_shown_one_window_at_a_time(agent: Agent, alloc_id: str) -> None:
    fs = f"/ui/allocation/{alloc_id}/fs"
    size = len("".join(f"{i}\n" for i in range(1, 40001)))
    last = get(agent, fs, path="t/local/big.txt")
    shown = re.search(r'<pre class="log" id="fs-text">(.*?)</pre>', last, re.S)
    assert shown is not None
    text = html.unescape(shown.group(1))
    assert len(text.encode()) == 64 * 1024 and text.endswith("39999\n40000\n")
    assert f"Bytes {size - 65536}–{size} of {size}" in last
    prev = re.search(r'href="([^"]+)" rel="prev">previous 64 KiB', last)
    assert prev and "next 64 KiB" not in last
    first = get(agent, fs, path="t/local/big.txt", offset="0")
    assert '<pre class="log" id="fs-text">1\n2\n3\n' in first
    assert f"Bytes 0–65536 of {size}" in first and 'rel="next"' in first
    assert "previous 64 KiB" not in first


def test_binary_files_and_refused_paths(agent: Agent, alloc_id: str) -> None:
    fs = f"/ui/allocation/{alloc_id}/fs"
    blob = get(agent, fs, path="t/local/blob.bin")
    assert 'id="fs-binary"' in blob and 'id="fs-text"' not in blob
    secrets = get(agent, fs, 403, path="t/secrets")
    assert (
        "reading secret files" in secrets and f'href="{fs}">Back to the allocation dir' in secrets
    )
    escape = get(agent, fs, 400, path="../../etc")
    assert "escapes the directory of allocation" in escape
    missing = get(agent, fs, 404, path="t/local/nope.txt")
    assert 'id="fs-error"' in missing
    get(agent, "/ui/allocation/no-such-alloc/fs", 404)


# -- exec ----------------------------------------------------------------------------------


def ws_url(agent: Agent, alloc_id: str, **query: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"ws://127.0.0.1:{agent.http_port}/ui/allocation/{alloc_id}/exec?{q}"


def session(url: str, headers: dict[str, str], lines: list[str]) -> list[dict[str, Any]]:
    """Send the lines and stdin's end, then read frames until the exit frame or close."""
    frames: list[dict[str, Any]] = []
    with connect(url, additional_headers=headers, proxy=None, open_timeout=15) as ws:
        try:
            for line in lines:
                data = base64.b64encode(line.encode()).decode()
                ws.send(json.dumps({"stdin": {"data": data}}))
            ws.send(json.dumps({"stdin": {"close": True}}))
        except ConnectionClosed:
            pass  # refused: the frame saying why is still to be read
        while True:
            try:
                frame = json.loads(ws.recv(timeout=20))
            except ConnectionClosed:
                return frames
            frames.append(frame)
            if frame.get("exited"):
                return frames


def output(frames: list[dict[str, Any]], stream: str = "stdout") -> str:
    return b"".join(
        base64.b64decode(f[stream]["data"]) for f in frames if f.get(stream, {}).get("data")
    ).decode()


def test_exec_relay_runs_a_real_command_in_the_task(agent: Agent, alloc_id: str) -> None:
    url = ws_url(agent, alloc_id, task="t", command="/bin/sh", tty="false")
    frames = session(
        url,
        {"Origin": agent.url},
        [f"echo '{HOSTILE}' marker-$((6*7)); cat local/ready; pwd\n", "echo err >&2; exit 3\n"],
    )
    out = output(frames)
    assert f"{HOSTILE} marker-42\n" in out and out.rstrip().endswith("/t")  # the task dir
    assert output(frames, "stderr") == "err\n"
    assert frames[-1] == {"exited": True, "result": {"exit_code": 3}}


def test_exec_relay_splits_the_command_and_says_why_it_was_refused(
    agent: Agent, alloc_id: str
) -> None:
    ok = session(
        ws_url(agent, alloc_id, task="t", command="/bin/echo%20%27two%20words%27"),
        {"Origin": agent.url},
        [],
    )
    assert output(ok).replace("\r", "") == "two words\n" and ok[-1]["result"]["exit_code"] == 0
    unknown = session(ws_url(agent, alloc_id, task="nope"), {"Origin": agent.url}, [])
    assert unknown == [
        {
            "error": {
                "status": 400,
                "message": f"allocation {alloc_id} has no task 'nope' (tasks: t)",
            }
        }
    ]
    quote = session(ws_url(agent, alloc_id, task="t", command="%27open"), {"Origin": agent.url}, [])
    assert quote[0]["error"]["status"] == 400 and "quotation" in quote[0]["error"]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://127.0.0.1"},
        {"Origin": "SELF", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_exec_upgrade_from_another_origin_is_refused(
    agent: Agent, alloc_id: str, headers: dict[str, str]
) -> None:
    headers = {k: (agent.url if v == "SELF" else v) for k, v in headers.items()}
    with pytest.raises(InvalidStatus) as refused:
        session(ws_url(agent, alloc_id, task="t", command="/bin/true"), headers, [])
    assert refused.value.response.status_code == 403
    assert b"cross-site request refused" in bytes(refused.value.response.body or b"")


def test_exec_relay_passes_the_token_from_the_cookie(tmp_path: Path, repo: GitRepo) -> None:
    """With ACLs on, the browser cannot send a token header: the relay adds the cookie's."""
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
    a.http.headers["X-Nomad-Token"] = "s3cret-token"
    a.start()
    try:
        alloc = wait_for(lambda: ready(a), 30, "the task running")
        url = ws_url(a, alloc, task="t", command="/bin/sh", tty="false")
        denied = session(url, {"Origin": a.url}, ["echo no\n"])
        assert denied[0]["error"]["status"] == 403 and not output(denied)
        cookie = {"Origin": a.url, "Cookie": "gitorch_token=s3cret-token"}
        frames = session(url, cookie, ["echo as-the-user\n"])
        assert output(frames) == "as-the-user\n" and frames[-1]["result"]["exit_code"] == 0
    finally:
        a.stop_jobs()
        a.stop()


# -- log search ------------------------------------------------------------------------------


def test_log_search_shows_only_matching_lines_highlighted(agent: Agent, alloc_id: str) -> None:
    page = wait_for(
        lambda: (lambda h: h if "<mark>beta</mark>-2" in h else None)(
            get(agent, f"/ui/allocation/{alloc_id}", q="bEtA")
        ),
        15,
        "the log on the page",
    )
    log = re.search(r'<pre id="log" class="log"[^>]*>(.*?)</pre>', page, re.S)
    assert log is not None
    assert log.group(1) == "<mark>beta</mark>-2\ngamma-<mark>BETA</mark>-3\n"
    assert "2 of 4 lines contain “bEtA”." in page
    assert 'value="bEtA"' in page
    hostile = get(agent, f"/ui/allocation/{alloc_id}", q="<script>")
    assert "<mark>&lt;script&gt;</mark>window.pwned=1&lt;/script&gt;" in hostile
    assert "1 of 4 lines contain “&lt;script&gt;”." in hostile
    none = get(agent, f"/ui/allocation/{alloc_id}", q="zzz-nothing")
    assert "0 of 4 lines" in none
