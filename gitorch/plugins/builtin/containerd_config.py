"""The containerd driver's configuration: the task ``config {}`` and agent ``plugin``
blocks, named as in Nomad's community containerd driver (nomad-driver-containerd),
their checks, and how a task becomes the flags of ``ctr run``.

Task config::

    config {
      image      = "docker.io/library/busybox:1.36"  # short names: docker.io/library/...
      command    = "/bin/sh"              # with args and entrypoint: the process
      args       = ["-c", "echo hi"]
      entrypoint = ["/bin/sh", "-c"]       # replaces the image's entrypoint
      cwd        = "/local"
      privileged = false                  # needs allow_privileged in the plugin config
      readonly_rootfs = true
      host_network = true
      cap_add    = ["CAP_NET_ADMIN"]
      cap_drop   = ["CAP_CHOWN"]
      seccomp    = true                   # containerd's default profile
      seccomp_profile = "/etc/seccomp.json"
      memory_hard_limit = 512             # MiB; above the task's memory resources
      extra_hosts = ["db.internal:10.0.0.7"]  # added to the container's /etc/hosts
      mounts { type = "bind" target = "/data" source = "/srv/data" options = ["rbind", "ro"] }
    }

Agent config (Nomad's names, plus where the daemon is)::

    plugin "containerd" {
      config {
        enabled            = true
        containerd_runtime = "io.containerd.runc.v2"
        allow_privileged   = true
        address            = "/run/containerd/containerd.sock"
        namespace          = "nomad"
        pull_timeout       = "5m"
      }
    }
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitorch.core.task import TaskConfig
from gitorch.plugins.builtin.containerd_ctr import DEFAULT_ADDRESS, DEFAULT_NAMESPACE
from gitorch.plugins.builtin.docker_blocks import blocks
from gitorch.plugins.builtin.docker_options import LINUX_CAPS
from gitorch.plugins.driver import Field, parse_duration, validate_fields

ALLOC_LABEL = "com.gitorch.alloc_id"
TASK_LABEL = "com.gitorch.task_name"
EXIT_LABEL = "com.gitorch.exit_code"
DEFAULT_RUNTIME = "io.containerd.runc.v2"
MIB = 1024 * 1024
_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_MOUNT_KEYS = {"type", "target", "source", "options"}

TASK_SCHEMA: Mapping[str, Field] = {
    "image": Field("string", required=True, doc="image reference (pulled if absent)"),
    "command": Field("string", doc="command (replaces the image's)"),
    "args": Field("list(string)", doc="arguments of command"),
    "entrypoint": Field("list(string)", doc="replaces the image's entrypoint"),
    "cwd": Field("string", doc="working directory in the container"),
    "privileged": Field("bool", doc="all capabilities and devices (allow_privileged)"),
    "readonly_rootfs": Field("bool", doc="mount the image's root filesystem read-only"),
    "host_network": Field("bool", doc="share the host's network namespace"),
    "cap_add": Field("list(string)", doc="capabilities to add (CAP_ prefix optional)"),
    "cap_drop": Field("list(string)", doc="capabilities to drop"),
    "seccomp": Field("bool", doc="containerd's default seccomp profile"),
    "seccomp_profile": Field("string", doc="a seccomp profile file (needs seccomp)"),
    "memory_hard_limit": Field("integer", doc="hard memory limit in MiB"),
    "extra_hosts": Field("list(string)", doc='"host:IP" lines added to /etc/hosts'),
    "mounts": Field("any", doc="mounts { type target source options }"),
}

PLUGIN_SCHEMA: Mapping[str, Field] = {
    "enabled": Field("bool", doc="false: the driver is undetected"),
    "containerd_runtime": Field("string", doc=f"runtime ({DEFAULT_RUNTIME})"),
    "allow_privileged": Field("bool", doc="tasks may set privileged = true"),
    "address": Field("string", doc=f"containerd's socket ({DEFAULT_ADDRESS})"),
    "namespace": Field("string", doc=f"containerd namespace ({DEFAULT_NAMESPACE})"),
    "pull_timeout": Field("duration", doc="how long an image pull may take (5m)"),
    "stats_interval": Field("duration", doc="accepted for Nomad compatibility"),
}


@dataclass(frozen=True)
class Settings:
    """The agent's plugin config, with defaults."""

    enabled: bool = True
    runtime: str = DEFAULT_RUNTIME
    allow_privileged: bool = False
    address: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    pull_timeout_s: float = 300.0

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> Settings:
        return cls(
            enabled=bool(config.get("enabled", True)),
            runtime=str(config.get("containerd_runtime") or DEFAULT_RUNTIME),
            allow_privileged=bool(config.get("allow_privileged", False)),
            address=str(config.get("address") or DEFAULT_ADDRESS),
            namespace=str(config.get("namespace") or DEFAULT_NAMESPACE),
            pull_timeout_s=parse_duration(config.get("pull_timeout", 300)),
        )


