"""The podman driver's configuration: the task's ``config {}`` keys, the agent's plugin
block, the rlimits a container may have, and the ``podman create`` arguments built from
a ``TaskConfig``. Pure functions of their inputs (the host limits are read once, by
``host_ceilings``), so they are tested without podman.

Why ulimits are always set: podman's default for a container is ``nofile`` and
``nproc`` of 1048576, which it can only apply when it may raise limits
(``CAP_SYS_RESOURCE``). Where the agent runs as a root without that capability (many
VMs and CI sandboxes) runc then fails with "error setting rlimits ... operation not
permitted". Podman also lowers its own ``RLIMIT_NPROC`` to 32768 before it starts
conmon and runc, so a container can never get more than that. The driver therefore
passes ``--ulimit nofile=H:H --ulimit nproc=N:N`` with ``H`` the agent's hard
``RLIMIT_NOFILE`` and ``N`` the smaller of the agent's hard ``RLIMIT_NPROC`` and 32768;
a task's ``ulimit`` block may lower them (or set other limits) but not raise them.
"""

from __future__ import annotations

import json
import re
import resource
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitorch.core.task import TaskConfig
from gitorch.plugins.driver import Field, parse_duration, validate_fields

ALLOC_LABEL = "com.gitorch.alloc_id"
TASK_LABEL = "com.gitorch.task_name"
JOB_LABEL = "com.gitorch.job_name"
PODMAN_NPROC_CEILING = 32768
DEFAULT_PULL_TIMEOUT_S = 300.0
INIT_CANDIDATES = (
    "/usr/libexec/podman/catatonit",
    "/usr/bin/catatonit",
    "/usr/bin/tini-static",
    "/usr/bin/docker-init",
)

TASK_SCHEMA: dict[str, Field] = {
    "image": Field("string", required=True, doc="image name; must be on the node or pullable"),
    "command": Field("string", doc="program to run instead of the image's CMD"),
    "args": Field("list(string)", doc="arguments of command (or the image's entrypoint)"),
    "entrypoint": Field("list(string)", doc="replaces the image's ENTRYPOINT"),
    "working_dir": Field("string", doc="absolute working directory in the container"),
    "labels": Field("any", doc="extra container labels (a map of strings)"),
    "init": Field("bool", doc="run an init (catatonit/tini) as PID 1: forwards signals"),
    "network_mode": Field("string", doc='podman --network: "bridge", "host", "none", ...'),
    "hostname": Field("string", doc="the container's hostname"),
    "ports": Field("list(string)", doc="labels of the alloc's ports to publish"),
    "devices": Field("list(string)", doc='host devices, "/dev/x[:/dev/y[:rwm]]"'),
    "cap_add": Field("list(string)", doc="capabilities to add"),
    "cap_drop": Field("list(string)", doc="capabilities to drop"),
    "readonly_rootfs": Field("bool", doc="mount the image read-only"),
    "ulimit": Field("any", doc='rlimits, e.g. { nofile = "1024:2048" } (at most the host\'s)'),
    "force_pull": Field("bool", doc="pull the image even when the node has it"),
}

PLUGIN_SCHEMA: dict[str, Field] = {
    "podman_path": Field("string", doc="the podman binary (default: podman on PATH)"),
    "init_path": Field("string", doc="init binary for init = true (default: catatonit/tini)"),
    "pull_timeout": Field("duration", doc="how long a pull may take (default 5m)"),
}

_ULIMIT_NAME = re.compile(r"[a-z]+")
_ULIMIT_VALUE = re.compile(r"(-1|\d+)(?::(-1|\d+))?")


@dataclass(frozen=True)
class Settings:
    """The agent's ``plugin "podman" { config {} }`` block, with defaults applied."""

    podman_path: str = "podman"
    init_path: str = ""
    pull_timeout_s: float = DEFAULT_PULL_TIMEOUT_S

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> Settings:
        timeout = config.get("pull_timeout")
        return cls(
            podman_path=str(config.get("podman_path") or "podman"),
            init_path=str(config.get("init_path") or ""),
            pull_timeout_s=DEFAULT_PULL_TIMEOUT_S if timeout is None else parse_duration(timeout),
        )


