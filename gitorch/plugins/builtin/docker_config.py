"""The docker driver's configuration: the task ``config {}`` keys and the agent's
``plugin "docker" { config {} }`` block (Nomad's names), their validation, and the
translation of a task into container create arguments. No docker SDK here.

HCL blocks (``auth {}``, ``labels {}``, ``mount {}``) reach us as lists of dicts; a
plain map is accepted too. Host paths follow Nomad: a relative ``volumes``/``mount``
source is relative to the task dir, and a source outside the alloc dir needs
``volumes { enabled = true }`` on the agent.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitorch.core.task import TaskConfig
from gitorch.errors import DriverError
from gitorch.plugins.builtin import docker_options as opts
from gitorch.plugins.builtin.docker_blocks import block, blocks, check_block
from gitorch.plugins.driver import Field, parse_duration, validate_fields

MIB = 1024 * 1024
LABEL_PREFIX = "com.gitorch."
ALLOC_LABEL = "com.gitorch.alloc_id"
TASK_LABEL = "com.gitorch.task_name"
JOB_LABEL = "com.gitorch.job_name"
ENABLE_VOLUMES = 'plugin "docker" { config { volumes { enabled = true } } }'

TASK_SCHEMA: dict[str, Field] = {
    "image": Field("string", required=True, doc="image reference, pulled when absent"),
    "command": Field("string", doc="overrides the image's CMD"),
    "args": Field("list(string)", doc="arguments to command (or to the entrypoint)"),
    "entrypoint": Field("list(string)", doc="overrides the image's ENTRYPOINT"),
    "ports": Field("list(string)", doc="port labels of the group network to publish"),
    "volumes": Field("list(string)", doc='"host:container[:ro]" bind mounts'),
    "mounts": Field("any", doc="list of {type, source, target, readonly} (legacy name)"),
    "mount": Field("any", doc="mount blocks: type = bind | volume | tmpfs"),
    "labels": Field("any", doc="container labels (a map)"),
    "work_dir": Field("string", doc="working directory in the container"),
    "network_mode": Field("string", doc="bridge, host, none, container:<id> or a network"),
    "privileged": Field("bool", doc="needs allow_privileged on the agent"),
    "auth": Field("any", doc="registry credentials {username password server_address}"),
    "force_pull": Field("bool", doc="pull the image even when present"),
    "init": Field("bool", doc="run docker-init as PID 1 (forwards signals, reaps)"),
    **opts.TASK_OPTIONS,
}
PLUGIN_SCHEMA: dict[str, Field] = {
    "endpoint": Field("string", doc="docker daemon address (default: DOCKER_HOST or socket)"),
    "allow_privileged": Field("bool", doc="let tasks set privileged = true"),
    "volumes": Field("any", doc="volumes { enabled = true }: host paths outside the alloc"),
    "auth": Field("any", doc="auth { config = <docker config.json> helper = <cred helper> }"),
    "gc": Field("any", doc='gc { image = true image_delay = "3m" container = true }'),
    **opts.PLUGIN_OPTIONS,
}
_AUTH_KEYS = {"username", "password", "email", "server_address"}
_MOUNT_KEYS = {"type", "source", "target", "readonly", "tmpfs_options"}
_NAME_BAD = re.compile(r"[^a-zA-Z0-9_.-]")


@dataclass(frozen=True)
class PluginSettings:
    """The agent's ``plugin "docker"`` block, parsed."""

    endpoint: str = ""
    allow_privileged: bool = False
    volumes_enabled: bool = False
    auth_config: str = ""
    auth_helper: str = ""
    gc_image: bool = True
    gc_image_delay_s: float = 180.0
    gc_container: bool = True
    allow_caps: tuple[str, ...] = opts.NOMAD_DEFAULT_CAPS
    allow_runtimes: tuple[str, ...] = opts.DEFAULT_RUNTIMES
    pids_limit: int = 0
    extra_labels: tuple[str, ...] = ()
    logging_type: str = ""
    logging_config: Mapping[str, str] = field(default_factory=dict)
    pull_activity_timeout_s: float = 120.0

    @classmethod
    def permissive(cls) -> PluginSettings:
        """What any agent might allow: for checks made without an agent's config."""
        return cls(
            allow_privileged=True,
            volumes_enabled=True,
            allow_caps=("all",),
            allow_runtimes=("*",),
        )

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> PluginSettings:
        volumes = block(config.get("volumes", {})) or {}
        auth = block(config.get("auth", {})) or {}
        gc = block(config.get("gc", {})) or {}
        logging = block(config.get("logging", {})) or {}
        caps = config.get("allow_caps", opts.NOMAD_DEFAULT_CAPS)
        return cls(
            allow_caps=tuple(opts.cap_name(c) for c in caps),
            allow_runtimes=tuple(config.get("allow_runtimes", opts.DEFAULT_RUNTIMES)),
            pids_limit=int(config.get("pids_limit", 0)),
            extra_labels=tuple(config.get("extra_labels", ())),
            logging_type=str(logging.get("type") or logging.get("driver") or ""),
            logging_config={
                str(k): str(v) for k, v in (block(logging.get("config", {})) or {}).items()
            },
            pull_activity_timeout_s=parse_duration(config.get("pull_activity_timeout", "2m")),
            endpoint=str(config.get("endpoint", "")),
            allow_privileged=config.get("allow_privileged") is True,
            volumes_enabled=volumes.get("enabled") is True,
            auth_config=str(auth.get("config", "")),
            auth_helper=str(auth.get("helper", "")),
            gc_image=gc.get("image", True) is not False,
            gc_image_delay_s=parse_duration(gc.get("image_delay", "3m")),
            gc_container=gc.get("container", True) is not False,
        )


