"""The docker driver: each task is a container of the local Docker engine (Nomad's
docker driver). The only gitorch module that talks to the docker SDK; it is imported
lazily, so that without it the driver is merely undetected.

Containers carry the ``com.gitorch.{alloc_id,task_name,job_name}`` labels, so a new
agent re-attaches with ``recover(handle)`` (by container ID, labels checked). The alloc
dir is bound at ``/alloc``, the task's ``local/`` and ``secrets/`` at ``/local`` and
``/secrets``. Output goes to the task's log files through ``docker_logs`` (which
explains how a restarted agent carries on without duplicating or losing lines); the
end of the stdout stream is also how the driver learns that a container exited.

Docker reports a container killed by signal N as exit code 128 + N; ``ExitResult``
follows the same convention, so a process that itself exits 143 reads as SIGTERM.

Agent config (see ``docker_config``)::

    plugin "docker" {
      config {
        endpoint = "unix:///var/run/docker.sock"
        allow_privileged = false
        volumes { enabled = true }
        auth { config = "/root/.docker/config.json" }
        gc { image = true  image_delay = "3m" }
      }
    }
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, ParamSpec, TypeVar

from gitorch.core.task import (
    DriverFingerprint,
    ExecCommand,
    ExitResult,
    FSIsolation,
    TaskConfig,
    TaskHandle,
    TaskStats,
    TaskStatus,
)
from gitorch.errors import DriverError
from gitorch.plugins.builtin import docker_config as dc
from gitorch.plugins.builtin.docker_images import ImageStore
from gitorch.plugins.builtin.docker_task import Container, Gone, forget_checkpoints
from gitorch.plugins.builtin.process import signal_number
from gitorch.plugins.driver import Driver, Field

log = logging.getLogger(__name__)

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
KILL_WAIT_S = 10.0
API_TIMEOUT_S = 60
POOL_SIZE = 256
P = ParamSpec("P")
R = TypeVar("R")


def load_sdk() -> Any:
    """The docker SDK module, or None when it is not installed."""
    try:
        return importlib.import_module("docker")
    except ImportError:
        return None


def _reported(method: Callable[P, R]) -> Callable[P, R]:
    """Daemon failures (API and connection errors) as DriverError naming the task."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except DriverError:
            raise
        except Exception as exc:  # noqa: BLE001 - docker.errors.*, requests errors
            subject = getattr(args[1], "id", "?") if len(args) > 1 else "?"
            raise DriverError(
                f"task {subject}: docker: {getattr(exc, 'explanation', None) or exc}"
            ) from exc

    return wrapper


