"""One interactive command in a task (``alloc exec``): the driver's argv
(``gitorch.core.task.ExecCommand``, which enters the task's isolation) spawned on the
API's event loop with pipes, or with a pseudo-terminal (``tty``) that becomes its
controlling terminal (``setsid --ctty``). Output comes as ``(stream, bytes)`` pairs,
then the exit code; the process group is killed when the session is cut short."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import pty
import shutil
import signal
import struct
import termios
from collections.abc import AsyncIterator

from gitorch.core.task import ExecCommand
from gitorch.errors import BadRequestError

READ_BYTES = 32 * 1024
_EOF = ("", b"")


class ExecProcess:
    """A running command. ``output()`` yields until stdout and stderr are closed."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int | None) -> None:
        self.proc = proc
        self.master = master  # the terminal's controlling side (tty), else None
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=64)
        self._open = 0
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def start(cls, command: ExecCommand, tty: bool) -> ExecProcess:
        argv = list(command.argv)
        master: int | None = None
        slave: int | None = None
        if tty:
            setsid = shutil.which("setsid")
            if setsid is None:
                raise BadRequestError("a terminal needs setsid (util-linux) on the agent")
            argv = [setsid, "--ctty", "--", *argv]
            master, slave = pty.openpty()
        pipe = asyncio.subprocess.PIPE
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=slave if slave is not None else pipe,
                stdout=slave if slave is not None else pipe,
                stderr=slave if slave is not None else pipe,
                cwd=command.cwd,
                env=command.env,
                # With a terminal, setsid makes the new session: the child must not be a
                # group leader already, or setsid forks, exits at once and the session's
                # exit code is always 0.
                start_new_session=not tty,
            )
        except OSError as exc:
            if master is not None:
                os.close(master)
            raise BadRequestError(f"cannot start {argv[0]!r}: {exc.strerror}") from exc
        finally:
            if slave is not None:
                os.close(slave)
        session = cls(proc, master)
        session._pump()
        return session

    def _pump(self) -> None:
        if self.master is not None:
            os.set_blocking(self.master, False)
            self._open = 1
            self._tasks.append(asyncio.create_task(self._read_terminal(self.master)))
            return
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._open = 2
        for name, reader in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            self._tasks.append(asyncio.create_task(self._read_pipe(name, reader)))

    async def _read_pipe(self, name: str, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(READ_BYTES):
            await self._queue.put((name, data))
        await self._queue.put(_EOF)

    async def _read_terminal(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop.add_reader(fd, ready.set)
        try:
            while True:
                await ready.wait()
                ready.clear()
                try:
                    data = os.read(fd, READ_BYTES)
                except BlockingIOError:
                    continue
                except OSError as exc:  # EIO: the terminal's last user has gone
                    if exc.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    break
                await self._queue.put(("stdout", data))
        finally:
            loop.remove_reader(fd)
            await self._queue.put(_EOF)

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        while self._open:
            item = await self._queue.get()
            if item == _EOF:
                self._open -= 1
                continue
            yield item

    async def write(self, data: bytes) -> None:
        if self.master is not None:
            await _write_fd(self.master, data)
            return
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing():
            return
        stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is not None:
            await _write_fd(self.master, b"\x04")  # end of input, as a terminal has it
            return
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    def resize(self, height: int, width: int) -> None:
        if self.master is not None and height > 0 and width > 0:
            size = struct.pack("HHHH", min(height, 0xFFFF), min(width, 0xFFFF), 0, 0)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)

    async def wait(self) -> int:
        return await self.proc.wait()

    def kill(self) -> None:
        """Kill the command and everything it started (its own process group)."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def close(self) -> None:
        self.kill()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        if self.master is not None:
            os.close(self.master)
            self.master = None
        with contextlib.suppress(ProcessLookupError):
            await self.proc.wait()


async def _write_fd(fd: int, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            sent = os.write(fd, view)
        except BlockingIOError:
            ready = loop.create_future()
            loop.add_writer(fd, ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_writer(fd)
            continue
        view = view[sent:]
