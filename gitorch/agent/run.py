"""`gitorch agent`: wire a server, a client and the HTTP API into one process.

The process is a server (Raft on the rpc port, the scheduler, the GitOps loop while
leader), a client (fingerprint, heartbeat, task runners), or both (``--dev``). The
HTTP API serves Nomad's v1 routes on bind_addr:http port.
"""

from __future__ import annotations

import logging
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

from gitorch import config as agent_config
from gitorch.agent.client import Client, ClientOptions
from gitorch.agent.conn import HTTPConn, ServerConn
from gitorch.agent.localconn import LocalConn
from gitorch.config import AgentConfig
from gitorch.errors import ConfigError, GitorchError
from gitorch.gitsync.loop import GitopsLoop
from gitorch.server.fsm import Fsm
from gitorch.server.log import RaftLog
from gitorch.server.server import Server

log = logging.getLogger("gitorch.agent")


class Agent:
    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        if cfg.data_dir:
            self.data_dir = Path(cfg.data_dir).absolute()
        elif cfg.dev:
            self.data_dir = Path(tempfile.mkdtemp(prefix="gitorch-dev-"))
        else:
            raise ConfigError("data_dir is required outside --dev: set data_dir or --data-dir")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.server: Server | None = None
        self.client: Client | None = None

    def start(self) -> None:
        cfg = self.cfg
        if cfg.server.enabled:
            self.server = self._start_server()
        if cfg.client.enabled:
            conn: ServerConn
            if self.server is not None:
                conn = LocalConn(self.server)
            elif cfg.client.servers:
                conn = HTTPConn(list(cfg.client.servers))
            else:
                raise ConfigError('client needs servers = ["host:port", ...] or server enabled')
            self.client = Client(
                conn,
                ClientOptions(
                    data_dir=self.data_dir,
                    name=cfg.name,
                    datacenter=cfg.datacenter,
                    node_class=cfg.client.node_class,
                    http_addr=cfg.http_addr,
                    meta=cfg.client.meta,
                    plugin_configs=cfg.plugins,
                ),
            )
            self.client.start()

    def _start_server(self) -> Server:
        cfg = self.cfg
        fsm = Fsm()
        holder: dict[str, Server] = {}
        leader_now = threading.Event()

        def on_leader_change(leading: bool) -> None:
            if "server" in holder:
                holder["server"].set_leader(leading)
            elif leading:
                leader_now.set()

        peers = [p for p in cfg.server.retry_join if p != cfg.rpc_addr]
        raft_log = RaftLog(
            fsm,
            cfg.rpc_addr,
            peers,
            self.data_dir / "server" / "raft",
            on_leader_change=on_leader_change,
        )
        server = Server(
            fsm,
            raft_log,
            name=cfg.name or "gitorch",
            region=cfg.region,
            datacenter=cfg.datacenter,
            num_workers=cfg.server.num_schedulers,
            heartbeat_ttl_s=cfg.server.min_heartbeat_ttl_s,
            heartbeat_grace_s=cfg.server.heartbeat_grace_s,
        )
        if cfg.gitops is not None:
            server.gitops = GitopsLoop(cfg.gitops, self.data_dir / "gitops", server)
        server.agent_info = self._agent_info
        holder["server"] = server
        server.start()
        if not raft_log.wait_ready(timeout=30):
            log.warning("no Raft leader yet; serving reads while waiting")
        if leader_now.is_set() or raft_log.is_leader():
            server.set_leader(True)
        return server

    def _agent_info(self) -> dict[str, Any]:
        return {"stats": {"client": {"node_id": self.client.node_id if self.client else ""}}}

    def stop(self) -> None:
        if self.client is not None:
            self.client.stop()
        if self.server is not None:
            self.server.stop()


def main(options: dict[str, Any]) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        cfg = agent_config.build(options)
        agent = Agent(cfg)
        agent.start()
    except (GitorchError, OSError) as exc:
        log.error("cannot start the agent: %s", exc)
        return 1
    log.info(
        "gitorch agent: http://%s data_dir=%s server=%s client=%s gitops=%s",
        cfg.http_addr,
        agent.data_dir,
        cfg.server.enabled,
        cfg.client.enabled,
        cfg.gitops.repo if cfg.gitops else "-",
    )
    from gitorch.api.serve import serve  # the HTTP edge, loaded last

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down (tasks keep running)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    backend = agent.server
    if backend is None:
        raise ConfigError("an agent without a server cannot serve the API yet: enable server")
    try:
        serve(
            backend,
            agent.client,
            cfg.bind_addr,
            cfg.http_port,
            acl_tokens=set(cfg.acl_tokens) if cfg.acl_enabled else None,
            stop=stop,
        )
    finally:
        agent.stop()
    return 0
