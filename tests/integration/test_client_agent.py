"""The client agent against an in-memory server: real raw_exec processes, the mock
driver, a real state store, a real data dir."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette

from gitorch.agent.client import Client, ClientOptions
from gitorch.agent.conn import HTTPConn, InMemoryConn
from gitorch.api.app import make_app
from gitorch.core.commands import ApplyPlan, RegisterJob
from gitorch.core.model import (
    SECOND,
    AllocStop,
    Job,
    Placement,
    Plan,
    RestartPolicy,
    Task,
    TaskGroup,
    Template,
)
from gitorch.plugins.builtin.mock import MockDriver
from gitorch.plugins.builtin.raw_exec import RawExecDriver
from gitorch.plugins.driver import Driver
from gitorch.server.server import Server

NO_RESTART = RestartPolicy(attempts=0, mode="fail")


def wait_for(what: str, check: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def drivers() -> dict[str, Driver]:
    return {"raw_exec": RawExecDriver({"enabled": True}), "mock": MockDriver()}


def options(data_dir: Path) -> ClientOptions:
    return ClientOptions(data_dir=data_dir, name="test-node", alloc_wait_s=0.5)


@pytest.fixture
def conn() -> InMemoryConn:
    return InMemoryConn(heartbeat_ttl=2 * SECOND)


@pytest.fixture
def client(conn: InMemoryConn, tmp_path: Path) -> Iterator[Client]:
    c = Client(conn, options(tmp_path), drivers=drivers())
    c.start()
    wait_for("registration", lambda: c.node_id in conn.store.nodes)
    yield c
    c.stop(drain=True, timeout=10)


def place(conn: InMemoryConn, node_id: str, job: Job) -> str:
    """Register ``job`` and place one allocation of its first group on ``node_id``."""
    conn.apply(RegisterJob(now=time.time_ns(), job=job))
    version = conn.store.jobs[("default", job.id)].version
    alloc_id = str(uuid.uuid4())
    placement = Placement(id=alloc_id, task_group=job.task_groups[0].name, index=0, node_id=node_id)
    plan = Plan(eval_id="e1", job_id=job.id, job_version=version, placements=[placement])
    conn.apply(ApplyPlan(now=time.time_ns(), plan=plan))
    return alloc_id


def stop(conn: InMemoryConn, job_id: str, alloc_id: str) -> None:
    plan = Plan(eval_id="e2", job_id=job_id, stops=[AllocStop(id=alloc_id, description="stop")])
    conn.apply(ApplyPlan(now=time.time_ns(), plan=plan))


def job(job_id: str, task: Task, job_type: str = "batch") -> Job:
    group = TaskGroup(name="g", tasks=[task], restart_policy=NO_RESTART)
    return Job(id=job_id, type=job_type, task_groups=[group])  # type: ignore[arg-type]


def status(conn: InMemoryConn, alloc_id: str) -> str:
    return conn.store.allocs[alloc_id].client_status


def test_node_registers_with_drivers_and_heartbeats(client: Client, conn: InMemoryConn) -> None:
    node = conn.store.nodes[client.node_id]
    assert node.status == "ready"
    assert node.drivers["raw_exec"].healthy and node.drivers["mock"].healthy
    assert node.attributes["driver.raw_exec"] == "1"
    assert node.node_resources.cpu.cpu_shares > 0
    wait_for("a heartbeat", lambda: conn.heartbeats >= 1, timeout=5)


def test_raw_exec_batch_task_runs_logs_and_completes(client: Client, conn: InMemoryConn) -> None:
    task = Task(
        name="hello",
        driver="raw_exec",
        config={"command": "/bin/sh", "args": ["-c", "echo hi from $NOMAD_TASK_NAME; sleep 0.3"]},
    )
    alloc_id = place(conn, client.node_id, job("hello", task))
    seen: list[str] = []

    def reached_complete() -> bool:
        s = status(conn, alloc_id)
        if not seen or seen[-1] != s:
            seen.append(s)
        return s == "complete"

    wait_for("complete", reached_complete)
    assert "running" in seen
    log = client.log_path(alloc_id, "hello", "stdout")
    assert log == client.options.data_dir / "alloc" / alloc_id / "alloc" / "logs" / "hello.stdout.0"
    assert log.read_text() == "hi from hello\n"
    root = client.options.data_dir / "alloc" / alloc_id
    for sub in (
        "alloc/logs",
        "alloc/data",
        "alloc/tmp",
        "hello/local",
        "hello/secrets",
        "hello/tmp",
    ):
        assert (root / sub).is_dir(), sub
    ts = conn.store.allocs[alloc_id].task_states["hello"]
    assert [e.type for e in ts.events] == ["Received", "Task Setup", "Started", "Terminated"]
    assert (ts.state, ts.failed) == ("dead", False)


def test_desired_stop_kills_a_service_task(client: Client, conn: InMemoryConn) -> None:
    task = Task(
        name="srv",
        driver="raw_exec",
        config={"command": "sleep", "args": ["60"]},
        kill_timeout=2 * SECOND,
    )
    alloc_id = place(conn, client.node_id, job("srv", task, "service"))
    wait_for("running", lambda: status(conn, alloc_id) == "running")
    pid = client.allocs()[alloc_id].tasks["srv"].handle.pid  # type: ignore[union-attr]
    stop(conn, "srv", alloc_id)
    wait_for("complete", lambda: status(conn, alloc_id) == "complete", timeout=10)
    events = [e.type for e in conn.store.allocs[alloc_id].task_states["srv"].events]
    assert events[-3:] == ["Killing", "Terminated", "Killed"]
    wait_for("process gone", lambda: not _alive(pid))


def test_mock_failure_restarts_then_fails(client: Client, conn: InMemoryConn) -> None:
    task = Task(name="m", driver="mock", config={"run_for": "0.05s", "exit_code": 3})
    group = TaskGroup(
        name="g",
        tasks=[task],
        restart_policy=RestartPolicy(attempts=1, interval=60 * SECOND, delay=SECOND // 10),
    )
    alloc_id = place(conn, client.node_id, Job(id="m", type="batch", task_groups=[group]))
    wait_for("failed", lambda: status(conn, alloc_id) == "failed")
    ts = conn.store.allocs[alloc_id].task_states["m"]
    assert (ts.restarts, ts.failed) == (1, True)
    assert ts.events[-1].type == "Not Restarting"


def test_template_is_rendered_into_the_task_dir(client: Client, conn: InMemoryConn) -> None:
    tpl = Template(
        embedded_tmpl='name={{ env "NOMAD_TASK_NAME" }}\ndc={{env "NOMAD_DC"}}\n',
        dest_path="local/app.env",
        env=True,
    )
    task = Task(
        name="t",
        driver="raw_exec",
        templates=[tpl],
        config={"command": "/bin/sh", "args": ["-c", "cat local/app.env; echo $name $dc"]},
    )
    alloc_id = place(conn, client.node_id, job("tpl", task))
    wait_for("complete", lambda: status(conn, alloc_id) == "complete")
    out = client.log_path(alloc_id, "t", "stdout").read_text()
    assert out == "name=t\ndc=dc1\nt dc1\n"


def test_start_error_fails_without_restarts(client: Client, conn: InMemoryConn) -> None:
    task = Task(name="m", driver="mock", config={"start_error": "boom"})
    group = TaskGroup(name="g", tasks=[task])  # default policy: 2 attempts, but unrecoverable
    alloc_id = place(conn, client.node_id, Job(id="bad", task_groups=[group]))
    wait_for("failed", lambda: status(conn, alloc_id) == "failed")
    ts = conn.store.allocs[alloc_id].task_states["m"]
    assert [e.type for e in ts.events][-2:] == ["Driver Failure", "Not Restarting"]
    assert "boom" in ts.events[-2].display_message
    assert ts.restarts == 0


def test_many_allocs_batch_their_status_updates(client: Client, conn: InMemoryConn) -> None:
    task = Task(name="m", driver="mock", config={"run_for": "30s"})
    conn.apply(RegisterJob(now=time.time_ns(), job=job("many", task, "service")))
    placements = [
        Placement(id=str(uuid.uuid4()), task_group="g", index=i, node_id=client.node_id)
        for i in range(200)
    ]
    before = conn.update_calls
    conn.apply(
        ApplyPlan(now=time.time_ns(), plan=Plan(eval_id="e", job_id="many", placements=placements))
    )
    wait_for(
        "all running", lambda: all(status(conn, p.id) == "running" for p in placements), timeout=30
    )
    assert conn.update_calls - before < 100  # 200 allocs x 2 updates each, coalesced


def test_tasks_keep_running_while_servers_are_down(client: Client, conn: InMemoryConn) -> None:
    task = Task(name="m", driver="mock", config={"run_for": "0.5s"})
    alloc_id = place(conn, client.node_id, job("outage", task))
    wait_for("running", lambda: status(conn, alloc_id) == "running")
    conn.available = False
    wait_for("task done locally", lambda: client.allocs()[alloc_id].tasks["m"].phase == "dead")
    time.sleep(0.3)
    assert status(conn, alloc_id) == "running"  # the server has not heard yet
    conn.available = True
    wait_for("complete after the outage", lambda: status(conn, alloc_id) == "complete")


def test_restart_reattaches_to_running_raw_exec_task(conn: InMemoryConn, tmp_path: Path) -> None:
    first = Client(conn, options(tmp_path), drivers=drivers())
    first.start()
    wait_for("registration", lambda: first.node_id in conn.store.nodes)
    task = Task(name="long", driver="raw_exec", config={"command": "sleep", "args": ["60"]})
    alloc_id = place(conn, first.node_id, job("long", task, "service"))
    wait_for("running", lambda: status(conn, alloc_id) == "running")
    handle = first.allocs()[alloc_id].tasks["long"].handle
    assert handle is not None
    first.stop()  # like kill -9 for the task: the agent goes, the task stays
    assert _alive(handle.pid)

    second = Client(conn, options(tmp_path), drivers=drivers())
    assert second.node_id == first.node_id
    second.start()
    try:
        wait_for("re-attached", lambda: second.allocs().get(alloc_id) is not None)
        time.sleep(1.0)
        run = second.allocs()[alloc_id].tasks["long"]
        assert run.phase == "running"
        assert run.handle is not None and run.handle.pid == handle.pid
        events = [e.type for e in conn.store.allocs[alloc_id].task_states["long"].events]
        assert events.count("Started") == 1
        stop(conn, "long", alloc_id)
        wait_for("complete", lambda: status(conn, alloc_id) == "complete", timeout=10)
        wait_for("process gone", lambda: not _alive(handle.pid))
    finally:
        second.stop()


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """The app on a free loopback port (uvicorn in a thread); yields host:port."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for("uvicorn", lambda: server.started, timeout=10)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_over_http_with_failover_and_the_real_scheduler(tmp_path: Path) -> None:
    """Server + HTTP API + HTTPConn (first address dead) + Client: the scheduler places
    a raw_exec job on the node and the client runs it to completion."""
    server = Server.in_memory()
    try:
        with serve(make_app(server)) as addr:
            conn = HTTPConn([f"127.0.0.1:{free_port()}", addr], timeout=2.0)
            client = Client(conn, options(tmp_path), drivers=drivers())
            client.start()
            try:
                wait_for("registration", lambda: client.node_id in server.state.nodes)
                task = Task(name="t", driver="raw_exec", config={"command": "echo", "args": ["ok"]})
                server.register_job(job("web", task))
                wait_for("placement", lambda: server.state.allocs_for_node(client.node_id))
                alloc = server.state.allocs_for_node(client.node_id)[0]
                wait_for(
                    "complete", lambda: server.state.allocs[alloc.id].client_status == "complete"
                )
                assert client.log_path(alloc.id, "t", "stdout").read_text() == "ok\n"
            finally:
                client.stop()
                conn.close()
    finally:
        server.stop()