def plugin_problems(config: Mapping[str, Any]) -> list[str]:
    """Problems of the nested blocks of the plugin config."""
    where = "plugin.docker.config"
    problems = opts.plugin_option_problems(config)
    if "volumes" in config:
        problems += check_block(config["volumes"], f"{where}.volumes", {"enabled": bool})
    if "auth" in config:
        problems += check_block(config["auth"], f"{where}.auth", {"config": str, "helper": str})
    if "gc" in config:
        gc_kinds: dict[str, type | tuple[type, ...]] = {
            "image": bool,
            "image_delay": (str, int, float),
            "container": bool,
        }
        problems += check_block(config["gc"], f"{where}.gc", gc_kinds)
        delay = (block(config["gc"]) or {}).get("image_delay")
        if delay is not None:
            try:
                parse_duration(delay)
            except ValueError as exc:
                problems.append(f"{where}.gc.image_delay: {exc}")
    return problems


def _host_path_problem(source: str, settings: PluginSettings) -> str | None:
    """Why a bind source may not be used (Nomad: outside the alloc dir needs volumes)."""
    if settings.volumes_enabled:
        return None
    # Relative sources are relative to <alloc>/<task>: they must stay inside <alloc>.
    inside = posixpath.normpath(posixpath.join("/alloc-root/task", source))
    if not source.startswith("/") and inside.startswith("/alloc-root/"):
        return None
    return f"host path {source!r} is outside the alloc dir: volumes are disabled ({ENABLE_VOLUMES})"


def _mount_problems(mounts: object, where: str, settings: PluginSettings) -> list[str]:
    items = blocks(mounts)
    if items is None:
        return [f"{where}: must be a list of mount blocks"]
    problems = []
    for i, mount in enumerate(items):
        at = f"{where}[{i}]"
        unknown = sorted(set(mount) - _MOUNT_KEYS)
        problems += [
            f"{at}.{k}: unknown field (known: {', '.join(sorted(_MOUNT_KEYS))})" for k in unknown
        ]
        kind = mount.get("type", "volume")
        if kind not in ("bind", "volume", "tmpfs"):
            problems.append(f"{at}.type: must be one of bind, volume, tmpfs (got {kind!r})")
        target = mount.get("target")
        if not isinstance(target, str) or not target.startswith("/"):
            problems.append(f"{at}.target: required, an absolute path in the container")
        source = mount.get("source", "")
        if not isinstance(source, str) or (kind != "tmpfs" and not source):
            problems.append(f"{at}.source: required for a {kind} mount")
        elif kind == "bind" and (why := _host_path_problem(source, settings)):
            problems.append(f"{at}.source: {why}")
        elif kind == "volume" and not settings.volumes_enabled:
            problems.append(f"{at}.type: volume mounts need {ENABLE_VOLUMES}")
        if not isinstance(mount.get("readonly", False), bool):
            problems.append(f"{at}.readonly: must be true or false")
        if "tmpfs_options" in mount:
            kinds = {"size": int, "mode": int}
            problems += check_block(mount["tmpfs_options"], f"{at}.tmpfs_options", kinds)
    return problems


def _volume_problems(volumes: list[str], settings: PluginSettings) -> list[str]:
    problems = []
    for i, spec in enumerate(volumes):
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1].startswith("/"):
            problems.append(f'config.volumes[{i}]: want "host:/container[:ro]", got {spec!r}')
        elif len(parts) == 3 and parts[2] not in ("ro", "rw"):
            problems.append(f"config.volumes[{i}]: mode must be ro or rw, got {parts[2]!r}")
        elif why := _host_path_problem(parts[0], settings):
            problems.append(f"config.volumes[{i}]: {why}")
    return problems


