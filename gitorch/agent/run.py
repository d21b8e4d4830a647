"""`gitorch agent`: wire a server, a client and the HTTP API into one process.

The process is a server (Raft on the rpc port, the scheduler, the GitOps loop while
leader), a client (fingerprint, heartbeat, task runners), or both (``--dev``). The
HTTP API serves Nomad's v1 routes on bind_addr:http port from the start: a server that
is not the leader forwards to the leader, a client-only agent to its servers.

A server checks its data dir and its peers before Raft starts (``server.bootstrap``)
and exits non-zero with the reason when it must not serve: a damaged journal, a data
dir of another cluster, a wrong peer list; later, when Raft stops serving (a peer of
another cluster, an undecodable entry).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx

from gitorch import __version__
from gitorch import config as agent_config
from gitorch.agent.client import Client, ClientOptions
from gitorch.agent.conn import HTTPConn, ServerConn
from gitorch.agent.dns import DnsResponder
from gitorch.agent.dnscatalog import Catalog, CatalogError, HttpCatalog, StateCatalog
from gitorch.agent.localconn import LocalConn
from gitorch.agent.localstate import LocalState
from gitorch.config import AgentConfig
from gitorch.core.model.cluster import ServerMember
from gitorch.core.state import StateView
from gitorch.errors import ConfigError, GitorchError
from gitorch.gitsync.loop import GitopsLoop
from gitorch.plugins.validation import installed_driver_check
from gitorch.server import bootstrap, raft
from gitorch.server.cluster import Membership, read_cluster_id
from gitorch.server.fsm import Fsm
from gitorch.server.gcpolicy import tune_for_large_state
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
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.data_dir, 0o700)  # Raft log, client state, secrets: this agent's only
        self.server: Server | None = None
        self.membership: Membership | None = None
        self.client: Client | None = None
        self.dns: DnsResponder | None = None
        self.failed = threading.Event()
        self.failure = ""
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        cfg = self.cfg
        dns = self._dns() if cfg.dns.enabled else None  # binds first: a taken port fails early
        if cfg.server.enabled:
            self.server = self._start_server()
        if cfg.client.enabled:
            conn: ServerConn
            secret = LocalState(self.data_dir).node_secret()
            if self.server is not None and not self._clustered():
                conn = LocalConn(self.server)
            elif self.server is not None:  # a follower's writes go through its HTTP API
                conn = HTTPConn(
                    [cfg.http_addr, *cfg.client.servers], node_secret=secret, tls=cfg.tls,
                    region=cfg.region,
                )
            elif cfg.client.servers:
                conn = HTTPConn(
                    list(cfg.client.servers), node_secret=secret, tls=cfg.tls, region=cfg.region
                )
            else:
                raise ConfigError('client needs servers = ["host:port", ...] or server enabled')
            self.client = Client(
                conn,
                ClientOptions(
                    data_dir=self.data_dir,
                    name=cfg.name,
                    datacenter=cfg.datacenter,
                    node_class=cfg.client.node_class,
                    node_pool=cfg.client.node_pool,
                    host_volumes=cfg.client.host_volumes,
                    http_addr=cfg.http_addr,
                    meta=cfg.client.meta,
                    plugin_configs=cfg.plugins,
                    provider_configs=cfg.providers,
                    template_servers=self._template_servers(),
                    tls=cfg.tls,
                ),
            )
            self.client.start()
        if dns is not None:
            dns.start()
            self.dns = dns

    def _dns(self) -> DnsResponder:
        """The DNS responder for services: a server answers from its own state, a
        client-only agent asks its servers."""
        cfg = self.cfg
        catalog: Catalog
        if cfg.server.enabled:
            catalog = StateCatalog(self._server_state)
        else:
            ctx = cfg.tls.client_context()
            client = httpx.Client(timeout=2.0, verify=ctx) if ctx is not None else None
            addrs = [a if "://" in a else f"{cfg.tls.scheme}://{a}" for a in cfg.client.servers]
            catalog = HttpCatalog(addrs, client=client, ttl_s=max(cfg.dns.ttl_s, 1))
        return DnsResponder(catalog, bind=cfg.dns.bind, port=cfg.dns.port, ttl=cfg.dns.ttl_s)

    def _server_state(self) -> StateView:
        if self.server is None:
            raise CatalogError("the server is still starting")
        return self.server.state

    def _template_servers(self) -> tuple[str, ...]:
        """Where templates read services and variables: this agent's own HTTP API when
        it is a server, then the servers it knows."""
        own = (self.cfg.http_addr,) if self.server is not None else ()
        scheme = self.cfg.tls.scheme
        return tuple(
            a if "://" in a else f"{scheme}://{a}" for a in (*own, *self.cfg.client.servers)
        )

    def _clustered(self) -> bool:
        return bool([p for p in self.cfg.server.retry_join if p != self.cfg.rpc_addr])

    def _start_server(self) -> Server:
        cfg = self.cfg
        server_dir, raft_dir = self.data_dir / "server", self.data_dir / "server" / "raft"
        id_file = server_dir / "cluster-id"
        raft.use_key(cfg.server.encrypt or None)  # probes and joins speak the cluster's key
        try:
            raft.check_data_dir(raft_dir)
        except raft.DataDirError as exc:
            raise bootstrap.ClusterError(
                f"{exc}. This server cannot serve from data dir {self.data_dir}: restore it "
                "from a backup, or remove it and start the server empty to rejoin the cluster "
                "as a new member (remove the old one first: gitorch operator raft remove-peer)"
            ) from None
        data = bootstrap.DataDir(
            root=self.data_dir,
            has_state=raft.has_state(raft_dir),
            saved_peers=raft.load_peers(raft_dir),
            id_file=id_file,
        )
        plan = bootstrap.plan_start(
            cfg.rpc_addr, cfg.server.retry_join, cfg.server.bootstrap_expect, data,
            probe=raft.probe,
        )  # fmt: skip
        log.info("Raft peers %s: %s", plan.partners, plan.why)
        me = ServerMember(
            name=cfg.name or f"{socket.gethostname()}-{cfg.rpc_port}",
            raft_addr=cfg.rpc_addr,
            http_addr=cfg.http_addr,
            region=cfg.region,
            datacenter=cfg.datacenter,
            build=__version__,
        )
        tune_for_large_state()
        fsm = Fsm()
        ready: dict[str, Any] = {}
        lock = threading.Lock()

        def cluster_id() -> str:
            membership = ready.get("membership")
            if isinstance(membership, Membership):
                return membership.cluster_id()
            return read_cluster_id(id_file) or fsm.state.cluster_id

        def on_leader_change(leading: bool) -> None:
            with lock:
                ready["leading"] = leading
                if "server" in ready:
                    ready["server"].set_leader(leading)
                    ready["membership"].set_leader(leading)

        raft_log = RaftLog(
            fsm,
            cfg.rpc_addr,
            plan.partners,
            raft_dir,
            on_leader_change=on_leader_change,
            cluster_id=cluster_id,
            password=cfg.server.encrypt or None,
            identity=lambda: {
                "name": me.name,
                "http_addr": me.http_addr,
                "region": me.region,
                "datacenter": me.datacenter,
                "build": me.build,
            },
        )
        server = Server(
            fsm,
            raft_log,
            name=me.name,
            region=cfg.region,
            datacenter=cfg.datacenter,
            num_workers=cfg.server.num_schedulers,
            heartbeat_ttl_s=cfg.server.min_heartbeat_ttl_s,
            heartbeat_grace_s=cfg.server.heartbeat_grace_s,
            data_dir=server_dir,
        )
        if cfg.gitops is not None:
            server.gitops = GitopsLoop(
                cfg.gitops, self.data_dir / "gitops", server, installed_driver_check()
            )
        server.agent_info = self._agent_info
        membership = Membership(
            fsm, raft_log, me, id_file, probe=raft.probe, on_fatal=self._fail
        )  # fmt: skip
        server.start()
        membership.start()
        with lock:
            ready["server"], ready["membership"] = server, membership
            if ready.get("leading"):
                server.set_leader(True)
                membership.set_leader(True)
        self.membership = membership
        self._spawn(self._watch_raft, raft_log)
        if plan.join:
            self._spawn(self._join, plan.partners)
        return server

    def _join(self, members: list[str]) -> None:
        try:
            bootstrap.join(
                self.cfg.rpc_addr,
                members,
                probe=raft.probe,
                request_add=lambda member, me: raft.request(member, "add", me),
            )
        except bootstrap.ClusterError as exc:
            self._fail(str(exc))

    def _watch_raft(self, raft_log: RaftLog) -> None:
        while not self.failed.wait(0.5):
            why = raft_log.fatal()
            if why:
                self._fail(f"{why} (data dir {self.data_dir})")

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _fail(self, why: str) -> None:
        """This server must stop serving: say why; ``main`` exits non-zero."""
        if not self.failed.is_set():
            self.failure = why
            log.critical("stopping: %s", why)
            self.failed.set()

    def _agent_info(self) -> dict[str, Any]:
        return {"stats": {"client": {"node_id": self.client.node_id if self.client else ""}}}

    def client_self(self) -> dict[str, Any]:
        """/v1/agent/self of a client-only agent."""
        cfg = self.cfg
        return {
            "config": {
                "Name": cfg.name,
                "Region": cfg.region,
                "Datacenter": cfg.datacenter,
                "Version": {"Version": __version__},
                "Client": {"Enabled": True, "Servers": list(cfg.client.servers)},
            },
            **self._agent_info(),
        }

    def stop(self) -> None:
        if self.dns is not None:
            self.dns.stop()
        if self.client is not None:
            self.client.stop()
        if self.membership is not None:
            self.membership.stop()
        if self.server is not None:
            self.server.stop()


def main(options: dict[str, Any]) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    try:
        cfg = agent_config.build(options)
        agent = Agent(cfg)
        agent.start()
    except (GitorchError, OSError) as exc:
        log.error("cannot start the agent: %s", exc)
        return 1
    log.info(
        "gitorch agent: %s://%s data_dir=%s server=%s client=%s gitops=%s",
        cfg.tls.scheme,
        cfg.http_addr,
        agent.data_dir,
        cfg.server.enabled,
        cfg.client.enabled,
        cfg.gitops.repo if cfg.gitops else "-",
    )
    from gitorch.api.serve import serve_app  # the HTTP edge, loaded last

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down (tasks keep running)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def stop_on_failure() -> None:
        agent.failed.wait()
        stop.set()

    threading.Thread(target=stop_on_failure, daemon=True).start()
    try:
        serve_app(_app(agent), cfg.bind_addr, cfg.http_port, stop=stop, tls=cfg.tls)
    finally:
        agent.stop()
    if agent.failure:
        log.error("gitorch agent stopped: %s", agent.failure)
        return 1
    return 0


def _app(agent: Agent) -> Any:
    cfg = agent.cfg
    tokens = set(cfg.acl_tokens) if cfg.acl_enabled else None
    from gitorch.api.forward import Relay
    from gitorch.api.nodehop import NodeHop

    if agent.server is not None:
        from gitorch.api.app import make_app

        relay = Relay(tls=cfg.tls, region=cfg.region)
        return make_app(
            agent.server,
            agent.client,
            acl_tokens=tokens,
            cluster=agent.membership,
            relay=relay,
            node_hop=NodeHop(cfg.tls, cfg.region),
        )
    from gitorch.api.client_agent import make_client_app

    client = agent.client
    assert client is not None
    return make_client_app(
        client,
        cfg.client.servers,
        agent_self=agent.client_self,
        local_allocs=lambda: {k: s.alloc for k, s in client.allocs().items()},
        acl_tokens=tokens,
        relay=Relay(mark=None, tls=cfg.tls, region=cfg.region),
        node_hop=NodeHop(cfg.tls, cfg.region),
    )
