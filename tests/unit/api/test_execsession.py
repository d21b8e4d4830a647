"""An exec session's process, with and without a terminal: the command's own exit code
comes back (a terminal session used to report 0 for every command)."""

from __future__ import annotations

import asyncio

import pytest

from gitorch.api.execsession import ExecProcess
from gitorch.core.task import ExecCommand


async def _run(tty: bool) -> tuple[int, bytes]:
    argv = ["/bin/sh", "-c", "echo out; test -t 1 && echo is-a-tty; exit 7"]
    proc = await ExecProcess.start(ExecCommand(argv=argv), tty=tty)
    chunks: list[bytes] = []

    async def read() -> None:
        async for _stream, data in proc.output():
            chunks.append(data)

    reader = asyncio.create_task(read())
    code = await asyncio.wait_for(proc.wait(), 10)
    await asyncio.sleep(0.2)
    reader.cancel()
    await proc.close()
    return code, b"".join(chunks)


@pytest.mark.parametrize("tty", [False, True])
def test_the_commands_exit_code_comes_back(tty: bool) -> None:
    code, out = asyncio.run(_run(tty))
    assert code == 7
    assert b"out" in out
    assert (b"is-a-tty" in out) is tty
