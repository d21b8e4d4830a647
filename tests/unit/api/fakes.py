"""A small in-process Backend over the real StateStore, and a live uvicorn server helper,
for API and CLI tests (until ``Server.in_memory`` can stand in)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette

from gitorch.core import commands as c
from gitorch.core.model import (
    SECOND,
    DriverInfo,
    Evaluation,
    FileError,
    GitopsJob,
    GitopsStatus,
    Job,
    Node,
    NodeCpu,
    NodeDisk,
    NodeMemory,
    NodeResources,
    Placement,
    Plan,
    replace,
)
from gitorch.core.model.clientstats import AllocResourceUsage, HostMemoryStats, HostStats
from gitorch.core.model.drain import DrainStrategy
from gitorch.core.model.gitops import HistoryItem
from gitorch.core.state import ApplyResult, StateStore
from gitorch.core.task import ExecCommand
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.gitsync.webhook import verify_signature
from gitorch.server.backend import (
    JobDeregisterResponse,
    JobDiff,
    JobPlanResponse,
    JobRegisterResponse,
    NodeRegisterResponse,
    PlanAnnotations,
    SyncReport,
    TGUpdates,
)
from gitorch.server.fsm import Fsm
from gitorch.server.server import Server

with warnings.catch_warnings():
    # starlette asks for httpx2 in its test client; httpx is what this project installs
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from starlette.testclient import TestClient

NOW = 1_700_000_000 * SECOND
WEBHOOK_SECRET = "s3cret"


class FakeBackend:
    """Backend over a real StateStore: commands apply at once; no scheduler runs."""

    def __init__(self) -> None:
        self.fsm = Fsm()  # the real state store, and blocking queries as a server's
        self.report = SyncReport(commit="a" * 40, dry_run=False, changes=[], errors=[])
        self.webhooks: list[bytes] = []

    @property
    def store(self) -> StateStore:
        return self.fsm.store

    @property
    def state(self) -> StateStore:
        return self.fsm.store

    def apply(self, cmd: c.Command) -> ApplyResult:
        return self.fsm.apply(cmd)

    def wait_index(self, tables: tuple[str, ...], index: int, timeout: float) -> int:
        return self.fsm.wait_index(tables, index, timeout)

    async def wait_index_async(self, tables: tuple[str, ...], index: int, timeout: float) -> int:
        return await self.fsm.wait_index_async(tables, index, timeout)

    async def wait_node_allocs(self, node_id: str, index: int, timeout: float) -> int:
        return await self.fsm.wait_node_allocs(node_id, index, timeout)

    def register_job(self, job: Job, submission: Any = None) -> JobRegisterResponse:
        ev = Evaluation(id=str(uuid.uuid4()), namespace=job.namespace, job_id=job.id)
        result = self.apply(c.RegisterJob(now=NOW, job=job, eval=ev, submission=submission))
        stored = self.store.job(job.namespace, job.id)
        assert stored is not None
        return JobRegisterResponse(
            eval_id=ev.id,
            eval_create_index=result.index,
            job_modify_index=stored.job_modify_index,
            index=result.index,
        )

    def deregister_job(self, namespace: str, job_id: str, purge: bool) -> JobDeregisterResponse:
        if self.store.job(namespace, job_id) is None:
            raise NotFoundError("job not found")
        ev = Evaluation(
            id=str(uuid.uuid4()), namespace=namespace, job_id=job_id, triggered_by="job-deregister"
        )
        result = self.apply(
            c.DeregisterJob(now=NOW, namespace=namespace, job_id=job_id, purge=purge, eval=ev)
        )
        return JobDeregisterResponse(
            eval_id=ev.id,
            eval_create_index=result.index,
            job_modify_index=result.index,
            index=result.index,
        )

    def plan_job(self, job: Job, diff: bool) -> JobPlanResponse:
        old = self.store.job(job.namespace, job.id)
        kind: Literal["Added", "Edited", "None"] = (
            "Added" if old is None else "None" if old.spec_key() == job.spec_key() else "Edited"
        )
        return JobPlanResponse(
            annotations=PlanAnnotations(
                desired_tg_updates={tg.name: TGUpdates(place=tg.count) for tg in job.task_groups}
            ),
            failed_tg_allocs={},
            job_modify_index=old.job_modify_index if old else 0,
            diff=JobDiff(type=kind, id=job.id),
        )

    def register_node(self, node: Node) -> NodeRegisterResponse:
        result = self.apply(c.RegisterNode(now=NOW, node=replace(node, status="ready")))
        return NodeRegisterResponse(index=result.index, heartbeat_ttl=10 * SECOND)

    def heartbeat(self, node_id: str, secret: str | None = None) -> NodeRegisterResponse:
        result = self.apply(c.UpdateNodeStatus(now=NOW, node_id=node_id, status="ready"))
        return NodeRegisterResponse(index=result.index, heartbeat_ttl=10 * SECOND)

    def update_allocs(self, updates: list[c.AllocClientUpdate]) -> int:
        return self.apply(c.UpdateAllocsFromClient(now=NOW, updates=updates)).index

    def set_node_eligibility(self, node_id: str, eligible: bool) -> int:
        value = "eligible" if eligible else "ineligible"
        cmd = c.UpdateNodeEligibility(now=NOW, node_id=node_id, eligibility=value)
        return self.apply(cmd).index

    def drain_node(
        self, node_id: str, spec: Any, mark_eligible: bool, meta: dict[str, str]
    ) -> tuple[int, list[str]]:
        if node_id not in self.store.nodes:
            raise NotFoundError(f"node {node_id} not found")
        strategy = None if spec is None else DrainStrategy(deadline=spec.deadline)
        cmd = c.UpdateNodeDrain(
            now=NOW, node_id=node_id, strategy=strategy, mark_eligible=mark_eligible, meta=meta
        )
        return self.apply(cmd).index, []

    def gitops_status(self) -> GitopsStatus:
        sync = self.store.gitsync
        return GitopsStatus(
            repo=sync.repo,
            branch=sync.branch,
            commit=sync.commit,
            synced_at=sync.synced_at,
            jobs=[
                GitopsJob(id=job_id, file=f, commit=sync.commit, status="synced")
                for f, job_id in sorted(sync.files.items())
            ],
            errors=sync.errors,
            fetch_error=sync.fetch_error,
        )

    def gitops_sync(self, dry_run: bool, revision: str = "", expected: str = "") -> SyncReport:
        return replace(self.report, dry_run=dry_run, revision=revision)

    def gitops_history(self) -> list[HistoryItem]:
        return []

    def gitops_suspend(self, job_id: str, suspended: bool) -> int:
        return 1

    def gitops_webhook(self, body: bytes, signature: str | None) -> bool:
        if not verify_signature(WEBHOOK_SECRET, body, signature):
            return False
        self.webhooks.append(body)
        return True

    def leader(self) -> str:
        return "127.0.0.1:4647"

    def peers(self) -> list[str]:
        return ["127.0.0.1:4647"]

    def agent_self(self) -> dict[str, Any]:
        return {"config": {"Region": "global", "Datacenter": "dc1"}, "member": {"Name": "fake"}}

    # -- test helpers ---------------------------------------------------------------

    def add_node(self, node_id: str, *, http_addr: str = "") -> Node:
        node = Node(id=node_id, name=f"node-{node_id[:4]}", http_addr=http_addr)
        self.register_node(node)
        return self.store.nodes[node_id]

    def place(self, job: Job, node_id: str) -> list[str]:
        """Place every group's count on ``node_id`` (what a scheduler would do)."""
        stored = self.store.job(job.namespace, job.id)
        assert stored is not None
        placements = [
            Placement(id=str(uuid.uuid4()), task_group=tg.name, index=i, node_id=node_id)
            for tg in stored.task_groups
            for i in range(tg.count)
        ]
        evals = self.store.evals_for_job(stored.namespace, stored.id)
        plan = Plan(
            eval_id=evals[-1].id if evals else "",
            namespace=stored.namespace,
            job_id=stored.id,
            job_version=stored.version,
            placements=placements,
        )
        self.apply(c.ApplyPlan(now=NOW, plan=plan))
        return [p.id for p in placements]

    def record_sync(self, files: dict[str, str], errors: list[FileError]) -> None:
        sync = c.RecordGitSync(
            now=NOW,
            sync=replace(
                self.store.gitsync,
                repo="file:///repo",
                branch="main",
                commit="b" * 40,
                files=files,
                errors=errors,
            ),
        )
        self.apply(sync)


