"""A small in-process stand-in for HashiCorp Vault's HTTP API: exactly the calls
gitorch-vault makes, as Vault's API documentation describes them (token lookup, create,
renew and revoke; JWT login verified against a JWKS URL with a role's bound audiences;
KV v2 reads and lists; the X-Vault-Token header; errors as {"errors": [...]}).
It is not Vault: no storage backend, no real policy language (a policy here is a list
of path prefixes a token may read). Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import secrets as pysecrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt


@dataclass
class Role:
    bound_audiences: list[str]
    policies: list[str]
    token_ttl: int = 3600


@dataclass
class Token:
    policies: list[str]
    ttl: int
    renewable: bool = True
    parent: str = ""


@dataclass
class State:
    jwks_url: str = ""
    jwt_mount: str = "jwt-nomad"
    roles: dict[str, Role] = field(default_factory=dict)
    policies: dict[str, list[str]] = field(default_factory=dict)  # name -> readable prefixes
    tokens: dict[str, Token] = field(default_factory=dict)
    kv: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<mount>/<path>" -> data
    log: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeVault:
    def __init__(self) -> None:
        self.state = State()
        self.root = "root-" + pysecrets.token_hex(8)
        self.state.tokens[self.root] = Token(policies=["root"], ttl=0, renewable=False)
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _reply(self, code: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                # Vault reads ?list= with Go's strconv.ParseBool (hvac sends "True")
                if method == "GET" and query.get("list") in ("1", "t", "T", "true", "True", "TRUE"):
                    method = "LIST"
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    self._reply(400, {"errors": ["failed to parse JSON input"]})
                    return
                with state.lock:
                    state.log.append((method, url.path))
                header = self.headers.get("X-Vault-Token", "")
                code, answer = handle(state, method, url.path, body, header)
                self._reply(code, answer)

            def do_GET(self) -> None:  # noqa: N802
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self._route("POST")

            def do_LIST(self) -> None:  # noqa: N802
                self._route("LIST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.address = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeVault:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def put_secret(self, mount: str, path: str, data: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.kv[f"{mount}/{path}"] = dict(data)

    def live_tokens(self) -> set[str]:
        with self.state.lock:
            return set(self.state.tokens) - {self.root}


def _denied() -> tuple[int, Any]:
    return 403, {"errors": ["permission denied"]}


def _auth(state: State, token: Token, client_token: str) -> dict[str, Any]:
    return {"auth": {"client_token": client_token, "policies": token.policies,
                     "lease_duration": token.ttl, "renewable": token.renewable},
            "data": None}  # fmt: skip


def _new_token(state: State, policies: list[str], ttl: int, parent: str = "") -> tuple[int, Any]:
    client_token = "hvs." + pysecrets.token_urlsafe(18)
    token = Token(policies=policies, ttl=ttl, parent=parent)
    state.tokens[client_token] = token
    return 200, _auth(state, token, client_token)


def _may_read(state: State, token: Token, path: str) -> bool:
    if "root" in token.policies:
        return True
    return any(path.startswith(p) for name in token.policies for p in state.policies.get(name, []))


def handle(
    state: State, method: str, path: str, body: dict[str, Any], header: str
) -> tuple[int, Any]:
    with state.lock:
        if method == "POST" and path == f"/v1/auth/{state.jwt_mount}/login":
            return _jwt_login(state, body)
        token = state.tokens.get(header)
        if token is None:
            return 403, {"errors": ["permission denied", "invalid token"]} if header else _denied()
        if method == "GET" and path == "/v1/auth/token/lookup-self":
            return 200, {"data": {"policies": token.policies, "ttl": token.ttl,
                                  "renewable": token.renewable}}  # fmt: skip
        creating = path == "/v1/auth/token/create" or path.startswith("/v1/auth/token/create/")
        if method == "POST" and creating:
            if "root" not in token.policies:
                return _denied()
            role = path.rsplit("/", 1)[1] if path.startswith("/v1/auth/token/create/") else ""
            from_role = state.roles[role].policies if role in state.roles else []
            policies = list(body.get("policies") or from_role)
            return _new_token(state, policies, 600, parent=header)
        if method == "POST" and path == "/v1/auth/token/renew-self":
            if not token.renewable:
                return 400, {"errors": ["lease is not renewable"]}
            return 200, _auth(state, token, header)
        if method == "POST" and path == "/v1/auth/token/revoke-self":
            del state.tokens[header]
            return 204, None
        if method in ("GET", "LIST") and path.startswith("/v1/"):
            return _kv(state, token, method, path[len("/v1/") :])
    return 404, {"errors": [f"no handler for route {path!r} in this fake"]}


def _jwt_login(state: State, body: dict[str, Any]) -> tuple[int, Any]:
    role = state.roles.get(str(body.get("role", "")))
    if role is None:
        return 400, {"errors": [f'role "{body.get("role", "")}" could not be found']}
    try:
        key = jwt.PyJWKClient(state.jwks_url).get_signing_key_from_jwt(str(body.get("jwt", "")))
        jwt.decode(str(body.get("jwt", "")), key.key, algorithms=["RS256", "EdDSA", "ES256"],
                   audience=role.bound_audiences)  # fmt: skip
    except jwt.PyJWTError as exc:
        return 400, {"errors": [f"error validating token: {type(exc).__name__}"]}
    return _new_token(state, list(role.policies), role.token_ttl)


def _kv(state: State, token: Token, method: str, path: str) -> tuple[int, Any]:
    mount, _, rest = path.partition("/")
    kind, _, key = rest.partition("/")
    if method == "GET" and kind == "data":
        if not _may_read(state, token, path):
            return _denied()
        data = state.kv.get(f"{mount}/{key}")
        if data is None:
            return 404, {"errors": []}
        meta = {"created_time": "2024-01-01T00:00:00Z", "version": 1, "destroyed": False}
        return 200, {"data": {"data": data, "metadata": meta}, "lease_duration": 0}
    if method == "LIST" and kind == "metadata":
        if not _may_read(state, token, path.rstrip("/") + "/"):  # Vault lists "<path>/"
            return _denied()
        base = f"{mount}/" + (key.rstrip("/") + "/" if key else "")
        rests = [k[len(base) :] for k in state.kv if k.startswith(base)]
        names = sorted({r.split("/")[0] + ("/" if "/" in r else "") for r in rests})
        return (200, {"data": {"keys": names}}) if names else (404, {"errors": []})
    return 404, {"errors": [f"no handler for route {path!r} in this fake"]}
