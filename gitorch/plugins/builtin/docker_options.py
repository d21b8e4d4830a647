"""The docker task options beyond the basics of ``docker_config`` (Nomad's docker task
config table, the options that apply to Linux containers): their schema, their checks
(each problem naming its field, and the plugin option to set when the agent forbids
it) and their translation into container create arguments. No docker SDK here.

Capabilities follow Nomad: a container starts with Docker's default set; ``cap_add``
must stay within the agent's ``allow_caps`` (default: Docker's set without
``net_raw``), and the defaults the agent does not allow are dropped unless the task
adds them. ``isolation`` is Windows-only and refused.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
from collections.abc import Mapping
from typing import Any, Protocol

from gitorch.core.task import TaskConfig
from gitorch.plugins.builtin.docker_blocks import block, blocks, check_block
from gitorch.plugins.driver import Field

NOMAD_DEFAULT_CAPS = (
    "audit_write",
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "mknod",
    "net_bind_service",
    "setfcap",
    "setgid",
    "setpcap",
    "setuid",
    "sys_chroot",
)
DOCKER_DEFAULT_CAPS = (*NOMAD_DEFAULT_CAPS, "net_raw")
DEFAULT_RUNTIMES = ("runc", "nvidia")
LINUX_CAPS = frozenset(
    (
        *DOCKER_DEFAULT_CAPS,
        "audit_control",
        "audit_read",
        "block_suspend",
        "bpf",
        "checkpoint_restore",
        "dac_read_search",
        "ipc_lock",
        "ipc_owner",
        "lease",
        "linux_immutable",
        "mac_admin",
        "mac_override",
        "net_admin",
        "net_broadcast",
        "perfmon",
        "sys_admin",
        "sys_boot",
        "sys_module",
        "sys_nice",
        "sys_pacct",
        "sys_ptrace",
        "sys_rawio",
        "sys_resource",
        "sys_time",
        "sys_tty_config",
        "syslog",
        "wake_alarm",
    )
)
ULIMITS = frozenset(
    "core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime "
    "sigpending stack".split()
)
NAMESPACE_MODES = {
    "ipc_mode": ("none", "private", "shareable", "host"),
    "pid_mode": ("host",),
    "uts_mode": ("host",),
    "userns_mode": ("host",),
}
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_ULIMIT = re.compile(r"^(-?\d+)(?::(-?\d+))?$")
_BUILTIN_NETWORKS = ("", "bridge", "default", "host", "none")

TASK_OPTIONS: dict[str, Field] = {
    "auth_soft_fail": Field("bool", doc="pull without credentials when the auth ones fail"),
    "cap_add": Field("list(string)", doc="capabilities to add (within allow_caps)"),
    "cap_drop": Field("list(string)", doc="capabilities to drop"),
    "cpu_hard_limit": Field("bool", doc="a CFS quota from resources.cpu, not only shares"),
    "cpu_cfs_period": Field("integer", doc="CFS period (us) for cpu_hard_limit"),
    "devices": Field("any", doc="{host_path container_path cgroup_permissions} blocks"),
    "dns_search_domains": Field("list(string)", doc="DNS search domains"),
    "dns_options": Field("list(string)", doc="resolv.conf options"),
    "dns_servers": Field("list(string)", doc="DNS server addresses"),
    "extra_hosts": Field("list(string)", doc='"host:ip" lines for /etc/hosts'),
    "group_add": Field("list(string)", doc="extra groups of the container user"),
    "healthchecks": Field("any", doc="healthchecks { disable = true }: no image HEALTHCHECK"),
    "hostname": Field("string", doc="the container's hostname"),
    "image_pull_timeout": Field("duration", doc='how long a pull may take (default "5m")'),
    "interactive": Field("bool", doc="keep stdin open"),
    "ipc_mode": Field("string", doc="none, private, shareable, host or container:<id>"),
    "ipv4_address": Field("string", doc="the IPv4 address on a user-defined network"),
    "ipv6_address": Field("string", doc="the IPv6 address on a user-defined network"),
    "isolation": Field("string", doc="Windows only: refused on Linux"),
    "load": Field("string", doc="image archive (task dir relative) to docker load"),
    "logging": Field("any", doc="logging { type = <log driver> config { ... } }"),
    "mac_address": Field("string", doc="the container's MAC address"),
    "memory_hard_limit": Field("integer", doc="MiB; resources.memory becomes the soft limit"),
    "network_aliases": Field("list(string)", doc="aliases on a user-defined network"),
    "oom_score_adj": Field("integer", doc="0 to 1000"),
    "pids_limit": Field("integer", doc="the most processes (within the agent's pids_limit)"),
    "pid_mode": Field("string", doc="host or container:<id>"),
    "port_map": Field("any", doc="label = container port (Nomad's legacy port mapping)"),
    "readonly_rootfs": Field("bool", doc="mount the image read-only"),
    "runtime": Field("string", doc="an OCI runtime within the agent's allow_runtimes"),
    "security_opt": Field("list(string)", doc='e.g. ["no-new-privileges"]'),
    "shm_size": Field("integer", doc="bytes of /dev/shm"),
    "storage_opt": Field("any", doc="storage driver options (a map)"),
    "sysctl": Field("any", doc="namespaced kernel parameters (a map)"),
    "tty": Field("bool", doc="allocate a TTY (stdout and stderr merge)"),
    "ulimit": Field("any", doc='a map name = "soft[:hard]"'),
    "userns_mode": Field("string", doc="host"),
    "uts_mode": Field("string", doc="host"),
    "volume_driver": Field("string", doc="driver of named volumes (needs volumes enabled)"),
}
PLUGIN_OPTIONS: dict[str, Field] = {
    "allow_caps": Field("list(string)", doc="capabilities tasks may have (or all)"),
    "allow_runtimes": Field("list(string)", doc="runtimes tasks may ask (default runc, nvidia)"),
    "pids_limit": Field("integer", doc="the most processes per container (0: none)"),
    "extra_labels": Field("list(string)", doc="job_name, task_group_name, ... labels (or *)"),
    "logging": Field("any", doc="the default logging { type config {} } of containers"),
    "pull_activity_timeout": Field("duration", doc='a pull with no progress fails (default "2m")'),
}
EXTRA_LABELS = ("job_name", "job_id", "task_group_name", "task_name", "namespace", "node_name")


class Settings(Protocol):
    """What of the plugin config the options need (``docker_config.PluginSettings``)."""

    @property
    def volumes_enabled(self) -> bool: ...

    @property
    def allow_caps(self) -> tuple[str, ...]: ...

    @property
    def allow_runtimes(self) -> tuple[str, ...]: ...

    @property
    def pids_limit(self) -> int: ...

    @property
    def logging_type(self) -> str: ...

    @property
    def logging_config(self) -> Mapping[str, str]: ...


def cap_name(name: str) -> str:
    """``CAP_NET_ADMIN`` / ``net_admin`` -> ``net_admin``."""
    return name.strip().lower().removeprefix("cap_")


def effective_caps(
    config: Mapping[str, Any], allow: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """Docker's (cap_add, cap_drop) for a task: its own, plus the defaults the agent
    does not allow (Nomad drops those)."""
    add = sorted({cap_name(c) for c in config.get("cap_add", [])})
    drop = {cap_name(c) for c in config.get("cap_drop", [])}
    if "all" not in allow and "all" not in add and "all" not in drop:
        drop |= set(DOCKER_DEFAULT_CAPS) - set(allow) - set(add)
    return [c.upper() for c in add], sorted(c.upper() for c in drop)


def _cap_problems(config: Mapping[str, Any], allow: tuple[str, ...]) -> list[str]:
    problems = []
    for key in ("cap_add", "cap_drop"):
        names = config.get(key)
        if not isinstance(names, list):
            continue
        for name in names:
            if isinstance(name, str) and cap_name(name) not in LINUX_CAPS | {"all"}:
                problems.append(f"config.{key}: unknown capability {name!r}")
    added = config.get("cap_add")
    if isinstance(added, list) and "all" not in allow:
        denied = sorted({cap_name(c) for c in added if isinstance(c, str)} - set(allow))
        if denied:
            problems.append(
                f"config.cap_add: {', '.join(denied)} not allowed on this agent "
                f'(plugin "docker" {{ config {{ allow_caps = [...] }} }}; allowed: '
                f"{', '.join(allow)})"
            )
    return problems


def _address_problem(value: str, family: int) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return f"not an IP address: {value!r}"
    return None if address.version == family else f"not an IPv{family} address: {value!r}"


def _list_problems(config: Mapping[str, Any]) -> list[str]:
    problems = []
    for i, server in enumerate(config.get("dns_servers") or []):
        if isinstance(server, str) and (why := _address_problem(server, 4)):
            if _address_problem(server, 6):
                problems.append(f"config.dns_servers[{i}]: {why}")
    for i, line in enumerate(config.get("extra_hosts") or []):
        if isinstance(line, str):
            host, _, address = line.partition(":")
            bad = not host or (
                address != "host-gateway"
                and _address_problem(address, 4)
                and _address_problem(address, 6)
            )
            if bad:
                problems.append(f'config.extra_hosts[{i}]: want "hostname:IP", got {line!r}')
    return problems


def _mode_problems(config: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, modes in NAMESPACE_MODES.items():
        value = config.get(key)
        if not isinstance(value, str) or value == "" or value in modes:
            continue
        if key in ("ipc_mode", "pid_mode") and value.startswith("container:") and value[10:]:
            continue
        problems.append(
            f"config.{key}: must be one of {', '.join(modes)}"
            + (" or container:<name|id>" if key in ("ipc_mode", "pid_mode") else "")
            + f" (got {value!r})"
        )
    return problems


def _network_problems(config: Mapping[str, Any]) -> list[str]:
    problems = []
    network = config.get("network_mode", "")
    user_defined = isinstance(network, str) and network not in _BUILTIN_NETWORKS
    user_defined = user_defined and not network.startswith("container:")
    for key, family in (("ipv4_address", 4), ("ipv6_address", 6)):
        value = config.get(key)
        if isinstance(value, str):
            if why := _address_problem(value, family):
                problems.append(f"config.{key}: {why}")
    for key in ("ipv4_address", "ipv6_address", "network_aliases"):
        if key in config and not user_defined:
            problems.append(
                f"config.{key}: needs network_mode set to a user-defined network "
                f"(docker network create), not {network or 'the default bridge'!r}"
            )
    mac = config.get("mac_address")
    if isinstance(mac, str) and not _MAC.match(mac):
        problems.append(
            f"config.mac_address: want six hex pairs like 02:42:ac:11:00:02, got {mac!r}"
        )
    return problems


def _map_problems(config: Mapping[str, Any]) -> list[str]:
    problems = []
    for key in ("sysctl", "storage_opt"):
        if key in config:
            body = block(config[key])
            if body is None or not all(isinstance(v, str | int) for v in body.values()):
                problems.append(f"config.{key}: must be a map of strings")
    if "ulimit" in config:
        limits = block(config["ulimit"])
        if limits is None:
            problems.append('config.ulimit: must be a map of name = "soft[:hard]"')
        for name, value in (limits or {}).items():
            if name not in ULIMITS:
                problems.append(
                    f"config.ulimit.{name}: unknown (known: {', '.join(sorted(ULIMITS))})"
                )
            elif _ulimit(value) is None:
                problems.append(
                    f'config.ulimit.{name}: want "soft" or "soft:hard" numbers, got {value!r}'
                )
    return problems


def _ulimit(value: object) -> tuple[int, int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    match = _ULIMIT.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    soft = int(match.group(1))
    hard = int(match.group(2)) if match.group(2) is not None else soft
    return (soft, hard) if hard == -1 or 0 <= soft <= hard else None


def _block_problems(config: Mapping[str, Any]) -> list[str]:
    problems = []
    if "healthchecks" in config:
        problems += check_block(config["healthchecks"], "config.healthchecks", {"disable": bool})
    if "logging" in config:
        problems += logging_problems(config["logging"], "config.logging")
    if "devices" in config:
        items = blocks(config["devices"])
        if items is None:
            problems.append("config.devices: must be a list of device blocks")
        kinds: dict[str, type | tuple[type, ...]] = dict.fromkeys(
            ("host_path", "container_path", "cgroup_permissions"), str
        )
        for i, device in enumerate(items or []):
            problems += check_block(device, f"config.devices[{i}]", kinds)
            if not str(device.get("host_path", "")).startswith("/"):
                problems.append(f"config.devices[{i}].host_path: required, an absolute path")
            perms = device.get("cgroup_permissions", "rwm")
            if isinstance(perms, str) and (not perms or set(perms) - set("rwm")):
                problems.append(
                    f"config.devices[{i}].cgroup_permissions: letters of rwm, got {perms!r}"
                )
    if "port_map" in config:
        maps = blocks(config["port_map"])
        ok = maps is not None and all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536
            for item in maps
            for p in item.values()
        )
        if not ok:
            problems.append("config.port_map: must be a map of port label = container port")
    return problems


def logging_problems(value: object, where: str) -> list[str]:
    """Problems of a ``logging { type = ... config { ... } }`` block."""
    problems = check_block(value, where, {"type": str, "driver": str, "config": (list, dict)})
    body = block(value) or {}
    options = block(body.get("config", {}))
    if options is None or not all(isinstance(v, str | int | bool) for v in options.values()):
        problems.append(f"{where}.config: must be a map of log driver options")
    return problems


def _number_problems(config: Mapping[str, Any], settings: Settings) -> list[str]:
    problems = []
    checks = (
        ("memory_hard_limit", 1, None, "MiB, at least 1"),
        ("shm_size", 1, None, "bytes, at least 1"),
        ("oom_score_adj", 0, 1000, "0 to 1000"),
        ("pids_limit", 1, None, "at least 1"),
        ("cpu_cfs_period", 1000, 1_000_000, "1000 to 1000000 microseconds"),
    )
    for key, low, high, what in checks:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            if value < low or (high is not None and value > high):
                problems.append(f"config.{key}: must be {what} (got {value})")
    limit = config.get("pids_limit")
    if settings.pids_limit and isinstance(limit, int) and limit > settings.pids_limit:
        problems.append(
            f"config.pids_limit: {limit} is above this agent's "
            f'plugin "docker" {{ config {{ pids_limit = {settings.pids_limit} }} }}'
        )
    return problems


def option_problems(config: Mapping[str, Any], settings: Settings) -> list[str]:
    """Problems of the options of this module in a task's ``config {}`` (types are
    already checked by the schema)."""
    problems = _cap_problems(config, settings.allow_caps)
    problems += _list_problems(config) + _mode_problems(config) + _network_problems(config)
    problems += _map_problems(config) + _block_problems(config)
    problems += _number_problems(config, settings)
    if "isolation" in config:
        problems.append(
            "config.isolation: Windows containers only (hyperv or process isolation); "
            "a Linux container has no isolation mode: remove it"
        )
    runtime = config.get("runtime")
    if isinstance(runtime, str) and "*" not in settings.allow_runtimes:
        if runtime not in settings.allow_runtimes:
            problems.append(
                f"config.runtime: {runtime!r} is not allowed on this agent "
                f'(plugin "docker" {{ config {{ allow_runtimes = [...] }} }}; allowed: '
                f"{', '.join(settings.allow_runtimes)})"
            )
    load = config.get("load")
    if isinstance(load, str):
        inside = posixpath.normpath(posixpath.join("/task", load))
        if load.startswith("/") or not inside.startswith("/task/"):
            problems.append(f"config.load: must be a path inside the task dir, got {load!r}")
    if "volume_driver" in config and not settings.volumes_enabled:
        problems.append(
            'config.volume_driver: needs plugin "docker" { config { volumes { enabled = true } } }'
        )
    if config.get("cpu_cfs_period") is not None and config.get("cpu_hard_limit") is not True:
        problems.append("config.cpu_cfs_period: only applies with cpu_hard_limit = true")
    return problems


def plugin_option_problems(config: Mapping[str, Any]) -> list[str]:
    where = "plugin.docker.config"
    problems = []
    for name in config.get("allow_caps") or []:
        if isinstance(name, str) and cap_name(name) not in LINUX_CAPS | {"all"}:
            problems.append(f"{where}.allow_caps: unknown capability {name!r}")
    for name in config.get("extra_labels") or []:
        if isinstance(name, str) and name != "*" and name.rstrip("*") not in EXTRA_LABELS:
            if not any(label.startswith(name.rstrip("*")) for label in EXTRA_LABELS):
                problems.append(
                    f"{where}.extra_labels: unknown label {name!r} "
                    f"(known: {', '.join(EXTRA_LABELS)}, or a glob)"
                )
    if "logging" in config:
        problems += logging_problems(config["logging"], f"{where}.logging")
    return problems


def extra_labels(cfg: TaskConfig, wanted: tuple[str, ...]) -> dict[str, str]:
    """Nomad's ``com.hashicorp.nomad.<name>`` labels the agent's extra_labels asks for."""
    values = {
        "job_name": cfg.job_name,
        "job_id": cfg.job_name,
        "task_group_name": cfg.group_name,
        "task_name": cfg.task_name,
        "namespace": cfg.namespace,
        "node_name": os.uname().nodename,
    }
    out = {}
    for name, value in values.items():
        if any(name.startswith(w.rstrip("*")) if w.endswith("*") else name == w for w in wanted):
            out[f"com.hashicorp.nomad.{name}"] = value
    return out


def _log_config(config: Mapping[str, Any], settings: Settings) -> dict[str, Any] | None:
    body = block(config.get("logging", {})) or {}
    kind = str(body.get("type") or body.get("driver") or settings.logging_type or "")
    if not kind:
        return None
    options = block(body.get("config", {})) if body else dict(settings.logging_config)
    return {"type": kind, "config": {k: str(v) for k, v in (options or {}).items()}}


def _networking(config: Mapping[str, Any]) -> dict[str, Any] | None:
    keys = ("ipv4_address", "ipv6_address", "network_aliases")
    if not any(k in config for k in keys):
        return None
    endpoint: dict[str, Any] = {}
    ipam = {
        name: config[key]
        for key, name in (("ipv4_address", "IPv4Address"), ("ipv6_address", "IPv6Address"))
        if key in config
    }
    if ipam:
        endpoint["IPAMConfig"] = ipam
    if config.get("network_aliases"):
        endpoint["Aliases"] = list(config["network_aliases"])
    return {"EndpointsConfig": {config["network_mode"]: endpoint}}


def cpu_quota(cfg: TaskConfig, period: int) -> int:
    """Nomad's cpu_hard_limit: the task's share of the node's compute, as a CFS quota."""
    per_core = _core_mhz()
    return max(1000, int(cfg.cpu_mhz / per_core * period))