class DockerDriver(Driver):
    name: ClassVar[str] = "docker"
    fs_isolation: ClassVar[FSIsolation] = "image"
    config_schema: ClassVar[Mapping[str, Field]] = dc.TASK_SCHEMA
    plugin_config_schema: ClassVar[Mapping[str, Field]] = dc.PLUGIN_SCHEMA

    def __init__(self, plugin_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(plugin_config)
        self.settings = dc.PluginSettings.parse(self.plugin_config)
        self._sdk = load_sdk()
        self._api: Any = None
        self._images: ImageStore | None = None
        self._tasks: dict[str, Container] = {}
        self._lock = threading.Lock()

    @classmethod
    def validate_plugin_config(cls, config: Mapping[str, Any]) -> list[str]:
        return super().validate_plugin_config(config) + dc.plugin_problems(config)

    @classmethod
    def schema_problems(cls, config: Mapping[str, Any]) -> list[str]:
        # What the agent's plugin config allows (volumes, privileged) is its own business.
        return dc.task_problems(config, dc.PluginSettings.permissive())

    def validate_config(self, config: Mapping[str, Any]) -> list[str]:
        return dc.task_problems(config, self.settings)

    # -- the daemon ------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint or os.environ.get("DOCKER_HOST", "") or DEFAULT_SOCKET

    def _missing(self) -> str | None:
        """Why docker is undetected, if it is."""
        if self._sdk is None:
            return "the docker Python SDK is not installed (pip install docker)"
        if self.endpoint.startswith("unix://") and not os.path.exists(self.endpoint[7:]):
            return f"no docker socket at {self.endpoint[7:]} (is the Docker engine running?)"
        return None

    def client(self) -> Any:
        """The SDK's low-level APIClient (made on first use; raises DriverError)."""
        if self._api is not None:
            return self._api
        missing = self._missing()
        if missing:
            raise DriverError(f"docker driver: {missing}")
        with self._lock:
            if self._api is None:
                kwargs: dict[str, Any] = {}
                if self.settings.endpoint:
                    kwargs["base_url"] = self.settings.endpoint
                else:
                    kwargs = self._sdk.utils.kwargs_from_env()
                    kwargs.setdefault("base_url", DEFAULT_SOCKET)
                try:
                    self._api = self._sdk.APIClient(
                        version="auto", timeout=API_TIMEOUT_S, max_pool_size=POOL_SIZE, **kwargs
                    )
                except Exception as exc:  # noqa: BLE001 - DockerException, requests errors
                    raise DriverError(f"docker at {self.endpoint} does not answer: {exc}") from exc
                self._images = ImageStore(self._sdk, self._api, self.settings)
        return self._api

    def fingerprint(self) -> DriverFingerprint:
        missing = self._missing()
        if missing:
            return DriverFingerprint(health="undetected", health_description=missing)
        try:
            version = self.client().version()
        except Exception as exc:  # noqa: BLE001 - any failure makes the driver unhealthy
            self._api = None
            return DriverFingerprint(health="unhealthy", health_description=str(exc))
        flag = {True: "1", False: "0"}
        return DriverFingerprint(
            health="healthy",
            health_description="Healthy",
            attributes={
                "driver.docker": "1",
                "driver.docker.version": str(version.get("Version", "")),
                "driver.docker.os_type": str(version.get("Os", "")),
                "driver.docker.api_version": str(version.get("ApiVersion", "")),
                "driver.docker.privileged.enabled": flag[self.settings.allow_privileged],
                "driver.docker.volumes.enabled": flag[self.settings.volumes_enabled],
            },
        )

    # -- lifecycle -------------------------------------------------------------------

    @_reported
    def start(self, cfg: TaskConfig) -> TaskHandle:
        self.check_config(cfg)
        api = self.client()
        assert self._images is not None
        spec = dc.build_spec(cfg, self.settings)
        self._images.ensure(cfg, spec)
        offsets = [_size(cfg.stdout_path()), _size(cfg.stderr_path())]
        cid = self._create(cfg, spec)
        try:
            api.start(cid)
        except Exception as exc:  # noqa: BLE001
            _quietly(api.remove_container, cid, force=True)
            why = getattr(exc, "explanation", None) or exc
            raise DriverError(f"task {cfg.id}: cannot start image {spec.image!r}: {why}") from exc
        parent, base = os.path.split(os.path.abspath(cfg.task_dir))
        state_dir = os.path.join(parent, f".{base}.docker")
        handle = TaskHandle(
            driver=self.name,
            alloc_id=cfg.alloc_id,
            task_name=cfg.task_name,
            started_at_ns=time.time_ns(),
            state={
                "container_id": cid,
                "image": spec.image,
                "stdout_path": cfg.stdout_path(),
                "stderr_path": cfg.stderr_path(),
                "state_dir": state_dir,
                "log_offsets": offsets,
                "tty": spec.create.get("tty") is True,
            },
        )
        self._attach(handle)
        return handle

    def _create(self, cfg: TaskConfig, spec: dc.ContainerSpec) -> str:
        api = self.client()
        assert self._images is not None
        host = api.create_host_config(**spec.host)
        for attempt in range(3):
            try:
                created = api.create_container(
                    spec.image, name=spec.name, host_config=host, **spec.create
                )
                return str(created["Id"])
            except self._sdk.errors.ImageNotFound:
                if attempt:
                    raise
                self._images.forget(spec.image)
                self._images.ensure(cfg, spec)
            except self._sdk.errors.APIError as exc:
                if exc.status_code != 409 or attempt:
                    why = exc.explanation or exc
                    raise DriverError(f"task {cfg.id}: cannot create container: {why}") from exc
                self._remove_stale(cfg, spec.name)
        raise DriverError(f"task {cfg.id}: cannot create container {spec.name}")

    def _remove_stale(self, cfg: TaskConfig, name: str) -> None:
        """A container of an earlier run holds ``name``: remove it if it is ours and
        stopped (Nomad does the same)."""
        info = self.client().inspect_container(name)
        labels = info.get("Config", {}).get("Labels") or {}
        if labels.get(dc.ALLOC_LABEL) != cfg.alloc_id or info["State"].get("Running"):
            raise DriverError(
                f"task {cfg.id}: container name {name} is taken by a running container"
            )
        self.client().remove_container(info["Id"], force=True)

    def _attach(self, handle: TaskHandle) -> Container:
        cid = str(handle.state["container_id"])
        with self._lock:
            task = self._tasks.get(cid)
            if task is None:
                task = Container(self.client(), handle)
                self._tasks[cid] = task
                task.watch()
            return task

    def _task(self, handle: TaskHandle) -> Container:
        """The watched container of ``handle``, attaching if need be; raises Gone."""
        cid = handle.state.get("container_id")
        if not isinstance(cid, str) or not cid:
            raise Gone(f"task {handle.id}: handle names no container")
        task = self._tasks.get(cid)
        if task is not None:
            return task
        try:
            self.client().inspect_container(cid)
        except self._sdk.errors.NotFound:
            raise Gone(f"task {handle.id}: container {cid[:12]} no longer exists") from None
        return self._attach(handle)

    @_reported
    def recover(self, handle: TaskHandle) -> bool:
        cid = handle.state.get("container_id")
        if handle.driver != self.name or not isinstance(cid, str) or not cid:
            return False
        if cid in self._tasks:
            return True
        try:
            info = self.client().inspect_container(cid)
        except self._sdk.errors.NotFound:
            return False
        labels = info.get("Config", {}).get("Labels") or {}
        if labels.get(dc.ALLOC_LABEL) != handle.alloc_id or (
            labels.get(dc.TASK_LABEL) != handle.task_name
        ):
            return False
        self._attach(handle)
        return True

    @_reported
    def wait(self, handle: TaskHandle, timeout: float | None = None) -> ExitResult | None:
        task = self._task(handle)
        return task.result if task.done.wait(timeout) else None

    @_reported
    def stop(self, handle: TaskHandle, signal: str, timeout: float) -> None:
        signum = _signum(handle, signal)
        try:
            task = self._task(handle)
        except Gone:
            return
        if task.done.is_set():
            return
        task.kill(signum)
        if task.done.wait(timeout):
            return
        task.kill(9)
        if not task.done.wait(KILL_WAIT_S):
            raise DriverError(f"task {handle.id}: still running {KILL_WAIT_S}s after SIGKILL")

    @_reported
    def signal(self, handle: TaskHandle, sig: str) -> None:
        signum = _signum(handle, sig)
        task = self._task(handle)
        if task.done.is_set() or not task.kill(signum):
            raise DriverError(f"task {handle.id}: cannot deliver {sig}: task is not running")

    @_reported
    def destroy(self, handle: TaskHandle, force: bool = False) -> None:
        try:
            task = self._task(handle)
        except Gone:
            forget_checkpoints(handle)
            return
        if not task.done.is_set() and task.running():
            if not force:
                raise DriverError(
                    f"task {handle.id} is still running: stop it first or destroy with force"
                )
            task.kill(9)
        task.done.wait(KILL_WAIT_S)
        task.close()
        with self._lock:
            self._tasks.pop(task.container_id, None)
        if self.settings.gc_container:
            _quietly(self.client().remove_container, task.container_id, force=True)
        task.forget_logs()
        if self.settings.gc_image and self._images is not None:
            self._images.collect_later(str(handle.state.get("image", "")))

    def close(self) -> None:
        """Stop following logs and watching containers, as an exiting agent does; the
        containers keep running and a new driver ``recover``s them."""
        with self._lock:
            tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.close()

    # -- observation -----------------------------------------------------------------

    @_reported
    def inspect(self, handle: TaskHandle) -> TaskStatus:
        task = self._task(handle)
        info = self.client().inspect_container(task.container_id)
        state = info.get("State", {})
        exited = task.done.is_set() or not state.get("Running")
        if exited:
            task.done.wait(KILL_WAIT_S)
        return TaskStatus(
            alloc_id=handle.alloc_id,
            task_name=handle.task_name,
            driver=self.name,
            state="exited" if exited else "running",
            pid=int(state.get("Pid") or 0),
            started_at_ns=handle.started_at_ns,
            exit_result=task.result if exited else None,
            attributes={"container_id": task.container_id, "image": info.get("Image", "")},
        )

    @_reported
    def stats(self, handle: TaskHandle) -> TaskStats:
        return self._task(handle).stats()

    @_reported
    def exec(self, handle: TaskHandle, cmd: Sequence[str], timeout: float) -> tuple[bytes, int]:
        if not cmd:
            raise DriverError(f"task {handle.id}: exec needs a command")
        task = self._task(handle)
        if task.done.is_set():
            raise DriverError(f"task {handle.id}: cannot exec {cmd[0]!r}: task is not running")
        return task.exec(list(cmd), timeout)


    @_reported
    def exec_command(self, handle: TaskHandle, cmd: Sequence[str], tty: bool) -> ExecCommand:
        """``docker exec -i [-t]`` into the task's container (the docker CLI, at this
        driver's endpoint)."""
        if not cmd:
            raise DriverError(f"task {handle.id}: exec needs a command")
        task = self._task(handle)
        if task.done.is_set():
            raise DriverError(f"task {handle.id}: cannot exec {cmd[0]!r}: task is not running")
        cli = shutil.which("docker")
        if cli is None:
            raise DriverError(f"task {handle.id}: exec needs the docker CLI on the agent's PATH")
        flags = ["-i", "-t"] if tty else ["-i"]
        argv = [cli, "-H", self.endpoint, "exec", *flags, task.container_id, *cmd]
        return ExecCommand(argv=argv)

def _signum(handle: TaskHandle, sig: str) -> int:
    try:
        return signal_number(sig)
    except ValueError as exc:
        raise DriverError(f"task {handle.id}: {exc}") from None


def _size(path: str) -> int:
    """The size of a log file, created empty if need be (as for a local process)."""
    try:
        with open(path, "ab") as f:
            return f.tell()
    except OSError:
        return 0


def _quietly(call: Any, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - cleanup of something already gone
        log.debug("docker cleanup: %s", exc)
