"""Nomad's client routes against one real dev agent: an allocation's files
(/v1/client/fs/ls|stat|cat|readat|stream) confined to its directory, restart and signal
through the task runner, resource usage, garbage collection, and ``alloc exec`` over a
real WebSocket inside an exec task's isolation. Real raw_exec and exec processes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from harness import Agent, GitRepo, wait_for
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

pytestmark = pytest.mark.timeout(240)

SECRET = "s3cr3t-v4lue-never-shown"

# A raw_exec task that writes files into its allocation dir (one a secret, two
# symlinks leading out), counts its starts, and records SIGUSR1 in a file.
FILES_SCRIPT = "; ".join(
    [
        "echo start >> $NOMAD_ALLOC_DIR/data/starts",
        "printf 'hello files\\nsecond line\\n' > $NOMAD_TASK_DIR/hello.txt",
        f"printf '{SECRET}' > $NOMAD_SECRETS_DIR/token",
        "ln -sfn /etc $NOMAD_TASK_DIR/etc-link",
        "ln -sfn /etc/passwd $NOMAD_TASK_DIR/passwd-link",
        "ln -sfn hello.txt $NOMAD_TASK_DIR/inside-link",
        "trap 'echo got-usr1 > $NOMAD_TASK_DIR/usr1' USR1",
        "echo ready",
        "while true; do sleep 0.2; done",
    ]
)
FILES_JOB = f"""
job "files" {{
  group "g" {{
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", {json.dumps(FILES_SCRIPT)}]
      }}
      resources {{
        cpu    = 20
        memory = 32
      }}
      kill_timeout = "2s"
    }}
  }}
}}
"""

EXEC_JOB = """
job "iso" {
  group "g" {
    task "box" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo inside-marker > /local/marker; exec sleep 600"]
      }
      resources {
        cpu    = 20
        memory = 64
      }
      kill_timeout = "2s"
    }
  }
}
"""

ONCE_JOB = """
job "once" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo done > $NOMAD_TASK_DIR/out"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    root = tmp_path_factory.mktemp("client-routes")
    repo = GitRepo(root / "repo")
    repo.commit(
        "files, iso and once",
        **{
            "jobs__files.nomad.hcl": FILES_JOB,
            "jobs__iso.nomad.hcl": EXEC_JOB,
            "jobs__once.nomad.hcl": ONCE_JOB,
        },
    )
    a = Agent(root / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        wait_for(lambda: a.running("files") and a.running("iso"), 60, "files and iso running")
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def alloc_of(agent: Agent, job: str) -> str:
    return str(agent.running(job)[0]["ID"])


def ready(agent: Agent, alloc_id: str, path: str) -> str:
    """Wait until the task has written ``path``; its text."""

    def cat() -> str | None:
        r = agent.http.get(f"/v1/client/fs/cat/{alloc_id}", params={"path": path})
        return r.text if r.status_code == 200 and r.text else None

    return wait_for(cat, 20, f"{path} written")


def test_fs_ls_stat_cat_readat_and_stream(agent: Agent) -> None:
    alloc_id = alloc_of(agent, "files")
    assert ready(agent, alloc_id, "t/local/hello.txt") == "hello files\nsecond line\n"
    top = {e["Name"]: e for e in agent.get(f"/v1/client/fs/ls/{alloc_id}")}
    assert {"alloc", "t"} <= set(top) and top["alloc"]["IsDir"] is True
    assert not any(name.endswith(".gitorch") for name in top)  # the driver's own dir
    local = {e["Name"]: e for e in fs_json(agent, "ls", alloc_id, "/t/local")}
    assert local["hello.txt"]["Size"] == 24 and local["hello.txt"]["IsDir"] is False
    assert local["hello.txt"]["FileMode"] == "-rw-r--r--"
    stat = fs_json(agent, "stat", alloc_id, "t/local/hello.txt")
    assert stat["Name"] == "hello.txt" and stat["Size"] == 24
    assert stat["ContentType"].startswith("text/plain") and stat["ModTime"].endswith("Z")
    # a symlink that stays inside the allocation dir is followed
    inside = agent.http.get(f"/v1/client/fs/cat/{alloc_id}", params={"path": "t/local/inside-link"})
    assert inside.status_code == 200 and inside.text.startswith("hello files")
    part = agent.http.get(
        f"/v1/client/fs/readat/{alloc_id}",
        params={"path": "t/local/hello.txt", "offset": 6, "limit": 5},
    )
    assert part.status_code == 200 and part.text == "files"
    stream = agent.http.get(
        f"/v1/client/fs/stream/{alloc_id}",
        params={"path": "t/local/hello.txt", "follow": "false"},
    )
    frames = frames_of(stream.text)
    data = b"".join(base64.b64decode(f["Data"]) for f in frames if f.get("Data"))
    assert data == b"hello files\nsecond line\n"
    assert frames[0]["File"] == "t/local/hello.txt" and frames[0]["Offset"] == 0
    tail = agent.http.get(
        f"/v1/client/fs/stream/{alloc_id}",
        params={"path": "t/local/hello.txt", "follow": "false", "origin": "end", "offset": 5},
    )
    assert b"".join(base64.b64decode(f["Data"]) for f in frames_of(tail.text)) == b"line\n"


def test_fs_follow_streams_what_the_task_writes_next(agent: Agent) -> None:
    alloc_id = alloc_of(agent, "files")
    ready(agent, alloc_id, "t/local/hello.txt")
    seen = b""
    with agent.http.stream(
        "GET", f"/v1/client/fs/stream/{alloc_id}", params={"path": "alloc/data/starts"}
    ) as resp:  # follow is Nomad's default
        assert resp.status_code == 200
        deadline = time.monotonic() + 15
        buffer = ""
        for chunk in resp.iter_text():
            buffer += chunk
            frames = frames_of(buffer)
            seen = b"".join(base64.b64decode(f["Data"]) for f in frames if f.get("Data"))
            if seen.startswith(b"start\n") or time.monotonic() > deadline:
                break
    assert seen.startswith(b"start\n")


def test_fs_refuses_paths_out_of_the_alloc_dir_and_secrets(agent: Agent) -> None:
    alloc_id = alloc_of(agent, "files")
    ready(agent, alloc_id, "t/local/hello.txt")
    for route, path in [
        ("ls", "../.."),
        ("cat", "../../../../etc/passwd"),
        ("stat", "alloc/../../.."),
        ("cat", "t/local/passwd-link"),
        ("ls", "t/local/etc-link"),
        ("readat", "t/local/etc-link/passwd"),
    ]:
        params: dict[str, Any] = {"path": path, "offset": 0}
        r = agent.http.get(f"/v1/client/fs/{route}/{alloc_id}", params=params)
        assert r.status_code == 400, (route, path, r.text)
        assert "escapes the directory of allocation" in r.text, r.text
        assert "root:" not in r.text
    for route in ("cat", "readat", "stream", "ls"):
        params = {"path": "t/secrets/token" if route != "ls" else "t/secrets", "offset": 0}
        params["follow"] = "false"
        r = agent.http.get(f"/v1/client/fs/{route}/{alloc_id}", params=params)
        assert r.status_code == 403, (route, r.text)
        assert "secret" in r.text and SECRET not in r.text
    # the secrets dir itself is listed in the task dir; its contents never are
    names = [e["Name"] for e in fs_json(agent, "ls", alloc_id, "t")]
    assert "secrets" in names
    missing = agent.http.get("/v1/client/fs/ls/no-such-alloc", params={"path": "/"})
    assert missing.status_code == 404
    assert agent.http.get(f"/v1/client/fs/cat/{alloc_id}").status_code == 400  # no path
    gone = agent.http.get(f"/v1/client/fs/cat/{alloc_id}", params={"path": "t/nope"})
    assert gone.status_code == 404


def test_signal_reaches_the_task_and_restart_runs_it_again(agent: Agent) -> None:
    alloc_id = alloc_of(agent, "files")
    ready(agent, alloc_id, "t/local/hello.txt")
    r = agent.http.post(
        f"/v1/client/allocation/{alloc_id}/signal", json={"Task": "t", "Signal": "SIGUSR1"}
    )
    assert r.status_code == 200, r.text
    assert ready(agent, alloc_id, "t/local/usr1") == "got-usr1\n"
    wait_for(lambda: "Signaling" in task_events(agent, alloc_id), 10, "a Signaling event")
    bad = agent.http.post(
        f"/v1/client/allocation/{alloc_id}/signal", json={"Task": "t", "Signal": "SIGNOPE"}
    )
    assert bad.status_code == 400 and "unknown signal" in bad.text
    unknown = agent.http.post(
        f"/v1/client/allocation/{alloc_id}/signal", json={"Task": "zz", "Signal": "HUP"}
    )
    assert unknown.status_code == 400 and "no task 'zz'" in unknown.text

    before = agent.get(f"/v1/allocation/{alloc_id}")["TaskStates"]["t"]["Restarts"]
    r = agent.http.post(f"/v1/client/allocation/{alloc_id}/restart", json={"TaskName": "t"})
    assert r.status_code == 200, r.text

    def restarted() -> bool:
        state = agent.get(f"/v1/allocation/{alloc_id}")["TaskStates"]["t"]
        return bool(state["Restarts"] == before + 1 and state["State"] == "running")

    wait_for(restarted, 20, "the task restarted")
    events = wait_for(
        lambda: (e := task_events(agent, alloc_id)) and "Restarting" in e and e,
        10,
        "the restart's events",
    )
    assert "Restart Signaled" in events and events[-1] == "Started", events
    starts = wait_for(
        lambda: ready(agent, alloc_id, "alloc/data/starts").count("start") >= 2 or None,
        20,
        "a second start",
    )
    assert starts
    # the restart policy allows no attempts: a user's restart is not counted by it
    assert agent.get(f"/v1/allocation/{alloc_id}")["ClientStatus"] == "running"


def test_stats_of_the_host_and_of_an_allocation(agent: Agent) -> None:
    alloc_id = alloc_of(agent, "files")
    host = agent.get("/v1/client/stats")
    assert host["Memory"]["Total"] > 0 and host["CPU"] and host["Uptime"] > 0
    assert host["AllocDirStats"]["Size"] > 0
    usage = agent.get(f"/v1/client/allocation/{alloc_id}/stats")
    task = usage["Tasks"]["t"]["ResourceUsage"]
    assert task["MemoryStats"]["RSS"] > 0 and "RSS" in task["MemoryStats"]["Measured"]
    assert "Percent" in task["CpuStats"]["Measured"]
    assert usage["ResourceUsage"]["MemoryStats"]["RSS"] >= task["MemoryStats"]["RSS"]
    assert agent.http.get("/v1/client/allocation/nope/stats").status_code == 404


def test_exec_runs_inside_the_exec_tasks_isolation_over_a_websocket(agent: Agent) -> None:
    alloc_id = alloc_of(agent, "iso")
    script = "echo hello-$(cat /local/marker); ls /proc | grep -c '^[0-9]'; echo oops >&2; exit 3"
    out, err, code = exec_ws(agent, alloc_id, "box", ["/bin/sh", "-c", script])
    lines = out.decode().split()
    assert lines[0] == "hello-inside-marker"  # /local is the task's own, in its chroot
    assert int(lines[1]) < 10  # its own PID namespace: a few processes, not the host's
    assert err == b"oops\n" and code == 3
    # stdin reaches the command; closing it ends it
    out, _, code = exec_ws(agent, alloc_id, "box", ["/bin/cat"], stdin=b"ping\n")
    assert out == b"ping\n" and code == 0
    # a terminal: the command sees one
    out, _, code = exec_ws(agent, alloc_id, "box", ["/bin/sh", "-c", "test -t 1 && echo tty"], tty=True)
    assert b"tty" in out and code == 0


def test_exec_is_refused_with_a_clear_4xx(agent: Agent) -> None:
    alloc_id = alloc_of(agent, "iso")
    for query, status, words in [
        ({"task": "nope", "command": '["ls"]'}, 400, "no task 'nope'"),
        ({"task": "box", "command": "ls"}, 400, "JSON list"),
        ({"command": '["ls"]'}, 400, "task name"),
    ]:
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(agent, alloc_id, query), open_timeout=10)
        assert refused.value.response.status_code == status
        assert words in bytes(refused.value.response.body or b"").decode()
    with pytest.raises(InvalidStatus) as unknown:
        connect(ws_url(agent, "no-such-alloc", {"task": "t", "command": '["ls"]'}))
    assert unknown.value.response.status_code == 404