def task_problems(config: Mapping[str, Any], settings: PluginSettings) -> list[str]:
    """Every problem of a task's ``config {}``, each naming its field."""
    problems = validate_fields(TASK_SCHEMA, config)
    if not isinstance(config, Mapping):
        return problems
    image = config.get("image")
    if isinstance(image, str) and not image.strip():
        problems.append("config.image: must not be empty")
    if "labels" in config:
        labels = block(config["labels"])
        if labels is None or not all(isinstance(v, str) for v in labels.values()):
            problems.append("config.labels: must be a map of strings")
        else:
            problems += [
                f"config.labels.{k}: the {LABEL_PREFIX}* labels are gitorch's"
                for k in labels
                if k.startswith(LABEL_PREFIX)
            ]
    if "auth" in config:
        kinds = dict.fromkeys(_AUTH_KEYS, str)
        problems += check_block(config["auth"], "config.auth", kinds)
    for key in ("mounts", "mount"):
        if key in config:
            problems += _mount_problems(config[key], f"config.{key}", settings)
    volumes = config.get("volumes")
    if isinstance(volumes, list) and all(isinstance(v, str) for v in volumes):
        problems += _volume_problems(volumes, settings)
    work_dir = config.get("work_dir")
    if isinstance(work_dir, str) and not work_dir.startswith("/"):
        problems.append(f"config.work_dir: must be an absolute path, got {work_dir!r}")
    if config.get("privileged") is True and not settings.allow_privileged:
        problems.append(
            "config.privileged: privileged containers are not allowed on this agent "
            '(plugin "docker" { config { allow_privileged = true } })'
        )
    ports = config.get("ports")
    if isinstance(ports, list) and len(set(ports)) != len(ports):
        problems.append("config.ports: a port label is listed twice")
    return problems + opts.option_problems(config, settings)


@dataclass(frozen=True)
class PortMap:
    """One published port: ``to`` in the container on ``host_ip:host_port``."""

    label: str
    host_ip: str
    host_port: int
    to: int


def port_maps(cfg: TaskConfig, labels: list[str]) -> list[PortMap]:
    """The group network's ports for ``labels``: from ``cfg.ports`` (label -> (host_ip,
    value, to)) when TaskConfig has it, else from the ``NOMAD_*_<label>`` env."""
    allocated: Any = getattr(cfg, "ports", None)
    out = []
    for label in labels:
        if isinstance(allocated, Mapping) and label in allocated:
            entry = allocated[label]
            if isinstance(entry, tuple | list):
                host_ip, value, to = entry
            else:
                host_ip, value, to = entry.host_ip, entry.value, entry.to
        elif f"NOMAD_HOST_PORT_{label}" in cfg.env or f"NOMAD_PORT_{label}" in cfg.env:
            value = cfg.env.get(f"NOMAD_HOST_PORT_{label}", cfg.env.get(f"NOMAD_PORT_{label}"))
            to = cfg.env.get(f"NOMAD_PORT_{label}", value)
            host_ip = cfg.env.get(f"NOMAD_HOST_IP_{label}", "")
        else:
            raise DriverError(
                f"task {cfg.id}: config.ports: port label {label!r} is not in the group's "
                "network block"
            )
        try:
            host_port, container_port = int(value), int(to or 0) or int(value)
        except (TypeError, ValueError):
            raise DriverError(
                f"task {cfg.id}: config.ports: port {label!r} is not a number"
            ) from None
        out.append(PortMap(label, str(host_ip or ""), host_port, container_port))
    return out


@dataclass
class ContainerSpec:
    """Everything ``create_container`` needs: ``create`` for the call itself,
    ``host`` for ``create_host_config``."""

    name: str
    image: str
    create: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    auth: dict[str, str] | None = None
    force_pull: bool = False
    auth_soft_fail: bool = False
    load: str = ""
    """An image archive (absolute path) to ``docker load`` before the image is looked up."""
    pull_timeout_s: float = 300.0


def container_name(cfg: TaskConfig) -> str:
    """Nomad's ``<task>-<alloc id>``, with characters docker refuses replaced."""
    return _NAME_BAD.sub("_", f"{cfg.task_name}-{cfg.alloc_id}").lstrip("_.-") or "task"


def _host_source(cfg: TaskConfig, source: str) -> str:
    return (
        source if source.startswith("/") else os.path.normpath(os.path.join(cfg.task_dir, source))
    )