def host_ceilings() -> dict[str, int]:
    """The highest ``nofile`` and ``nproc`` a container can get on this host."""

    def hard(which: int, fallback: int) -> int:
        limit = resource.getrlimit(which)[1]
        return fallback if limit == resource.RLIM_INFINITY else limit

    try:
        with open("/proc/sys/fs/nr_open") as f:
            nr_open = int(f.read())
    except (OSError, ValueError):
        nr_open = 1 << 20
    return {
        "nofile": hard(resource.RLIMIT_NOFILE, nr_open),
        "nproc": min(hard(resource.RLIMIT_NPROC, PODMAN_NPROC_CEILING), PODMAN_NPROC_CEILING),
    }


def string_map(value: object) -> dict[str, str] | None:
    """A map of strings from HCL: ``{k = "v"}`` decodes to a dict or a list of dicts."""
    items = value if isinstance(value, list) else [value]
    out: dict[str, str] = {}
    for item in items:
        if not isinstance(item, Mapping):
            return None
        for key, val in item.items():
            if not isinstance(key, str) or not isinstance(val, str | int):
                return None
            out[key] = str(val)
    return out


def _ulimit_problems(value: object, ceilings: Mapping[str, int]) -> list[str]:
    limits = string_map(value)
    if limits is None:
        return ['config.ulimit: must be a map like { nofile = "1024:2048" }']
    problems = []
    for name, text in limits.items():
        match = _ULIMIT_VALUE.fullmatch(text.strip())
        if not _ULIMIT_NAME.fullmatch(name):
            problems.append(f"config.ulimit.{name}: not an rlimit name (nofile, nproc, ...)")
        elif match is None:
            problems.append(f'config.ulimit.{name}: want "soft" or "soft:hard", got {text!r}')
        elif name in ceilings:
            soft, hard = int(match.group(1)), int(match.group(2) or match.group(1))
            top = ceilings[name]
            if -1 in (soft, hard) or max(soft, hard) > top:
                problems.append(
                    f"config.ulimit.{name}: {text} is above this host's limit of {top} "
                    "(podman cannot raise it)"
                )
            elif soft > hard:
                problems.append(f"config.ulimit.{name}: soft {soft} is above hard {hard}")
    return problems


def task_problems(config: Mapping[str, Any], ceilings: Mapping[str, int]) -> list[str]:
    """Every problem of a task's ``config {}`` block, each naming its field."""
    problems = validate_fields(TASK_SCHEMA, config)
    if not isinstance(config, Mapping):
        return problems
    image = config.get("image")
    if isinstance(image, str) and not image.strip():
        problems.append("config.image: must not be empty")
    work_dir = config.get("working_dir")
    if isinstance(work_dir, str) and not work_dir.startswith("/"):
        problems.append(f"config.working_dir: must be an absolute path, got {work_dir!r}")
    if "labels" in config:
        labels = string_map(config["labels"])
        if labels is None:
            problems.append("config.labels: must be a map of strings")
        else:
            problems += [
                f"config.labels.{key}: the com.gitorch.* labels are the driver's own"
                for key in labels
                if key.startswith("com.gitorch.")
            ]
    if "ulimit" in config:
        problems += _ulimit_problems(config["ulimit"], ceilings)
    for i, device in enumerate(config.get("devices") or []):
        if isinstance(device, str) and not device.startswith("/"):
            problems.append(f"config.devices[{i}]: must start with a host path, got {device!r}")
    return problems


def ulimits(config: Mapping[str, Any], ceilings: Mapping[str, int]) -> dict[str, str]:
    """The ``--ulimit`` values: the host ceilings, then the task's own settings."""
    out = {name: f"{top}:{top}" for name, top in ceilings.items()}
    for name, text in (string_map(config.get("ulimit", {})) or {}).items():
        soft, _, hard = text.strip().partition(":")
        out[name] = f"{soft}:{hard or soft}"
    return out


