"""``/v1/client/allocation/:alloc_id/exec``: Nomad's interactive exec over a WebSocket.

Query: ``task``, ``command`` (a JSON list of strings), ``tty``. The client sends
``{"stdin": {"data": <base64>}}``, ``{"stdin": {"close": true}}``,
``{"tty_size": {"height": H, "width": W}}`` and ``{}`` heartbeats; the agent sends
``{"stdout": {"data": <base64>}}``, ``{"stderr": {...}}``, ``{"stdout": {"close": true}}``
at the end of a stream, and last ``{"exited": true, "result": {"exit_code": N}}``,
then closes normally.

The command runs through the task's driver, inside the task's isolation
(``Driver.exec_command``). Everything that can be refused is refused before the
upgrade, with an HTTP status and a message (a stopped allocation, an unknown task, a
driver without exec: 4xx), as Nomad's API client expects. A task without filesystem
isolation (raw_exec) also needs ``alloc-node-exec``, as in Nomad. When another node runs
the allocation, the session is relayed to that node's agent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gitorch.api import clientproxy
from gitorch.api.execsession import ExecProcess
from gitorch.api.http import error_response
from gitorch.api.nodehop import NodeHop
from gitorch.api.wsclient import AsyncWs, WsClosed, WsRefused, ws_url
from gitorch.core.acl import Capability
from gitorch.errors import BadRequestError, NotFoundError, PermissionDeniedError
from gitorch.server.acl import Identity
from gitorch.server.backend import Backend, ClientBackend

log = logging.getLogger(__name__)

PATH = "/v1/client/allocation/{alloc_id:str}/exec"
NODE_EXEC = Capability("namespace", "alloc-node-exec")
_PASSED = ("x-nomad-token", "authorization")
CLOSE_WAIT_S = 5.0  # how long the agent waits for a client to close after the exit frame


def routes(
    backend: Backend, client: ClientBackend | None, hop: NodeHop = clientproxy.PLAIN
) -> list[BaseRoute]:
    """The exec route, bound to ``backend`` and the local client agent (if any)."""

    async def exec_ws(websocket: WebSocket) -> None:
        alloc_id = websocket.path_params["alloc_id"]
        try:
            task, cmd, tty = parse_query(websocket)
            local = clientproxy.local_client(backend, client, alloc_id)
            if local is None:
                await relay(websocket, node_address(websocket, backend, alloc_id), hop=hop)
                return
            command, isolation = local.exec_command(alloc_id, task, cmd, tty)
            if isolation == "none":
                alloc = backend.state.allocs.get(alloc_id)
                check_node_exec(websocket, alloc.namespace if alloc else "default")
            process = await ExecProcess.start(command, tty)
        except Exception as exc:  # noqa: BLE001 - every refusal answers the client
            await refuse(websocket, exc)
            return
        log.info("alloc %s: exec session in task %s started (tty=%s)", alloc_id, task, tty)
        await websocket.accept()
        code = await run_session(websocket, process)
        log.info("alloc %s: exec session in task %s ended (exit %s)", alloc_id, task, code)

    return [WebSocketRoute(PATH, exec_ws)]


def parse_query(websocket: WebSocket) -> tuple[str, list[str], bool]:
    q = websocket.query_params
    task = q.get("task", "")
    if not task:
        raise BadRequestError("must provide task name (?task=)")
    try:
        cmd: Any = json.loads(q.get("command") or "null")
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"command must be a JSON list of strings: {exc}") from None
    if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
        raise BadRequestError('command must be a JSON list of strings, e.g. ["/bin/sh"]')
    tty = (q.get("tty") or "false").lower()
    if tty not in ("true", "false", "1", "0"):
        raise BadRequestError(f"tty must be true or false, not {tty!r}")
    return task, cmd, tty in ("true", "1")


def check_node_exec(websocket: WebSocket, namespace: str) -> None:
    """With ACLs on, a task without isolation needs alloc-node-exec (Nomad's rule)."""
    identity = websocket.scope.get("state", {}).get("acl_identity")
    if isinstance(identity, Identity) and not identity.allows(NODE_EXEC, namespace, time.time_ns()):
        raise PermissionDeniedError(
            f"this task runs without filesystem isolation, so exec in it needs "
            f'alloc-node-exec in namespace "{namespace}"'
        )


async def refuse(websocket: WebSocket, exc: Exception) -> None:
    """Answer the upgrade with the error's HTTP status and message; where the server
    cannot (no denial-response support), accept and close with the message."""
    if isinstance(exc, WsRefused) and exc.status:
        response = error_response(BadRequestError(exc.message))
        response.status_code = exc.status
    else:
        response = error_response(exc)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
        return
    await websocket.accept()
    code = 1011 if response.status_code >= 500 else 1008
    reason = bytes(response.body).decode(errors="replace")
    await websocket.close(code, reason.encode()[:120].decode(errors="ignore"))


async def run_session(websocket: WebSocket, process: ExecProcess) -> int | None:
    """Pump frames both ways until the command's output ends (then its exit frame) or
    the client leaves (then the command is killed)."""
    inbound = asyncio.create_task(_pump_in(websocket, process))
    outbound = asyncio.create_task(_pump_out(websocket, process))
    try:
        done, _ = await asyncio.wait({inbound, outbound}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task.exception() is not None:
                log.warning("exec session failed", exc_info=task.exception())
        if outbound not in done or outbound.exception() is not None:
            return None
        await _closing(websocket, inbound)
        return outbound.result()
    finally:
        for task in (inbound, outbound):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await process.close()


async def _closing(websocket: WebSocket, reading: asyncio.Task[None]) -> None:
    """After the last frame, let the client close first (it does on the exit frame),
    still reading what it sends: closing with its frames unread resets the connection,
    and the client may then lose the frames it had not read yet. Close after a while."""
    with contextlib.suppress(asyncio.TimeoutError, Exception):
        await asyncio.wait_for(asyncio.shield(reading), CLOSE_WAIT_S)
    if not reading.done():
        with contextlib.suppress(Exception):
            await websocket.close(1000)


async def _pump_in(websocket: WebSocket, process: ExecProcess) -> None:
    while True:
        try:
            text = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return
        try:
            frame = json.loads(text)
        except json.JSONDecodeError:
            continue  # a malformed frame is skipped, as a heartbeat
        if not isinstance(frame, dict):
            continue
        stdin, size = frame.get("stdin"), frame.get("tty_size")
        if isinstance(stdin, dict):
            data = stdin.get("data")
            if isinstance(data, str) and data:
                try:
                    await process.write(base64.b64decode(data, validate=True))
                except (binascii.Error, ValueError):
                    continue
            if stdin.get("close") is True:
                await process.close_stdin()
        elif isinstance(size, dict):
            height, width = size.get("height"), size.get("width")
            if isinstance(height, int) and isinstance(width, int):
                process.resize(height, width)


async def _pump_out(websocket: WebSocket, process: ExecProcess) -> int:
    seen: set[str] = set()
    async for name, data in process.output():
        seen.add(name)
        encoded = base64.b64encode(data).decode("ascii")
        await websocket.send_text(json.dumps({name: {"data": encoded}}))
    for name in sorted(seen | {"stdout"}):
        await websocket.send_text(json.dumps({name: {"close": True}}))
    code = await process.wait()
    code = 128 - code if code < 0 else code  # killed by a signal: the shell's number
    await websocket.send_text(json.dumps({"exited": True, "result": {"exit_code": code}}))
    return code


def node_address(websocket: WebSocket, backend: Backend, alloc_id: str) -> str:
    alloc = backend.state.allocs.get(alloc_id)
    node = backend.state.nodes.get(alloc.node_id) if alloc is not None else None
    if alloc is None or node is None or not node.http_addr:
        where = alloc.node_id if alloc is not None else "an unknown node"
        raise NotFoundError(f"allocation {alloc_id} runs on {where}, which this agent cannot reach")
    if websocket.headers.get(clientproxy.FORWARDED):
        raise NotFoundError(f"allocation {alloc_id} does not run on this node")
    return node.http_addr


async def relay(
    websocket: WebSocket, address: str, *, mark: bool = True, hop: NodeHop = clientproxy.PLAIN
) -> None:
    """Relay the session to the client agent at ``address``, marked as forwarded; with
    ``mark`` off, to the server at ``address`` (a client agent asking its servers). With
    TLS on it is ``wss://``, checking the far side's certificate (``gitorch.api.nodehop``)."""
    headers = {k: v for k, v in websocket.headers.items() if k.lower() in _PASSED}
    if mark:
        headers[clientproxy.FORWARDED] = "1"
    url = ws_url(hop.url(address), websocket.url.path)
    if websocket.url.query:
        url += "?" + websocket.url.query
    if mark:
        context = hop.client_context()
        upstream = await hop.to_client(
            address, lambda name: AsyncWs.open(url, headers, context, server_hostname=name)
        )
    else:
        upstream = await AsyncWs.open(url, headers, hop.server_context(), hop.server_name())
    await websocket.accept()
    down = asyncio.create_task(_downstream(websocket, upstream))
    try:
        while True:
            try:
                text = await upstream.recv_text()
            except WsClosed as closed:
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(asyncio.shield(down), CLOSE_WAIT_S)
                if not down.done():
                    with contextlib.suppress(Exception):
                        await websocket.close(closed.code, closed.reason)
                return
            await websocket.send_text(text)
    finally:
        down.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await down
        with contextlib.suppress(Exception):
            await upstream.close()


async def _downstream(websocket: WebSocket, upstream: AsyncWs) -> None:
    """The client's frames to the far side, until the client leaves (frames sent after
    the far side closed are read and dropped)."""
    while True:
        try:
            text = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            with contextlib.suppress(Exception):
                await upstream.close()
            return
        with contextlib.suppress(WsClosed):
            await upstream.send_text(text)