def task_problems(config: Mapping[str, Any], settings: Settings | None) -> list[str]:
    """Problems of a task config; ``settings`` None: what any agent could allow."""
    problems = validate_fields(TASK_SCHEMA, config)
    if "mounts" in config:
        problems += _mount_problems(config["mounts"])
    if config.get("seccomp_profile") and not config.get("seccomp"):
        problems.append("config.seccomp_profile: needs seccomp = true")
    limit = config.get("memory_hard_limit")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit <= 0:
        problems.append("config.memory_hard_limit: must be a positive number of MiB")
    for i, entry in enumerate(config.get("extra_hosts") or []):
        host, _, address = str(entry).partition(":")
        if not host or not _valid_ip(address):
            problems.append(f'config.extra_hosts[{i}]: want "host:IP" (got {entry!r})')
    if "args" in config and not (config.get("command") or config.get("entrypoint")):
        problems.append("config.args: needs command or entrypoint")
    if settings is not None and config.get("privileged") is True and not settings.allow_privileged:
        problems.append(
            "config.privileged: this agent does not allow privileged containers "
            '(set allow_privileged = true in its plugin "containerd" config)'
        )
    return problems


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def hosts_file(cfg: TaskConfig) -> str | None:
    """Write the container's /etc/hosts when ``extra_hosts`` asks for lines (the
    host's own file under ``host_network``, else localhost); its host path."""
    extra = [str(e).partition(":") for e in cfg.config.get("extra_hosts") or []]
    if not extra:
        return None
    if cfg.config.get("host_network") is True:
        with open("/etc/hosts", encoding="utf-8") as f:
            base = f.read().rstrip("\n") + "\n"
    else:
        base = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    path = os.path.join(os.path.abspath(cfg.task_dir), ".containerd-hosts")
    with open(path, "w", encoding="utf-8") as f:
        f.write(base + "".join(f"{address}\t{host}\n" for host, _, address in extra))
    return path


def _mount_problems(value: object) -> list[str]:
    mounts = blocks(value)
    if mounts is None:
        return ["config.mounts: must be blocks of type, target, source, options"]
    problems = []
    for i, mount in enumerate(mounts):
        where = f"config.mounts[{i}]"
        for key in sorted(set(mount) - _MOUNT_KEYS):
            problems.append(
                f"{where}.{key}: unknown field (known: {', '.join(sorted(_MOUNT_KEYS))})"
            )
        for key in ("type", "target", "source"):
            if not isinstance(mount.get(key), str) or not mount.get(key):
                problems.append(f"{where}.{key}: required string")
        options = mount.get("options", [])
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            problems.append(f"{where}.options: must be a list of strings")
        if any("," in str(mount.get(k, "")) for k in ("source", "target")):
            problems.append(f"{where}: source and target may not hold commas")
    return problems


def normalize_image(ref: str) -> str:
    """A full reference as containerd stores it (``busybox`` ->
    ``docker.io/library/busybox:latest``), as Docker and nerdctl name short images."""
    name, digest = (ref.split("@", 1) + [""])[:2]
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"
    if not digest and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return f"{name}@{digest}" if digest else name


