"""A small in-process stand-in for a Consul agent's HTTP API: exactly the calls
gitorch-consul makes, as Consul's API documentation describes them (agent services and
TTL checks, KV, health and catalog reads with blocking queries, the ACL token header).
It is not Consul: no Raft, one node, one global index. Listens on 127.0.0.1 only.

Stricter than Consul where that catches mistakes: unknown fields in a registration
body, a check without a TTL and an unknown check or service ID are 400/404 answers.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NODE = {"ID": "0b1f2b63-fake-node", "Node": "fake-consul", "Address": "127.0.0.1",
        "Datacenter": "dc1"}  # fmt: skip
SERVICE_FIELDS = {"name", "id", "address", "port", "tags", "meta", "checks", "check",
                  "enabletagoverride", "weights"}  # fmt: skip
CHECK_FIELDS = {"checkid", "name", "ttl", "status", "notes"}
FILTER = re.compile(r'^Meta\.([A-Za-z0-9_-]+) == "((?:[^"\\]|\\.)*)"$')


def _lower(body: dict[str, Any]) -> dict[str, Any]:
    """Go's encoding/json matches field names case-insensitively; so does this."""
    return {k.lower().replace("_", ""): v for k, v in body.items()}


@dataclass
class State:
    token: str = ""
    index: int = 1
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    kv: dict[str, tuple[bytes, int, int]] = field(default_factory=dict)  # value, create, modify
    requests: list[tuple[str, str]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def bump(self) -> None:
        self.index += 1
        self.cond.notify_all()


class FakeConsul:
    def __init__(self, token: str = "") -> None:
        self.state = State(token=token)
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _send(self, code: int, body: Any = None, index: int | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if index is not None:
                    self.send_header("X-Consul-Index", str(index))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, code: int, text: str) -> None:
                data = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with state.cond:
                    state.requests.append((method, url.path))
                if state.token and self.headers.get("X-Consul-Token") != state.token:
                    self._error(403, "ACL not found")
                    return
                try:
                    handle(self, method, url.path, query, body)
                except BadRequest as exc:
                    self._error(400, str(exc))

            def do_GET(self) -> None:  # noqa: N802
                self._route("GET")

            def do_PUT(self) -> None:  # noqa: N802
                self._route("PUT")

            def do_DELETE(self) -> None:  # noqa: N802
                self._route("DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.fake_state = state  # type: ignore[attr-defined]
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeConsul:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what tests set and read ----------------------------------------------------------

    def put_key(self, key: str, value: str) -> None:
        with self.state.cond:
            old = self.state.kv.get(key)
            self.state.kv[key] = (value.encode(), old[1] if old else self.state.index + 1,
                                  self.state.index + 1)  # fmt: skip
            self.state.bump()

    def service_ids(self) -> list[str]:
        with self.state.cond:
            return sorted(self.state.services)

    def check_status(self, check_id: str) -> str:
        with self.state.cond:
            return str(self.state.checks[check_id]["Status"])


class BadRequest(Exception):
    pass


def handle(h: Any, method: str, path: str, query: dict[str, str], body: bytes) -> None:
    s: State = h.server.fake_state
    if method == "PUT" and path == "/v1/agent/service/register":
        _register(s, body, query.get("replace-existing-checks") in ("true", "1", ""))
        h._send(200)
    elif method == "PUT" and path.startswith("/v1/agent/service/deregister/"):
        sid = urllib.parse.unquote(path.rsplit("/", 1)[1])
        with s.cond:
            if sid not in s.services:
                h._error(404, f'Unknown service ID "{sid}". Ensure that the service ID is passed')
                return
            del s.services[sid]
            s.checks = {c: v for c, v in s.checks.items() if v["ServiceID"] != sid}
            s.bump()
        h._send(200)
    elif method == "GET" and path == "/v1/agent/services":
        h._send(200, _agent_services(s, query.get("filter", "")))
    elif method == "PUT" and re.fullmatch(r"/v1/agent/check/(pass|warn|fail)/[^/]+", path):
        kind, cid = path.split("/")[4], urllib.parse.unquote(path.split("/")[5])
        with s.cond:
            check = s.checks.get(cid)
            if check is None:
                h._error(404, f'Unknown check ID "{cid}". Ensure that the check ID is passed')
                return
            check["Status"] = {"pass": "passing", "warn": "warning", "fail": "critical"}[kind]
            check["Output"] = query.get("note", "")
            check["Updated"] = time.monotonic()
            s.bump()
        h._send(200)
    elif method == "GET" and path.startswith("/v1/kv/"):
        _kv_get(h, s, urllib.parse.unquote(path[len("/v1/kv/") :]), query)
    elif method == "PUT" and path.startswith("/v1/kv/"):
        key = urllib.parse.unquote(path[len("/v1/kv/") :])
        with s.cond:
            old = s.kv.get(key)
            s.kv[key] = (body, old[1] if old else s.index + 1, s.index + 1)
            s.bump()
        h._send(200, True)
    elif method == "GET" and path.startswith("/v1/health/service/"):
        name = urllib.parse.unquote(path[len("/v1/health/service/") :])
        _block(s, query)
        with s.cond:
            h._send(200, _health(s, name, "passing" in query), s.index)
    elif method == "GET" and path == "/v1/catalog/services":
        _block(s, query)
        with s.cond:
            found: dict[str, set[str]] = {}
            for svc in s.services.values():
                found.setdefault(svc["Service"], set()).update(svc["Tags"])
            h._send(200, {k: sorted(v) for k, v in found.items()}, s.index)
    else:
        h._error(404, f"no such API in this fake: {method} {path}")


def _register(s: State, raw: bytes, replace: bool) -> None:
    try:
        body = _lower(json.loads(raw or b"{}"))
    except ValueError as exc:
        raise BadRequest(f"Request decode failed: {exc}") from None
    unknown = set(body) - SERVICE_FIELDS
    if unknown:
        raise BadRequest(f"Request decode failed: unknown field(s) {sorted(unknown)}")
    if not body.get("name"):
        raise BadRequest("Missing service name")
    checks = list(body.get("checks") or []) + ([body["check"]] if body.get("check") else [])
    sid = str(body.get("id") or body["name"])
    meta = body.get("meta") or {}
    for k in meta:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", k):
            raise BadRequest(f"Invalid Service Meta: Key contains invalid characters: {k}")
    made = []
    for raw_check in checks:
        c = _lower(raw_check)
        if set(c) - CHECK_FIELDS:
            extra = sorted(set(c) - CHECK_FIELDS)
            raise BadRequest(f"Request decode failed: unknown check field(s) {extra}")
        if not c.get("ttl"):
            raise BadRequest("Invalid check: this fake (and gitorch-consul) uses TTL checks only")
        status = c.get("status") or "critical"
        if status not in ("passing", "warning", "critical"):
            raise BadRequest(f"Invalid check status: {status!r}")
        made.append({"CheckID": str(c.get("checkid") or f"service:{sid}"),
                     "Name": str(c.get("name") or f"Service '{body['name']}' check"),
                     "Status": status, "Output": "", "ServiceID": sid, "TTL": c["ttl"],
                     "Updated": time.monotonic()})  # fmt: skip
    with s.cond:
        s.services[sid] = {
            "ID": sid,
            "Service": str(body["name"]),
            "Tags": list(body.get("tags") or []),
            "Meta": dict(meta),
            "Port": int(body.get("port") or 0),
            "Address": str(body.get("address") or ""),
        }
        if replace:
            s.checks = {c: v for c, v in s.checks.items() if v["ServiceID"] != sid}
        for check in made:
            s.checks[check["CheckID"]] = check
        s.bump()


def _agent_services(s: State, expr: str) -> dict[str, Any]:
    with s.cond:
        items = dict(s.services)
    if not expr:
        return items
    m = FILTER.match(expr)
    if m is None:
        raise BadRequest(
            f"Failed to create boolean expression evaluator: {expr!r} "
            '(this fake knows Meta.<key> == "<value>")'
        )
    key, value = m.group(1), m.group(2).replace('\\"', '"').replace("\\\\", "\\")
    return {sid: svc for sid, svc in items.items() if svc["Meta"].get(key) == value}


def _block(s: State, query: dict[str, str]) -> int:
    """A blocking query: wait until the index passes ``index`` or ``wait`` runs out."""
    if "index" not in query:
        return s.index
    index = int(query["index"])
    wait = query.get("wait", "300s")
    seconds = float(wait[:-1]) * (60 if wait.endswith("m") else 1)
    deadline = time.monotonic() + min(seconds, 600)
    with s.cond:
        while s.index <= index and time.monotonic() < deadline:
            s.cond.wait(deadline - time.monotonic())
        return s.index


def _kv_get(h: Any, s: State, key: str, query: dict[str, str]) -> None:
    _block(s, query)
    with s.cond:
        if "recurse" in query:
            keys = sorted(k for k in s.kv if k.startswith(key))
        else:
            keys = [key] if key in s.kv else []
        if not keys:
            h._send(404, None, s.index)
            return
        out = [{"Key": k, "Value": base64.b64encode(s.kv[k][0]).decode(), "Flags": 0,
                "CreateIndex": s.kv[k][1], "ModifyIndex": s.kv[k][2], "LockIndex": 0}
               for k in keys]  # fmt: skip
        h._send(200, out, s.index)


def _health(s: State, name: str, passing: bool) -> list[dict[str, Any]]:
    out = []
    for sid, svc in sorted(s.services.items()):
        if svc["Service"] != name:
            continue
        checks = [dict(c, Node=NODE["Node"]) for c in s.checks.values() if c["ServiceID"] == sid]
        if passing and any(c["Status"] != "passing" for c in checks):
            continue
        clean = [{k: v for k, v in c.items() if k not in ("Updated", "TTL")} for c in checks]
        out.append({"Node": NODE, "Service": svc, "Checks": clean})
    return out