class FakeClient:
    """ClientBackend whose task logs are files under ``root``."""

    def __init__(self, node_id: str, root: Path) -> None:
        self.node_id = node_id
        self.root = root

    def log_path(self, alloc_id: str, task: str, kind: Literal["stdout", "stderr"]) -> Path:
        path = self.root / alloc_id / f"{task}.{kind}.0"
        if not path.exists():
            raise NotFoundError(f"alloc {alloc_id} has no task {task!r} on node {self.node_id}")
        return path

    # The rest of ClientBackend: an allocation is a directory under ``root`` whose
    # tasks have all finished (so what needs a live task is a 400).

    def alloc_dir(self, alloc_id: str) -> tuple[Path, list[str]]:
        path = self.root / alloc_id
        if not alloc_id or "/" in alloc_id or alloc_id in (".", "..") or not path.is_dir():
            raise NotFoundError(f"Unknown allocation {alloc_id!r}")
        return path, ["t"]

    def _stopped(self, alloc_id: str) -> BadRequestError:
        self.alloc_dir(alloc_id)
        return BadRequestError(f"allocation {alloc_id} is stopped")

    def restart_alloc(self, alloc_id: str, task: str, all_tasks: bool) -> list[str]:
        raise self._stopped(alloc_id)

    def signal_alloc(self, alloc_id: str, task: str, sig: str) -> list[str]:
        raise self._stopped(alloc_id)

    def alloc_stats(self, alloc_id: str, task: str) -> AllocResourceUsage:
        raise self._stopped(alloc_id)

    def exec_command(
        self, alloc_id: str, task: str, cmd: list[str], tty: bool
    ) -> tuple[ExecCommand, str]:
        raise self._stopped(alloc_id)

    def gc_alloc(self, alloc_id: str) -> None:
        self.alloc_dir(alloc_id)

    def gc_all(self) -> list[str]:
        return []

    def host_stats(self) -> HostStats:
        return HostStats(memory=HostMemoryStats(total=1 << 30))