def _mounts(cfg: TaskConfig, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for mount in (blocks(config.get("mounts", [])) or []) + (blocks(config.get("mount", [])) or []):
        kind = mount.get("type", "volume")
        spec: dict[str, Any] = {
            "Type": kind,
            "Target": mount["target"],
            "ReadOnly": bool(mount.get("readonly", False)),
        }
        if kind == "bind":
            spec["Source"] = _host_source(cfg, mount["source"])
        elif kind == "volume":
            spec["Source"] = mount["source"]
        tmpfs = block(mount.get("tmpfs_options", {})) or {}
        if kind == "tmpfs" and tmpfs:
            spec["TmpfsOptions"] = {
                k: v
                for k, v in (("SizeBytes", tmpfs.get("size")), ("Mode", tmpfs.get("mode")))
                if v
            }
        out.append(spec)
    return out


def build_spec(cfg: TaskConfig, settings: PluginSettings | None = None) -> ContainerSpec:
    """The container for ``cfg`` (whose config is already valid) on an agent with
    ``settings``."""
    config = cfg.config
    settings = settings or PluginSettings()
    labels = opts.extra_labels(cfg, settings.extra_labels)
    labels.update({str(k): str(v) for k, v in (block(config.get("labels", {})) or {}).items()})
    labels.update({ALLOC_LABEL: cfg.alloc_id, TASK_LABEL: cfg.task_name, JOB_LABEL: cfg.job_name})
    env = {
        **cfg.env,
        "NOMAD_ALLOC_DIR": "/alloc",
        "NOMAD_TASK_DIR": "/local",
        "NOMAD_SECRETS_DIR": "/secrets",
    }
    command: list[str] = [config["command"]] if config.get("command") else []
    command += list(config.get("args", []))
    binds = [
        f"{os.path.abspath(cfg.alloc_dir)}:/alloc:rw",
        f"{os.path.join(os.path.abspath(cfg.task_dir), 'local')}:/local:rw",
        f"{os.path.join(os.path.abspath(cfg.task_dir), 'secrets')}:/secrets:rw",
    ]
    for volume in config.get("volumes", []):
        source, container, *mode = volume.split(":")
        binds.append(f"{_host_source(cfg, source)}:{container}:{mode[0] if mode else 'rw'}")
    shared = [(m.host_path, m.task_path, m.read_only) for m in cfg.device_mounts]
    shared += [(m.host_path, m.task_path, m.read_only) for m in cfg.mounts]  # host volumes
    for host_path, task_path, read_only in shared:
        binds.append(f"{host_path}:{task_path}:{'ro' if read_only else 'rw'}")
    overrides = opts.port_overrides(config)
    labels_wanted = list(config.get("ports", []))
    labels_wanted += [label for label in sorted(overrides) if label not in labels_wanted]
    ports = [
        PortMap(p.label, p.host_ip, p.host_port, overrides.get(p.label, p.to))
        for p in port_maps(cfg, labels_wanted)
    ]
    bindings: dict[str, Any] = {}
    for port in ports:
        for proto in ("tcp", "udp"):
            target = (port.host_ip, port.host_port) if port.host_ip else port.host_port
            bindings[f"{port.to}/{proto}"] = target
    create: dict[str, Any] = {
        "command": command or None,
        "entrypoint": list(config["entrypoint"]) if "entrypoint" in config else None,
        "environment": [f"{k}={v}" for k, v in env.items()],
        "labels": labels,
        "working_dir": config.get("work_dir") or None,
        "user": cfg.user or None,
        "ports": [(p.to, proto) for p in ports for proto in ("tcp", "udp")] or None,
        "detach": True,
    }
    host: dict[str, Any] = {
        "binds": binds,
        "mounts": _mounts(cfg, config) or None,
        "port_bindings": bindings or None,
        "privileged": config.get("privileged") is True,
        "network_mode": config.get("network_mode") or None,
        "init": True if config.get("init") is True else None,
        "cpu_shares": max(2, cfg.cpu_mhz),
        "devices": [f"{d.host_path}:{d.target}:{d.permissions}" for d in cfg.device_specs] or None,
        "device_requests": [
            {"driver": "nvidia", "device_ids": list(d.device_ids), "capabilities": [["gpu"]]}
            for d in cfg.devices
            if d.vendor == "nvidia" and d.type == "gpu" and d.device_ids
        ]
        or None,
    }
    if cfg.memory_mb > 0:
        hard = max(cfg.memory_mb, cfg.memory_max_mb)
        host["mem_limit"] = hard * MIB
        if cfg.memory_max_mb > cfg.memory_mb:
            host["mem_reservation"] = cfg.memory_mb * MIB
    if cfg.cpu_limit_cores > 0:
        host["nano_cpus"] = int(cfg.cpu_limit_cores * 1e9)
    opts.apply(cfg, settings, create, host)
    auth = block(config.get("auth", {})) or {}
    return ContainerSpec(
        name=container_name(cfg),
        image=str(config["image"]).strip(),
        create=create,
        host=host,
        auth={("serveraddress" if k == "server_address" else k): str(v) for k, v in auth.items()}
        or None,
        force_pull=config.get("force_pull") is True,
        auth_soft_fail=config.get("auth_soft_fail") is True,
        load=_host_source(cfg, config["load"]) if config.get("load") else "",
        pull_timeout_s=parse_duration(config.get("image_pull_timeout", "5m")),
    )
