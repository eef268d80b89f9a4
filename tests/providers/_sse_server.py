"""A real loopback HTTP server that streams server-sent events the way a test scripts them.

Each connection reads one request and runs the test's `script(conn)`: it sends the head
and then chunks of the body (HTTP/1.1 chunked encoding), may wait on events between chunks,
and may drop the connection without the final chunk (a stream cut mid-way). The server stops
with the task group that started it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
from anyio.abc import SocketStream


@dataclass
class Conn:
    """One accepted connection."""

    stream: SocketStream
    request: bytes = b""
    closed_by_client: anyio.Event = field(default_factory=anyio.Event)

    async def head(self, status: int = 200, content_type: str = "text/event-stream") -> None:
        await self.stream.send(
            f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n".encode()
        )

    async def chunk(self, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        await self.stream.send(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")

    async def end(self) -> None:
        await self.stream.send(b"0\r\n\r\n")

    async def wait_closed(self) -> None:
        """Return when the client closes its side (e.g. it left the stream early)."""
        try:
            while await self.stream.receive():
                pass
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        self.closed_by_client.set()


Script = Callable[[Conn], Awaitable[None]]


@dataclass
class SSEServer:
    url: str
    conns: list[Conn] = field(default_factory=list[Conn])


async def _read_request(stream: SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        rest += await stream.receive()
    return head + b"\r\n\r\n" + rest


@asynccontextmanager
async def sse_server(*scripts: Script) -> AsyncIterator[SSEServer]:
    """Serve on 127.0.0.1; connection N runs `scripts[N]` (the last one repeats)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    server = SSEServer(url=f"http://127.0.0.1:{port}/v1")

    async def handle(stream: SocketStream) -> None:
        async with stream:
            conn = Conn(stream)
            server.conns.append(conn)
            script = scripts[min(len(server.conns) - 1, len(scripts) - 1)]
            try:
                conn.request = await _read_request(stream)
                await script(conn)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
                conn.closed_by_client.set()

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()
