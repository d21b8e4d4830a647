"""The probes a check runs: one HTTP request (``http``), one TCP connect (``tcp``), one
grpc.health.v1 Health/Check call (``grpc``, through :mod:`gitorch.agent.hooks.grpcprobe`)
or one command run through the task driver's exec (``script``), bounded by the check's
timeout. Each returns a ``Probe``; none raises."""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import NamedTuple

from gitorch.agent.hooks import grpcprobe
from gitorch.core.model.service import ServiceCheck
from gitorch.errors import GitorchError

MAX_OUTPUT = 1024  # bytes of a response body kept as the check's output


Exec = Callable[[Sequence[str], float], tuple[bytes, int]]  # (argv, timeout) -> output, code


class Probe(NamedTuple):
    """One outcome: ``ok`` passing; not ``ok`` and ``warning``: a warning (a script
    check's exit code 1); else critical."""

    ok: bool
    status_code: int
    output: str
    warning: bool = False


def run(check: ServiceCheck, host: str, port: int, exec_: Exec | None = None) -> Probe:
    """Probe ``host:port`` (``exec_`` runs a script check's command in its task)."""
    timeout = max(check.timeout / 1e9, 0.001)
    if check.type == "script":
        if exec_ is None:
            return Probe(False, 0, "nomad: script check: no task to run it in")
        return script(check, exec_, timeout)
    if port <= 0:
        return Probe(False, 0, f"no port to check: port {check.port_label!r} is not allocated")
    if check.type == "tcp":
        return tcp(host, port, timeout)
    if check.type == "grpc":
        ok, output = grpcprobe.check(
            host, port, check.grpc_service, use_tls=check.grpc_use_tls, timeout=timeout
        )
        return Probe(ok, 0, output[:MAX_OUTPUT])
    return http_request(check, host, port, timeout)


def script(check: ServiceCheck, exec_: Exec, timeout: float) -> Probe:
    """``command`` with ``args`` in the task: exit 0 passes, 1 warns, anything else (or
    a command that cannot run or outlives the timeout) is critical, as Consul's and
    Nomad's script checks. The status code is the exit code; the output its last
    ``MAX_OUTPUT`` bytes of stdout and stderr."""
    try:
        out, code = exec_([check.command, *check.args], timeout)
    except GitorchError as exc:
        return Probe(False, 0, f"nomad: script check: {exc}"[:MAX_OUTPUT])
    text = out[-MAX_OUTPUT:].decode("utf-8", "replace")
    return Probe(code == 0, code, text, warning=code == 1)


def tcp(host: str, port: int, timeout: float) -> Probe:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return Probe(True, 0, f"nomad: tcp ok: {host}:{port}")
    except OSError as exc:
        return Probe(False, 0, f"nomad: tcp {host}:{port}: {exc}")


def http_request(check: ServiceCheck, host: str, port: int, timeout: float) -> Probe:
    """``method`` (GET) ``path`` with ``header`` and ``body``; any 2xx passes."""
    conn: http.client.HTTPConnection
    if check.protocol == "https":
        context = ssl.create_default_context()
        if check.tls_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {k: ", ".join(v) for k, v in check.header.items()}
    try:
        body = check.body.encode() if check.body else None
        conn.request(check.method.upper() or "GET", check.path or "/", body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read(MAX_OUTPUT).decode("utf-8", "replace")
        return Probe(200 <= resp.status < 300, resp.status, text or f"HTTP {resp.status}")
    except (OSError, http.client.HTTPException) as exc:
        return Probe(False, 0, f"nomad: http {host}:{port}{check.path}: {exc}")
    finally:
        conn.close()
