"""The relay's HTTP/1.1 client (gitorch.api.hop) against uvicorn on 127.0.0.1: what comes
back, connection reuse, and the two kinds of failure the relay's retry rules rest on."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gitorch.api import hop
from gitorch.api.hop import Answer, Broken, HopClient, NotSent
from tests.unit.api.fakes import free_port, serve


async def echo(request: Request) -> Response:
    body = await request.body()
    client = request.client
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "body": body.decode(),
            "header": request.headers.get("x-test", ""),
            "port": client.port if client else 0,
        },
        headers={"X-Back": "yes"},
    )


async def chunked(request: Request) -> Response:
    async def parts() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"part{i};".encode()

    return StreamingResponse(parts(), media_type="text/plain")


async def slow(request: Request) -> Response:
    await asyncio.sleep(1.5)
    return Response("late")


T = TypeVar("T")
APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "PUT", "POST"]),
        Route("/chunked", chunked),
        Route("/slow", slow),
    ]
)


@pytest.fixture(scope="module")
def addr() -> Iterator[str]:
    with serve(APP) as address:
        yield address


def run(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(fn())


def test_a_request_and_its_answer_go_through_whole(addr: str) -> None:
    async def go() -> None:
        hop = HopClient()
        try:
            up = await hop.request(
                addr, "PUT", "/echo?a=1&b=two", [("X-Test", "v")], b'{"k": 1}', 5.0
            )
            assert up.status == 200
            got = json.loads(up.body)
            assert got["method"] == "PUT" and got["path"] == "/echo"
            assert got["query"] == "a=1&b=two" and got["body"] == '{"k": 1}'
            assert got["header"] == "v"
            assert ("x-back", "yes") in up.headers
            streamed = await hop.request(addr, "GET", "/chunked", [], b"", 5.0)
            assert streamed.status == 200 and streamed.body == b"part0;part1;part2;"
        finally:
            await hop.aclose()

    run(go)


def test_requests_one_after_another_reuse_one_connection(addr: str) -> None:
    async def go() -> set[int]:
        hop = HopClient()
        try:
            ports = set()
            for _ in range(5):
                up = await hop.request(addr, "GET", "/echo", [], b"", 5.0)
                ports.add(json.loads(up.body)["port"])
            return ports
        finally:
            await hop.aclose()

    assert len(run(go)) == 1


def test_nothing_listening_is_not_sent(addr: str) -> None:
    async def go() -> None:
        with pytest.raises(NotSent):
            await HopClient().request(f"127.0.0.1:{free_port()}", "PUT", "/echo", [], b"x", 5.0)

    run(go)


def test_no_answer_in_time_is_broken(addr: str) -> None:
    async def go() -> None:
        with pytest.raises(Broken, match="no answer within 0.3 s"):
            await HopClient().request(addr, "GET", "/slow", [], b"", 0.3)

    run(go)


def test_a_far_side_that_hangs_up_without_answering_is_broken() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)  # the request arrived: then the far side goes away
        conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()

    async def go() -> None:
        with pytest.raises(Broken):
            await HopClient().request(f"127.0.0.1:{port}", "PUT", "/x", [], b"body", 5.0)

    try:
        run(go)
    finally:
        thread.join(timeout=5)
        listener.close()


def test_requests_beyond_the_cap_wait_and_are_not_sent_if_none_frees_in_time(
    addr: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hop, "MAX_CONNS", 2)

    async def go() -> list[Answer | BaseException]:
        client = HopClient()
        try:
            return list(
                await asyncio.gather(
                    client.request(addr, "GET", "/slow", [], b"", 5.0),
                    client.request(addr, "GET", "/slow", [], b"", 5.0),
                    client.request(addr, "PUT", "/echo", [], b"x", 0.5),
                    return_exceptions=True,
                )
            )
        finally:
            await client.aclose()

    first, second, third = run(go)
    assert isinstance(first, Answer) and first.body == b"late"
    assert isinstance(second, Answer) and second.body == b"late"
    assert isinstance(third, NotSent) and "no connection within 0.5 s" in str(third)