def test_a_stopped_allocation_refuses_exec_restart_signal_and_can_be_collected(
    agent: Agent,
) -> None:
    done = wait_for(
        lambda: [a for a in agent.allocs("once") if a["ClientStatus"] == "complete"],
        30,
        "the batch job done",
    )[0]["ID"]
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(agent, done, {"task": "t", "command": '["ls"]'}), open_timeout=10)
    assert refused.value.response.status_code == 400
    assert "stopped" in bytes(refused.value.response.body or b"").decode()
    for action, body in (("restart", {"TaskName": "t"}), ("signal", {"Signal": "HUP"})):
        r = agent.http.post(f"/v1/client/allocation/{done}/{action}", json=body)
        assert r.status_code == 400 and "stopped" in r.text, r.text
    assert ready(agent, done, "t/local/out") == "done\n"  # files stay readable until GC
    live = alloc_of(agent, "files")
    busy = agent.http.post(f"/v1/client/allocation/{live}/gc")
    assert busy.status_code == 400 and "still runs" in busy.text
    assert agent.http.post(f"/v1/client/allocation/{done}/gc").status_code == 200
    after = agent.http.get(f"/v1/client/fs/ls/{done}", params={"path": "/"})
    assert after.status_code == 404
    assert agent.http.get("/v1/client/gc").status_code == 200