def _core_mhz() -> float:
    try:
        text = open("/proc/cpuinfo").read()  # noqa: SIM115 - read once, small
    except OSError:
        return 1000.0
    found = re.search(r"cpu MHz\s*:\s*([\d.]+)", text)
    return float(found.group(1)) if found else 1000.0


def apply(
    cfg: TaskConfig, settings: Settings, create: dict[str, Any], host: dict[str, Any]
) -> None:
    """Add this module's options of ``cfg.config`` (already valid) to the create
    (``create_container``) and host (``create_host_config``) arguments."""
    config = cfg.config
    if not config.get("privileged"):
        host["cap_add"], host["cap_drop"] = effective_caps(config, settings.allow_caps)
        host["cap_add"] = host["cap_add"] or None
        host["cap_drop"] = host["cap_drop"] or None
    for key, arg in (("hostname", "hostname"), ("mac_address", "mac_address")):
        if config.get(key):
            create[arg] = config[key]
    create["stdin_open"] = config.get("interactive") is True
    create["tty"] = config.get("tty") is True
    if (block(config.get("healthchecks", {})) or {}).get("disable") is True:
        create["healthcheck"] = {"test": ["NONE"]}
    if config.get("runtime"):
        host["runtime"] = config["runtime"]
    create["networking_config"] = _networking(config)
    simple = {
        "dns_servers": "dns",
        "dns_search_domains": "dns_search",
        "dns_options": "dns_opt",
        "extra_hosts": "extra_hosts",
        "group_add": "group_add",
        "ipc_mode": "ipc_mode",
        "pid_mode": "pid_mode",
        "uts_mode": "uts_mode",
        "userns_mode": "userns_mode",
        "oom_score_adj": "oom_score_adj",
        "security_opt": "security_opt",
        "shm_size": "shm_size",
        "volume_driver": "volume_driver",
    }
    for key, arg in simple.items():
        value = config.get(key)
        if value not in (None, "", []):
            host[arg] = list(value) if isinstance(value, list) else value
    host["read_only"] = config.get("readonly_rootfs") is True or None
    limit = config.get("pids_limit") or settings.pids_limit
    if limit:
        host["pids_limit"] = limit
    for key, arg in (("sysctl", "sysctls"), ("storage_opt", "storage_opt")):
        if key in config:
            host[arg] = {k: str(v) for k, v in (block(config[key]) or {}).items()}
    if "ulimit" in config:
        host["ulimits"] = []
        for name, value in sorted((block(config["ulimit"]) or {}).items()):
            soft, hard = _ulimit(value) or (0, 0)
            host["ulimits"].append({"name": name, "soft": soft, "hard": hard})
    devices = list(host.get("devices") or [])
    for device in blocks(config.get("devices", [])) or []:
        target = device.get("container_path") or device["host_path"]
        devices.append(f"{device['host_path']}:{target}:{device.get('cgroup_permissions', 'rwm')}")
    host["devices"] = devices or None
    log_config = _log_config(config, settings)
    if log_config:
        host["log_config"] = log_config
    if config.get("memory_hard_limit"):
        host["mem_limit"] = int(config["memory_hard_limit"]) * 1024 * 1024
        host["mem_reservation"] = cfg.memory_mb * 1024 * 1024 if cfg.memory_mb else None
    if config.get("cpu_hard_limit") is True and not cfg.cpu_limit_cores:
        period = int(config.get("cpu_cfs_period") or 100_000)
        host["cpu_period"] = period
        host["cpu_quota"] = cpu_quota(cfg, period)


def port_overrides(config: Mapping[str, Any]) -> dict[str, int]:
    """``port_map``: label -> container port (the legacy way to say ``to``)."""
    merged: dict[str, int] = {}
    for item in blocks(config.get("port_map", [])) or []:
        merged.update({str(k): int(v) for k, v in item.items()})
    return merged
