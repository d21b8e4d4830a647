"""``/v1/agent/host``: the agent's host, in Nomad's HostData shape (OS, network
interfaces, resolv.conf, hosts, environment, disk use). Environment values whose name
suggests a secret are redacted, as are all of the agent's own token variables."""

from __future__ import annotations

import os
import platform
import re
import socket
from pathlib import Path
from typing import Any

import psutil

_SECRET = re.compile(r"TOKEN|SECRET|PASS|KEY|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE", re.I)
REDACTED = "<redacted>"
_MB = 1 << 20


def environment() -> dict[str, str]:
    return {k: REDACTED if _SECRET.search(k) else v for k, v in sorted(os.environ.items())}


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")[:64 << 10]
    except OSError:
        return ""


def network() -> list[dict[str, str]]:
    out = []
    for name, addrs in sorted(psutil.net_if_addrs().items()):
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                out.append({"interface": name, "address": a.address, "netmask": a.netmask or ""})
    return out


def disk(paths: list[str]) -> dict[str, dict[str, int]]:
    out = {}
    for path in paths:
        try:
            use = psutil.disk_usage(path)
        except OSError:
            continue
        out[path] = {"DiskMB": use.total // _MB, "UsedMB": use.used // _MB}
    return out


def host_data(agent_id: str, data_dirs: list[str]) -> dict[str, Any]:
    uname = platform.uname()
    return {
        "AgentID": agent_id,
        "HostData": {
            "OS": f"{uname.system} {uname.release} {uname.version} {uname.machine}",
            "Network": network(),
            "ResolvConf": _read("/etc/resolv.conf"),
            "Hosts": _read("/etc/hosts"),
            "Environment": environment(),
            "Disk": disk(["/", *data_dirs]),
        },
    }