# -- helpers ------------------------------------------------------------------------


def frames_of(text: str) -> list[dict[str, Any]]:
    """Nomad's stream frames: JSON objects back to back (a partial last one is left)."""
    decoder = json.JSONDecoder()
    frames, pos = [], 0
    while pos < len(text):
        try:
            frame, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        frames.append(frame)
        pos = end
    return frames


def fs_json(agent: Agent, route: str, alloc_id: str, path: str) -> Any:
    r = agent.http.get(f"/v1/client/fs/{route}/{alloc_id}", params={"path": path})
    assert r.status_code == 200, r.text
    return r.json()


def task_events(agent: Agent, alloc_id: str) -> list[str]:
    state = agent.get(f"/v1/allocation/{alloc_id}")["TaskStates"]["t"]
    return [e["Type"] for e in state["Events"]]


def ws_url(agent: Agent, alloc_id: str, query: dict[str, str]) -> str:
    base = agent.url.replace("http://", "ws://")
    return f"{base}/v1/client/allocation/{alloc_id}/exec?{urlencode(query)}"


def exec_ws(
    agent: Agent,
    alloc_id: str,
    task: str,
    command: list[str],
    *,
    stdin: bytes = b"",
    tty: bool = False,
) -> tuple[bytes, bytes, int]:
    """One exec session as Nomad's API client runs it: (stdout, stderr, exit code)."""
    query = {"task": task, "command": json.dumps(command), "tty": str(tty).lower()}
    out, err = b"", b""
    with connect(ws_url(agent, alloc_id, query), open_timeout=10) as ws:
        if tty:
            ws.send(json.dumps({"tty_size": {"height": 24, "width": 80}}))
        if stdin:
            ws.send(json.dumps({"stdin": {"data": base64.b64encode(stdin).decode()}}))
        if not tty:
            ws.send(json.dumps({"stdin": {"close": True}}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=30))
            if frame.get("stdout", {}).get("data"):
                out += base64.b64decode(frame["stdout"]["data"])
            if frame.get("stderr", {}).get("data"):
                err += base64.b64decode(frame["stderr"]["data"])
            if frame.get("exited"):
                return out, err, int(frame["result"]["exit_code"])
    raise AssertionError(f"no exit frame within 30s; stdout so far {out!r}")
