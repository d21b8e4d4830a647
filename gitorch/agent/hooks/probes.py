"""The probes a check runs: one HTTP request (``http``) or one TCP connect (``tcp``),
bounded by the check's timeout. Each returns a ``Probe``; none raises."""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import NamedTuple

from gitorch.core.model.service import ServiceCheck

MAX_OUTPUT = 1024  # bytes of a response body kept as the check's output


class Probe(NamedTuple):
    ok: bool
    status_code: int
    output: str


def run(check: ServiceCheck, host: str, port: int) -> Probe:
    timeout = max(check.timeout / 1e9, 0.001)
    if port <= 0:
        return Probe(False, 0, f"no port to check: port {check.port_label!r} is not allocated")
    if check.type == "tcp":
        return tcp(host, port, timeout)
    return http_request(check, host, port, timeout)


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