def container_name(cfg: TaskConfig, suffix: str) -> str:
    """``<task>-<alloc id>-<suffix>`` with what podman refuses replaced by ``_``."""
    raw = f"{cfg.task_name}-{cfg.alloc_id}-{suffix}"
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", raw).lstrip("_.-") or suffix


def _ports(cfg: TaskConfig) -> list[str]:
    wanted = cfg.config.get("ports") or []
    by_label = {p.label: p for p in cfg.ports}
    args = []
    for label in wanted:
        port = by_label.get(label)
        if port is None:
            known = ", ".join(sorted(by_label)) or "none"
            raise ValueError(f"config.ports: the alloc has no port {label!r} (it has: {known})")
        host = f"{port.host_ip}:" if port.host_ip else ""
        for proto in ("tcp", "udp"):
            args += ["--publish", f"{host}{port.value}:{port.to or port.value}/{proto}"]
    return args


def create_args(
    cfg: TaskConfig, name: str, ceilings: Mapping[str, int], init_path: str
) -> list[str]:
    """The arguments of ``podman create`` for ``cfg`` (ValueError on a bad ``ports``)."""
    config = cfg.config
    local, secrets = f"{cfg.task_dir}/local", f"{cfg.task_dir}/secrets"
    args = ["create", "--name", name, "--pull", "never", "--log-driver", "k8s-file"]
    labels = {JOB_LABEL: cfg.job_name, **(string_map(config.get("labels", {})) or {})}
    labels.update({ALLOC_LABEL: cfg.alloc_id, TASK_LABEL: cfg.task_name})
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    for limit, value in ulimits(config, ceilings).items():
        args += ["--ulimit", f"{limit}={value}"]
    hard_mb = max(cfg.memory_mb, cfg.memory_max_mb)
    if hard_mb > 0:
        args += ["--memory", f"{hard_mb}m"]
        if cfg.memory_max_mb > cfg.memory_mb > 0:
            args += ["--memory-reservation", f"{cfg.memory_mb}m"]
    args += ["--cpu-shares", str(max(2, cfg.cpu_mhz))]
    if cfg.cpu_limit_cores > 0:
        args += ["--cpus", f"{cfg.cpu_limit_cores:g}"]
    for host, target in ((cfg.alloc_dir, "/alloc"), (local, "/local"), (secrets, "/secrets")):
        args += ["--volume", f"{host}:{target}"]
    for mount in cfg.device_mounts:
        mode = "ro" if mount.read_only else "rw"
        args += ["--volume", f"{mount.host_path}:{mount.task_path}:{mode}"]
    for spec in cfg.device_specs:
        args += ["--device", f"{spec.host_path}:{spec.target}:{spec.permissions}"]
    for device in config.get("devices") or []:
        args += ["--device", device]
    for key, value in cfg.env.items():
        args += ["--env", f"{key}={value}"]
    if cfg.user:
        args += ["--user", cfg.user]
    if config.get("working_dir"):
        args += ["--workdir", config["working_dir"]]
    if config.get("init") is True:
        args += ["--init"] + (["--init-path", init_path] if init_path else [])
    for key, flag in (("network_mode", "--network"), ("hostname", "--hostname")):
        if config.get(key):
            args += [flag, config[key]]
    for cap in config.get("cap_add") or []:
        args += ["--cap-add", cap]
    for cap in config.get("cap_drop") or []:
        args += ["--cap-drop", cap]
    if config.get("readonly_rootfs") is True:
        args.append("--read-only")
    if "entrypoint" in config:
        args += ["--entrypoint", json.dumps(list(config["entrypoint"]))]
    args += _ports(cfg)
    args.append(config["image"])
    if config.get("command"):
        args.append(config["command"])
    args += list(config.get("args") or [])
    return args
