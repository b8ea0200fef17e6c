"""OIOI requests sent from a process of their own: the HTTP of a big push on a second core.

A worker's HTTP client and its database work (claims, results) share one core in one process (the GIL):
at 64 requests in flight against a 50 ms endpoint that core, not the endpoint, set the pace of a national
push. ``SendingProcess`` starts ``python -m oioi_onboard.oioi.sender``, which holds the ``OioiClient``\\ s
and does the HTTP; the worker keeps claiming and recording, and hands each request body over a pipe.

``SendingProcess.client`` gives a ``RemoteClient`` with ``OioiClient.send_json``'s contract: the answer, or
the same ``errors.OioiError`` the client raised in the other process. If that process dies, the requests in
flight fail as a ``TransportError`` (the worker sends them again) and later ones are sent in this process.
The API key crosses the pipe once, to our own child, and is never written anywhere.

Messages travel in length-prefixed pickles (the messages of one pass of the event loop in one), between this
process and the child it started (nothing else writes to the pipe).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import signal
import subprocess
import sys
from typing import Any

from . import errors

__all__ = ["SendingProcess", "RemoteClient"]

log = logging.getLogger(__name__)
_HEAD = 4  # bytes of a message's length


def _frame(messages: list[tuple]) -> bytes:
    data = pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_HEAD, "big") + data


class _Coalesced:
    """Messages written in one pass of the event loop leave as one frame in one write: a wave of answers is
    one pickle and one system call here, one read and one wake-up on the other side, not one per request."""

    def __init__(self, write: Any):  # bytes -> None
        self._write, self._messages = write, []

    def add(self, message: tuple) -> None:
        if not self._messages:
            asyncio.get_running_loop().call_soon(self.flush)
        self._messages.append(message)

    def flush(self) -> None:
        if self._messages:
            data = _frame(self._messages)
            self._messages = []
            self._write(data)


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    """The next frame (a list of messages), None at the end of the stream."""
    try:
        head = await reader.readexactly(_HEAD)
        return pickle.loads(await reader.readexactly(int.from_bytes(head, "big")))
    except asyncio.IncompleteReadError:
        return None


def _failure(error: Exception) -> tuple[str, dict, str]:
    """An error as it crosses the pipe: its class name, attributes and text."""
    if isinstance(error, errors.OioiError):
        return type(error).__name__, dict(vars(error)), str(error)
    return "TransportError", {}, f"the request failed in the sending process ({type(error).__name__}: {error})"


def _error(name: str, state: dict, text: str) -> errors.OioiError:
    """The error the client raised in the sending process, the same class with the same attributes."""
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.OioiError)):
        cls, state = errors.TransportError, {}
    error = cls.__new__(cls)
    Exception.__init__(error, text)
    error.__dict__.update(state or {"message": text, "status_code": None, "retry_after": None})
    return error


class RemoteClient:
    """``OioiClient.send_json`` through the sending process (or, once it is gone, in this process)."""

    def __init__(self, process: SendingProcess, number: int, settings: dict[str, Any]):
        self._process, self._number, self._settings = process, number, settings
        self._local = None

    async def send_json(self, content: bytes, kind: str) -> dict:
        if self._local is None and not self._process.gone:
            return await self._process.send(self._number, content, kind)
        if self._local is None:
            from .client import OioiClient

            self._local = OioiClient(**self._settings)
        return await self._local.send_json(content, kind)

    async def aclose(self) -> None:
        self._process.forget(self._number)
        if self._local is not None:
            await self._local.aclose()


class SendingProcess:
    """The child process that sends. ``spawn`` starts it (it then imports its HTTP stack, ~0.7 s, while this
    process does something else: a push reads its file meanwhile); ``start`` connects to it in the event loop
    that will use it (spawning it first if need be), and ``aclose`` ends it there. One spawned but never
    started ends with ``discard``."""

    def __init__(self) -> None:
        self._child: subprocess.Popen | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._reader: asyncio.Task | None = None
        self._waiting: dict[int, asyncio.Future] = {}
        self._numbers = 0
        self._out = _Coalesced(self._write_now)
        self.gone = False

    def spawn(self) -> SendingProcess:
        # A group of its own: Ctrl-C in the terminal reaches the worker, which ends the child's input when
        # its requests are in; the child must not die of it halfway through its imports.
        self._child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, process_group=0)
        return self

    async def start(self) -> None:
        if self._child is None:
            self.spawn()
        loop = asyncio.get_running_loop()
        stdout = asyncio.StreamReader(limit=2**26)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdout), self._child.stdout)
        self._stdin, _ = await loop.connect_write_pipe(asyncio.Protocol, self._child.stdin)
        self._reader = asyncio.create_task(self._read_answers(stdout))

    def discard(self) -> None:
        """End a child that was spawned and never started (the push had too little to send, or failed)."""
        if self._child is None or self._stdin is not None:
            return
        self._child.stdin.close()  # it ends at the end of its input
        self._end(timeout=5)
        self._child.stdout.close()

    def _end(self, timeout: float) -> None:
        """Wait for the child, whose input is closed, to end; kill it after ``timeout`` seconds."""
        try:
            self._child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()

    def client(self, endpoint: str, api_key: str, **settings: Any) -> RemoteClient:
        """A client for one endpoint and key (``OioiClient``'s keyword arguments)."""
        self._numbers += 1
        settings = {"endpoint": endpoint, "api_key": api_key, **settings}
        self._write(("open", self._numbers, settings))
        return RemoteClient(self, self._numbers, settings)

    def forget(self, number: int) -> None:
        self._write(("close", number))

    async def send(self, number: int, content: bytes, kind: str) -> dict:
        self._numbers += 1
        request = self._numbers
        answer = asyncio.get_running_loop().create_future()
        self._waiting[request] = answer
        self._write(("send", request, number, content, kind))
        ok, value = await answer
        if ok:
            return value
        raise _error(*value)

    def _write(self, message: tuple) -> None:
        if self.gone or self._stdin is None or self._stdin.is_closing():
            self.gone = True
            return
        self._out.add(message)

    def _write_now(self, data: bytes) -> None:
        if self._stdin.is_closing():  # the reader's end fails the requests still waiting
            self.gone = True
            return
        self._stdin.write(data)

    async def _read_answers(self, stdout: asyncio.StreamReader) -> None:
        try:
            while (messages := await _read_frame(stdout)) is not None:
                for request, ok, value in messages:
                    answer = self._waiting.pop(request, None)
                    if answer is not None and not answer.done():
                        answer.set_result((ok, value))
        except Exception:  # noqa: BLE001 - a broken pipe or message ends the process's part, never the worker
            log.exception("reading from the sending process failed")
        finally:
            self.gone = True
            lost = ("TransportError", {}, "the sending process stopped before the answer came back")
            for answer in self._waiting.values():
                if not answer.done():
                    answer.set_result((False, lost))
            self._waiting.clear()

    async def aclose(self) -> None:
        """Let the requests in flight finish, then end the child (at the latest after a few seconds)."""
        if self._stdin is None:
            return
        self._out.flush()
        self._stdin.close()  # the child ends at the end of its input, after its requests
        await asyncio.to_thread(self._end, 15)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


# --- the child ------------------------------------------------------------------------------------


async def _serve() -> None:
    from .client import OioiClient

    # Ctrl-C and SIGTERM go to the worker, which stops gracefully and then ends this input: the requests in
    # flight here finish and their answers go back first.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout.buffer)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    clients: dict[int, OioiClient] = {}
    sending: set[asyncio.Task] = set()
    out = _Coalesced(writer.write)

    async def send(request: int, client: OioiClient | None, content: bytes, kind: str) -> None:
        try:
            if client is None:  # closed meanwhile (a new key): the worker sends it again
                raise errors.TransportError(f"{kind}: the client was closed before the request went out")
            answer = (request, True, await client.send_json(content, kind))
        except Exception as error:  # noqa: BLE001 - every failure goes back to the worker
            answer = (request, False, _failure(error))
        out.add(answer)

    while (messages := await _read_frame(reader)) is not None:
        for message in messages:
            if message[0] == "send":
                _, request, number, content, kind = message
                task = asyncio.create_task(send(request, clients.get(number), content, kind))
                sending.add(task)
                task.add_done_callback(sending.discard)
            elif message[0] == "open":
                clients[message[1]] = OioiClient(**message[2])
            elif message[0] == "close" and (client := clients.pop(message[1], None)) is not None:
                await client.aclose()
    await asyncio.gather(*sending)
    for client in clients.values():
        await client.aclose()
    with contextlib.suppress(ConnectionError):  # the worker was killed: nobody reads the answers
        out.flush()
        await writer.drain()
        writer.close()


if __name__ == "__main__":
    try:  # uvloop where it is installed, as the worker's own loop
        import uvloop
    except ImportError:
        asyncio.run(_serve())
    else:
        uvloop.run(_serve())