AGENT = """
import sys, threading
from pathlib import Path
from gitorch.agent.client import Client, ClientOptions
from gitorch.agent.conn import HTTPConn
from gitorch.plugins.builtin.raw_exec import RawExecDriver
opts = ClientOptions(data_dir=Path(sys.argv[2]), name="child", alloc_wait_s=0.5)
drivers = {"raw_exec": RawExecDriver({"enabled": True})}
Client(HTTPConn([sys.argv[1]]), opts, drivers=drivers).start()
threading.Event().wait()
"""


def test_kill_9_of_the_agent_then_restart_reattaches(tmp_path: Path) -> None:
    """A real agent process is SIGKILLed while its raw_exec task runs; a new agent on
    the same data dir re-attaches to the same process and can still stop it."""
    server = Server.in_memory()
    try:
        with serve(make_app(server)) as addr:
            child = subprocess.Popen([sys.executable, "-c", AGENT, addr, str(tmp_path)])
            try:
                wait_for("child registered", lambda: server.state.nodes, timeout=20)
                node_id = next(iter(server.state.nodes))
                task = Task(
                    name="long", driver="raw_exec", config={"command": "sleep", "args": ["60"]}
                )
                server.register_job(job("long", task, "service"))
                wait_for(
                    "running",
                    lambda: [
                        a
                        for a in server.state.allocs_for_node(node_id)
                        if a.client_status == "running"
                    ],
                )
            finally:
                child.kill()
                child.wait(timeout=10)
            alloc = server.state.allocs_for_node(node_id)[0]
            conn = HTTPConn([addr])
            client = Client(conn, options(tmp_path), drivers=drivers())
            assert client.node_id == node_id
            client.start()
            try:
                wait_for("re-attached", lambda: alloc.id in client.allocs())
                time.sleep(1.0)
                run = client.allocs()[alloc.id].tasks["long"]
                assert run.phase == "running" and run.handle is not None
                pid = run.handle.pid
                assert _alive(pid)
                events = [e.type for e in server.state.allocs[alloc.id].task_states["long"].events]
                assert events.count("Started") == 1
                server.deregister_job("default", "long", purge=False)
                wait_for(
                    "complete",
                    lambda: server.state.allocs[alloc.id].client_status == "complete",
                    timeout=15,
                )
                wait_for("process gone", lambda: not _alive(pid))
            finally:
                client.stop()
                conn.close()
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_unknown_alloc_log_path_is_not_found(client: Client) -> None:
    from gitorch.errors import NotFoundError

    with pytest.raises(NotFoundError):
        client.log_path("nope", "t", "stdout")
    assert os.path.isdir(client.options.data_dir / "client" / "allocs")