def container_id(cfg: TaskConfig) -> str:
    """Nomad's ``<task>-<alloc id>``, within what containerd accepts as an ID."""
    cid = _ID_BAD.sub("-", f"{cfg.task_name}-{cfg.alloc_id}").strip("-_.") or "task"
    return cid[:76]


def _caps(names: list[str]) -> list[str]:
    """``net_admin`` / ``CAP_NET_ADMIN`` -> ``CAP_NET_ADMIN``; ``ALL``: every one."""
    if any(n.strip().upper() == "ALL" for n in names):
        return sorted(f"CAP_{n.upper()}" for n in LINUX_CAPS)
    out = [n.strip().upper() for n in names]
    return [n if n.startswith("CAP_") else f"CAP_{n}" for n in out]


def process_argv(config: Mapping[str, Any]) -> list[str]:
    """The process to run; empty: the image's own entrypoint and command."""
    argv = [str(a) for a in config.get("entrypoint", [])]
    if config.get("command"):
        argv.append(str(config["command"]))
    if argv:
        argv += [str(a) for a in config.get("args", [])]
    return argv


def run_flags(cfg: TaskConfig, settings: Settings) -> list[str]:
    """The flags of ``ctr run`` for ``cfg`` (log URI and image excepted)."""
    config = cfg.config
    task_dir = os.path.abspath(cfg.task_dir)
    flags = [
        "--runtime",
        settings.runtime,
        "--label",
        f"{ALLOC_LABEL}={cfg.alloc_id}",
        "--label",
        f"{TASK_LABEL}={cfg.task_name}",
        "--cpu-shares",
        str(max(2, cfg.cpu_mhz)),
    ]
    env = {
        **cfg.env,
        "NOMAD_ALLOC_DIR": "/alloc",
        "NOMAD_TASK_DIR": "/local",
        "NOMAD_SECRETS_DIR": "/secrets",
    }
    for key, value in env.items():
        flags += ["--env", f"{key}={value}"]
    binds = [
        (os.path.abspath(cfg.alloc_dir), "/alloc", "rw"),
        (os.path.join(task_dir, "local"), "/local", "rw"),
        (os.path.join(task_dir, "secrets"), "/secrets", "rw"),
    ]
    binds += [(m.host_path, m.task_path, "ro" if m.read_only else "rw") for m in cfg.mounts]
    binds += [(m.host_path, m.task_path, "ro" if m.read_only else "rw") for m in cfg.device_mounts]
    for source, target, mode in binds:
        flags += ["--mount", f"type=bind,src={source},dst={target},options=rbind:{mode}"]
    for mount in blocks(config.get("mounts", [])) or []:
        source = str(mount["source"])
        if mount["type"] == "bind" and not source.startswith("/"):
            source = os.path.normpath(os.path.join(task_dir, source))
        options = ":".join(mount.get("options", []))
        flags += [
            "--mount",
            f"type={mount['type']},src={source},dst={mount['target']},options={options}",
        ]
    hosts = hosts_file(cfg)
    if hosts:
        flags += ["--mount", f"type=bind,src={hosts},dst=/etc/hosts,options=rbind:ro"]
    for spec in cfg.device_specs:
        flags += ["--device", spec.host_path]
    memory_mb = int(config.get("memory_hard_limit") or cfg.memory_max_mb or cfg.memory_mb)
    if memory_mb > 0:
        flags += ["--memory-limit", str(memory_mb * MIB)]
    if cfg.cpu_limit_cores > 0:
        flags += ["--cpus", f"{cfg.cpu_limit_cores:g}"]
    if config.get("cwd"):
        flags += ["--cwd", str(config["cwd"])]
    for key, flag in (
        ("privileged", "--privileged"),
        ("readonly_rootfs", "--read-only"),
        ("host_network", "--net-host"),
        ("seccomp", "--seccomp"),
    ):
        if config.get(key) is True:
            flags.append(flag)
    if config.get("seccomp_profile"):
        flags += ["--seccomp-profile", str(config["seccomp_profile"])]
    for cap in _caps(config.get("cap_add", [])):
        flags += ["--cap-add", cap]
    for cap in _caps(config.get("cap_drop", [])):
        flags += ["--cap-drop", cap]
    return flags
