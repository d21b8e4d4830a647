"""The client agent: makes this machine a node, and runs the allocations the servers
place on it.

``start()`` re-attaches to the tasks a previous agent process left running (from
``localstate``), fingerprints the node (host, drivers and device plugins), then runs
four threads: register and heartbeat at the TTL the servers give (every TTL/2), watch
the node's allocations with blocking queries, send alloc status updates in batches,
and re-fingerprint the devices (every ``device_fingerprint_s``; a change registers the
node again). When no server answers, each retries with backoff and the tasks keep
running. ``stop()`` leaves the tasks running (as Nomad's client does) unless asked to
drain.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import msgspec

from gitorch.agent import allocrunner as ar
from gitorch.agent import clientops, fingerprint
from gitorch.agent.conn import AllocsWithJobs, ServerConn, StatusBatcher
from gitorch.agent.devices import DeviceManager
from gitorch.agent.hooks.secrets import SecretsHook
from gitorch.agent.hooks.services import ServiceHook
from gitorch.agent.hoststats import HostSampler
from gitorch.agent.identity import IdentityHook
from gitorch.agent.localstate import LocalState
from gitorch.agent.nomadproviders import NomadTemplateSource
from gitorch.agent.providerload import load_providers
from gitorch.agent.providersource import OtherSources
from gitorch.agent.taskrunner import TaskRunner, Timers
from gitorch.agent.templatesource import ServerTemplateSource
from gitorch.agent.templatewatch import TemplateWatcher
from gitorch.config_tls import TlsSettings
from gitorch.core.commands import AllocClientUpdate
from gitorch.core.disconnects import policy
from gitorch.core.model import Allocation, DriverInfo, Node, NodeResources, replace
from gitorch.core.model.clientstats import AllocResourceUsage, HostStats
from gitorch.core.model.node import ClientHostVolume
from gitorch.core.model.vault import Vault
from gitorch.core.task import ExecCommand
from gitorch.errors import BadRequestError, GitorchError, NotFoundError
from gitorch.plugins.device import DevicePlugin
from gitorch.plugins.driver import Driver
from gitorch.plugins.providers import ProviderContext

log = logging.getLogger(__name__)

# Nomad's default ``client { options { env.denylist } }``: secrets tasks must not inherit.
ENV_DENYLIST = frozenset(
    {
        "CONSUL_TOKEN",
        "CONSUL_HTTP_TOKEN",
        "VAULT_TOKEN",
        "NOMAD_LICENSE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
    }
)


@dataclass(frozen=True)
class ClientOptions:
    """What the agent config's ``client {}`` block sets, plus tuning knobs."""

    data_dir: Path
    name: str = ""
    datacenter: str = "dc1"
    node_class: str = ""
    node_pool: str = "default"
    host_volumes: Mapping[str, ClientHostVolume] = field(default_factory=dict)
    """The agent config's ``host_volume`` blocks, fingerprinted onto the node."""
    http_addr: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)
    plugin_configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    alloc_wait_s: float = 30.0
    """How long one blocking query for allocations may wait on the server."""
    batch_window_s: float = 0.02
    """How long status updates gather before one request carries them all."""
    retry_max_s: float = 15.0
    workers: int = 8
    """Threads that handle alloc runner events (start tasks, write state)."""
    cpu_total_compute: int = 0
    """MHz to advertise instead of the detected total (Nomad's ``cpu_total_compute``)."""
    memory_total_mb: int = 0
    env_denylist: frozenset[str] = ENV_DENYLIST
    """Agent environment variables tasks do not inherit (Nomad's ``env.denylist``)."""
    device_fingerprint_s: float = 30.0
    """How often device plugins fingerprint again (a change re-registers the node)."""
    template_servers: tuple[str, ...] = ()
    """HTTP addresses that templates read services and variables from (none: they wait)."""
    tls: TlsSettings = TlsSettings()
    """The agent's ``tls`` block: with ``http`` those reads are HTTPS (ca_file, own cert)."""
    provider_configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The agent config's ``consul { }`` and ``vault { }`` blocks, by name, for the
    provider plugins (gitorch.plugins.providers)."""


def _https(tls: TlsSettings, timeout: float = 5.0) -> httpx.Client | None:
    """With ``tls.http``, a client for template and identity reads (else their own)."""
    ctx = tls.client_context()
    return None if ctx is None else httpx.Client(timeout=timeout, verify=ctx)


class Client:
    """One client agent. Thread-safe; ``node_id`` is stable across restarts."""

    def __init__(
        self,
        conn: ServerConn,
        options: ClientOptions,
        *,
        drivers: Mapping[str, Driver] | None = None,
        devices: Mapping[str, DevicePlugin] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        """``drivers`` and ``devices`` (device plugins) default to the installed
        plugins, built with ``options.plugin_configs``."""
        self.conn = conn
        self.options = options
        self.local = LocalState(options.data_dir)
        self.node_id = self.local.node_id()
        if drivers is None or devices is None:
            loaded_drivers, loaded_devices = _load_plugins(options)
            drivers = loaded_drivers if drivers is None else drivers
            devices = loaded_devices if devices is None else devices
        self._drivers = dict(drivers)
        self.devices = DeviceManager(devices)
        self._clock = clock
        self._stop = threading.Event()
        self.registered = threading.Event()
        self._lock = threading.Lock()
        self._runners: dict[str, TaskRunner] = {}
        self._sent: dict[str, tuple[str, int, int]] = {}
        self._threads: list[threading.Thread] = []
        self._pool = ThreadPoolExecutor(options.workers, thread_name_prefix="gitorch-alloc")
        self._timers = Timers(clock)
        self._batcher = StatusBatcher(
            conn.update_allocs, window_s=options.batch_window_s, retry_max_s=options.retry_max_s
        )
        self.node = self._fingerprint()
        self.heartbeat_ttl_ns = 0
        self.providers = load_providers(
            options.provider_configs,
            ProviderContext(
                node_id=self.node_id,
                datacenter=options.datacenter,
                servers=conn,
                server_addresses=options.template_servers,
                http_client=_https(options.tls),
            ),
        )
        self.template_source = _template_source(self.providers.sources, self.providers.secrets)
        self.secrets = SecretsHook(self.providers.secrets, self._vault_changed)
        self.template_watch = TemplateWatcher(verify=options.tls.client_context() or True)
        self.identities = (
            IdentityHook(
                options.template_servers,
                self.node_id,
                node_secret=self.local.node_secret(),
                client=_https(options.tls),
            )
            if options.template_servers
            else None
        )
        self._host: HostSampler | None = None
        self.services = ServiceHook(
            self.providers.services,
            self._restart_task,
            retry_max_s=options.retry_max_s,
            clock=clock,
            exec_in_task=self._exec_in_task,
        )

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Re-attach to saved allocations, then register and watch the servers."""
        for state in self.local.load_allocs():
            runner = self._runner(replace_node(state, self.node))
            self._sent[state.alloc.id] = _key(state.alloc)
            runner.restore()
        self._batcher.start()
        self.services.start()
        loops = (
            (self._heartbeat_loop, "heartbeat"),
            (self._watch_loop, "watch"),
            (self._device_loop, "devices"),
        )
        for target, name in loops:
            thread = threading.Thread(target=target, name=f"gitorch-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, *, drain: bool = False, timeout: float = 30.0) -> None:
        """Stop talking to the servers. Tasks keep running unless ``drain``, which
        first stops every allocation and waits (up to ``timeout``) for them to end."""
        if drain:
            with self._lock:
                runners = list(self._runners.values())
            for runner in runners:
                stop = replace(runner.state.alloc, desired_status="stop")
                runner.send(ar.AllocUpdated(alloc=stop, job=runner.state.job))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not all(r.terminal() for r in runners):
                time.sleep(0.05)
        self._stop.set()
        with self._lock:
            runners = list(self._runners.values())
        for runner in runners:
            runner.shutdown()
        self._batcher.stop(flush_timeout=min(timeout, 5.0))
        self.services.close()
        self.secrets.close()
        self.providers.close()
        self.template_watch.close()
        self._timers.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for thread in self._threads:
            thread.join(timeout=1.0)
        for plugin in self.devices.plugins.values():
            try:
                plugin.close()
            except Exception:  # noqa: BLE001 - stopping goes on
                log.exception("device plugin %s: close failed", plugin.name)

    # -- what the API and tests read ---------------------------------------------------

    def allocs(self) -> dict[str, ar.AllocRunnerState]:
        """Each running allocation's alloc runner state, by allocation ID."""
        with self._lock:
            return {alloc_id: r.state for alloc_id, r in self._runners.items()}

    def log_path(self, alloc_id: str, task: str, kind: Literal["stdout", "stderr"]) -> Path:
        """The task's current log file (``alloc/logs/<task>.<kind>.<n>``, highest n)."""
        with self._lock:
            runner = self._runners.get(alloc_id)
        if runner is None:
            raise NotFoundError(f"allocation {alloc_id} is not running on node {self.node_id}")
        if task not in runner.state.tasks:
            known = ", ".join(sorted(runner.state.tasks)) or "none"
            raise NotFoundError(f"allocation {alloc_id} has no task {task!r} (tasks: {known})")
        logs = Path(runner.state.alloc_root, "alloc", "logs")
        pattern = re.compile(rf"{re.escape(task)}\.{kind}\.(\d+)")
        numbers = [
            int(m.group(1))
            for p in logs.glob(f"{task}.{kind}.*")
            if (m := pattern.fullmatch(p.name))
        ]
        return logs / f"{task}.{kind}.{max(numbers, default=0)}"

    # -- what users ask of allocations here (gitorch.agent.clientops) ------------------

    def _runner_for(self, alloc_id: str) -> TaskRunner:
        with self._lock:
            runner = self._runners.get(alloc_id)
        if runner is None:
            raise clientops.unknown_alloc(alloc_id, self.node_id)
        return runner

    def alloc_dir(self, alloc_id: str) -> tuple[Path, list[str]]:
        """The allocation's directory on this node and its task names."""
        runner = self._runner_for(alloc_id)
        return Path(runner.state.alloc_root), sorted(runner.state.tasks)

    def restart_alloc(self, alloc_id: str, task: str, all_tasks: bool) -> list[str]:
        return clientops.restart(self._runner_for(alloc_id), task, all_tasks)

    def signal_alloc(self, alloc_id: str, task: str, sig: str) -> list[str]:
        return clientops.signal(self._runner_for(alloc_id), task, sig)

    def alloc_stats(self, alloc_id: str, task: str) -> AllocResourceUsage:
        mhz = float(self.node.attributes.get("cpu.frequency", "0") or 0)
        return clientops.stats(self._runner_for(alloc_id), task, mhz)

    def exec_command(
        self, alloc_id: str, task: str, cmd: list[str], tty: bool
    ) -> tuple[ExecCommand, str]:
        return clientops.exec_command(self._runner_for(alloc_id), task, cmd, tty)

    def gc_alloc(self, alloc_id: str) -> None:
        """Collect a finished allocation now: its runner, saved state and directory."""
        runner = self._runner_for(alloc_id)
        if not runner.terminal():
            raise BadRequestError(
                f"allocation {alloc_id} still runs on node {self.node_id}: stop it "
                "before collecting it"
            )
        self._forget(runner)

    def gc_all(self) -> list[str]:
        """Collect every finished allocation; their IDs."""
        with self._lock:
            done = [r for r in self._runners.values() if r.terminal()]
        for runner in done:
            self._forget(runner)
        return sorted(r.alloc_id for r in done)

    def host_stats(self) -> HostStats:
        if self._host is None:
            mhz = float(self.node.attributes.get("cpu.totalcompute", "0") or 0)
            self._host = HostSampler(str(self.options.data_dir / "alloc"), mhz)
        return self._host.sample()

    # -- node --------------------------------------------------------------------------

    def _fingerprint(self) -> Node:
        opts = self.options
        host = fingerprint.fingerprint(
            str(opts.data_dir),
            self._drivers,
            cpu_total_compute=opts.cpu_total_compute,
            memory_total_mb=opts.memory_total_mb,
            bind_addr=opts.http_addr.rpartition(":")[0],
        )
        now = self._clock()
        drivers = {
            name: DriverInfo(
                attributes=fp.attributes,
                detected=fp.health != "undetected",
                healthy=fp.healthy,
                health_description=fp.health_description,
                update_time=now,
            )
            for name, fp in host.drivers.items()
        }
        return Node(
            id=self.node_id,
            secret_id=self.local.node_secret(),
            name=opts.name or socket.gethostname(),
            datacenter=opts.datacenter,
            node_class=opts.node_class,
            node_pool=opts.node_pool,
            http_addr=opts.http_addr,
            attributes=host.attributes,
            meta=dict(opts.meta),
            node_resources=replace(host.resources, devices=self.devices.fingerprint()),
            drivers=drivers,
            host_volumes=dict(opts.host_volumes),
            status="ready",
        )

    def _device_loop(self) -> None:
        """Fingerprint the devices again; register the node when they changed."""
        while not self._stop.wait(self.options.device_fingerprint_s):
            self.refresh_devices()

    def refresh_devices(self) -> bool:
        """Fingerprint the device plugins; True (and the node registered again) when
        the node's devices changed."""
        devices = self.devices.fingerprint()
        node = self.node
        if devices == node.node_resources.devices:
            return False
        resources: NodeResources = replace(node.node_resources, devices=devices)
        self.node = replace(node, node_resources=resources)
        log.info("node %s: devices changed, registering again", self.node_id)
        if self.registered.is_set():
            try:
                self.conn.register_node(self.node)
            except (GitorchError, OSError) as exc:
                log.warning("registering the new devices failed (retrying): %s", exc)
                self.registered.clear()  # the heartbeat loop registers the node
        return True

    # -- heartbeat ---------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        backoff = _Backoff(self.options.retry_max_s)
        last_ok = time.monotonic()  # of the last heartbeat the servers answered
        while not self._stop.is_set():
            try:
                if self.registered.is_set():
                    resp = self.conn.heartbeat(self.node_id)
                else:
                    resp = self.conn.register_node(self.node)
                    log.info("node %s registered", self.node_id)
                    self.registered.set()
            except NotFoundError:
                self.registered.clear()  # the servers forgot this node: register again
                continue
            except (GitorchError, OSError) as exc:
                delay = backoff.next()
                ttl = self.heartbeat_ttl_ns / 2e9 if self.heartbeat_ttl_ns else delay
                log.warning("heartbeat failed (retry in %.1fs): %s", min(delay, ttl), exc)
                self.stop_cut_off(time.monotonic() - last_ok)
                self._stop.wait(min(delay, ttl))
                continue
            backoff.reset()
            gap, last_ok = time.monotonic() - last_ok, time.monotonic()
            if self.heartbeat_ttl_ns and gap > self.heartbeat_ttl_ns / 1e9:
                self.resend_statuses()  # the servers may hold our allocations unknown
            self.heartbeat_ttl_ns = resp.heartbeat_ttl
            self._stop.wait(max(resp.heartbeat_ttl / 2e9, 0.05))

    def resend_statuses(self) -> None:
        """Report every allocation's last status again (after a gap in heartbeats the
        servers marked them unknown; this is how they learn the tasks kept running)."""
        with self._lock:
            reported = [r.state.reported for r in self._runners.values()]
        for update in reported:
            if update is not None:
                self._batcher.add(update)
        log.info("node %s: back in touch with the servers, statuses sent again", self.node_id)

    def stop_cut_off(self, silent_s: float) -> list[str]:
        """Stop the allocations whose group's ``stop_on_client_after`` is shorter than
        ``silent_s`` (seconds since the servers last answered); their IDs."""
        with self._lock:
            runners = list(self._runners.values())
        stopped: list[str] = []
        for runner in runners:
            alloc, job = runner.state.alloc, runner.state.job
            group = job.group(alloc.task_group)
            p = policy(group) if group is not None else None
            if p is None or not p.stop_on_client_after or alloc.desired_status != "run":
                continue
            if silent_s * 1e9 < p.stop_on_client_after or runner.terminal():
                continue
            log.warning(
                "allocation %s: no server answered for %.0fs (stop_on_client_after): stopping it",
                alloc.id,
                silent_s,
            )
            stop = replace(alloc, desired_status="stop")
            runner.send(ar.AllocUpdated(alloc=stop, job=job))
            stopped.append(alloc.id)
        return stopped

    # -- allocations -------------------------------------------------------------------

    def _watch_loop(self) -> None:
        backoff = _Backoff(self.options.retry_max_s)
        index = 0
        while not self._stop.is_set():
            if not self.registered.wait(0.2):
                continue
            try:
                new_index, allocs = self.conn.allocations(
                    self.node_id, index, self.options.alloc_wait_s
                )
            except (GitorchError, OSError) as exc:
                delay = backoff.next()
                log.warning("watching allocations failed (retry in %.1fs): %s", delay, exc)
                self._stop.wait(delay)
                continue
            backoff.reset()
            index = new_index if new_index >= index else 0
            if not self._stop.is_set():
                self._reconcile(allocs)

    def _reconcile(self, allocs: AllocsWithJobs) -> None:
        """Start runners for new allocations, tell runners about changed ones, and
        forget finished allocations the servers no longer list."""
        seen: set[str] = set()
        for alloc, job in allocs:
            seen.add(alloc.id)
            with self._lock:
                runner = self._runners.get(alloc.id)
            if runner is None:
                if alloc.terminal():
                    continue
                root = str(self.options.data_dir / "alloc" / alloc.id)
                isolation = {n: str(d.fs_isolation) for n, d in self._drivers.items()}
                host_env = {
                    k: v for k, v in os.environ.items() if k not in self.options.env_denylist
                }
                state = ar.AllocRunnerState(
                    alloc=alloc,
                    job=job,
                    node=self.node,
                    alloc_root=root,
                    isolation=isolation,
                    host_env=host_env,
                )
                runner = self._runner(state)
            if self._sent.get(alloc.id) != _key(alloc):
                self._sent[alloc.id] = _key(alloc)
                runner.send(ar.AllocUpdated(alloc=alloc, job=job))
        with self._lock:
            gone = [r for alloc_id, r in self._runners.items() if alloc_id not in seen]
        for runner in gone:
            if runner.terminal():
                self._forget(runner)
            elif runner.state.alloc.desired_status == "run":
                stop = replace(runner.state.alloc, desired_status="stop")
                runner.send(ar.AllocUpdated(alloc=stop, job=runner.state.job))

    def _runner(self, state: ar.AllocRunnerState) -> TaskRunner:
        made: list[TaskRunner] = []

        def report(update: AllocClientUpdate) -> None:
            self._batcher.add(update)
            if made:  # the runner's state already holds what the update reports
                self.services.observe(made[0].state)

        runner = TaskRunner(
            state,
            drivers=self._drivers,
            devices=self.devices,
            pool=self._pool,
            timers=self._timers,
            save=self.local.save_alloc,
            report=report,
            clock=self._clock,
            template_source=self.template_source,
            identities=self.identities,
            secrets=self.secrets,
            template_watch=self.template_watch,
        )
        made.append(runner)
        with self._lock:
            self._runners[state.alloc.id] = runner
        return runner

    def _restart_task(self, alloc_id: str, task: str, reason: str) -> None:
        """Restart one task of a running allocation (its checks failed)."""
        with self._lock:
            runner = self._runners.get(alloc_id)
        if runner is not None:
            runner.send(ar.RestartTask(task=task, reason=reason, jitter=random.random()))

    def _vault_changed(self, alloc_id: str, task: str, block: Vault) -> None:
        """A task's vault token changed: its ``change_mode``."""
        if block.change_mode == "restart":
            self._restart_task(alloc_id, task, "vault: new token")
        elif block.change_mode == "signal":
            with self._lock:
                runner = self._runners.get(alloc_id)
            if runner is not None:
                try:
                    clientops.signal(runner, task, block.change_signal)
                except GitorchError as exc:
                    log.warning("alloc %s: signalling %s for its new vault token: %s",
                                alloc_id, task, exc)  # fmt: skip

    def _exec_in_task(
        self, alloc_id: str, task: str, cmd: Sequence[str], timeout: float
    ) -> tuple[bytes, int]:
        """Run ``cmd`` inside a running task (a script check), through its driver."""
        with self._lock:
            runner = self._runners.get(alloc_id)
        if runner is None:
            raise NotFoundError(f"allocation {alloc_id} does not run on this client")
        return runner.exec(task, cmd, timeout)

    def _forget(self, runner: TaskRunner) -> None:
        """Garbage-collect a finished allocation: its runner, saved state and dirs."""
        runner.shutdown()
        self.services.forget(runner.alloc_id)
        with self._lock:
            self._runners.pop(runner.alloc_id, None)
        self._sent.pop(runner.alloc_id, None)
        self.local.delete_alloc(runner.alloc_id)
        shutil.rmtree(runner.state.alloc_root, ignore_errors=True)


def replace_node(state: ar.AllocRunnerState, node: Node) -> ar.AllocRunnerState:
    return msgspec.structs.replace(state, node=node)


def _key(alloc: Allocation) -> tuple[str, int, int]:
    """What, when it changes, the alloc runner must hear about."""
    return (alloc.desired_status, alloc.job_version, alloc.alloc_modify_index)


def _template_source(
    sources: Mapping[str, Any], secrets: Mapping[str, Any]
) -> ServerTemplateSource | None:
    """The ``nomad`` template source's reader, with the provider plugins' functions
    (``key``, ``service``, ``secret``...) handed to their plugins; None when there are
    no servers to read from (templates then wait)."""
    nomad = sources.get("nomad")
    base = nomad.base if isinstance(nomad, NomadTemplateSource) else None
    if base is None:
        return None
    others = OtherSources(sources.get("consul"), secrets_installed="vault" in secrets)
    return base.with_others(others)


def _load_plugins(options: ClientOptions) -> tuple[dict[str, Driver], dict[str, DevicePlugin]]:
    from gitorch.plugins import manager

    pm = manager.load()
    drivers = pm.drivers(options.plugin_configs)
    devices = pm.devices(options.plugin_configs)
    for error in pm.errors:
        log.error("plugin %s skipped: %s", error.name, error.message)
    return drivers, devices


class _Backoff:
    """Exponential retry delays from 0.25 s up to ``cap`` seconds."""

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.delay = 0.0

    def next(self) -> float:
        self.delay = min(self.cap, max(0.25, self.delay * 2))
        return self.delay

    def reset(self) -> None:
        self.delay = 0.0


__all__ = ["Client", "ClientOptions"]