def simple_job(job_id: str = "web", count: int = 2) -> dict[str, Any]:
    """A Nomad API job as python-nomad users write it (nulls and unmodelled fields too)."""
    return {
        "ID": job_id,
        "Name": job_id,
        "Type": "service",
        "Datacenters": ["dc1"],
        "Update": None,
        "Periodic": None,
        "TaskGroups": [
            {
                "Name": "web",
                "Count": count,
                "EphemeralDisk": {"SizeMB": 300},
                "Networks": None,
                "Tasks": [
                    {
                        "Name": "server",
                        "Driver": "raw_exec",
                        "Config": {"command": "/bin/sleep", "args": ["60"]},
                        "Resources": {"CPU": 100, "MemoryMB": 64, "Networks": None},
                        "Meta": None,
                    }
                ],
            }
        ],
    }


def api_client(app: Starlette) -> TestClient:
    """A synchronous test client that calls ``app`` in process."""
    return TestClient(app, raise_server_exceptions=False)


def in_memory_server(node_id: str, name: str = "node", http_addr: str = "127.0.0.1:1") -> Server:
    """``Server.in_memory`` (scheduler workers running) with one ready raw_exec node."""
    server = Server.in_memory()
    server.register_node(
        Node(
            id=node_id,
            name=name,
            http_addr=http_addr,
            node_resources=NodeResources(
                cpu=NodeCpu(cpu_shares=4000),
                memory=NodeMemory(memory_mb=8192),
                disk=NodeDisk(disk_mb=100_000),  # jobs' ephemeral disks count since 8896b17
            ),
            drivers={"raw_exec": DriverInfo(detected=True, healthy=True)},
        )
    )
    return server


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(app: Starlette, **tls: str) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its address.
    ``tls``: uvicorn's ``ssl_certfile`` and ``ssl_keyfile`` to serve HTTPS."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        # a refused TLS handshake leaves a connection uvicorn would wait out for 10 s
        timeout_graceful_shutdown=1 if tls else None,
        **tls,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
