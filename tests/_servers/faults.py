"""`FaultServer`: a real HTTP/1.1 server on 127.0.0.1 that answers each request as scripted.

It runs its own asyncio loop on a daemon thread (so it serves sync tests, async tests under
asyncio or trio, and benchmarks alike) and keeps connections alive like a real API. Each
request takes the next scripted `Fault` (the last one repeats), which may misbehave:

- `Fault(json=...)` / `Fault(status=500, json=...)`: an ordinary answer;
- `drip=0.2`: send the headers, then the body one byte every 0.2 s;
- `stall=True`: accept the request and never answer (until the server closes);
- `delay=0.5`: answer after half a second;
- `raw=b"..."`: a body that is not JSON (or JSON with `Infinity`);
- `declare_length=N`: a `content-length` of N whatever the body (a huge-body claim);
- `stream_bytes=N`: a chunked body of N bytes of padding (a huge body for real);
- `close=True`: drop the connection without answering;
- `content_type="text/event-stream"`: the body's type (`application/json` unless said), e.g.
  a `raw=` stream of server-sent events.

Everything stops with `close()` (or the `with` block); stalled handlers are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ("Fault", "FaultServer", "Received", "anthropic_reply", "chat_reply", "gemini_reply")


@dataclass(frozen=True)
class Fault:
    """How to answer one request."""

    status: int = 200
    json: Any = None
    raw: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict[str, str])
    delay: float = 0.0
    drip: float | None = None
    stall: bool = False
    close: bool = False
    declare_length: int | None = None
    stream_bytes: int | None = None
    content_type: str = "application/json"

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.json if self.json is not None else {}).encode()


@dataclass(frozen=True)
class Received:
    """One request the server got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests", 500: "Internal Server Error"}


class FaultServer:
    """An HTTP server on 127.0.0.1 that answers as scripted (see the module docstring).

    Example:
        ```python
        with FaultServer() as server:
            server.script(Fault(status=500, json={"error": {"message": "x"}}), Fault(json=chat_reply("hi")))
            provider = OpenAICompatible(server.url + "/v1", name="local")
        ```
    """

    def __init__(self, default: Fault | None = None) -> None:
        self._faults: list[Fault] = []
        self._cycle = False
        self._turn = 0
        self._default = default or Fault(json=chat_reply('{"value": "ok"}'))
        self._lock = threading.Lock()
        self.requests: list[Received] = []
        self._loop = asyncio.new_event_loop()
        self._handlers: set[asyncio.Task[None]] = set()
        self._stop: asyncio.Event | None = None
        ready = threading.Event()
        self._port = 0
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="fault-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fault server did not start")

    # -- scripting -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (append the API's path, e.g. `/v1`)."""
        return f"http://127.0.0.1:{self._port}"

    def script(self, *faults: Fault) -> FaultServer:
        """Answer the next requests with `faults` in order; the last one then repeats."""
        with self._lock:
            self._faults = list(faults)
            self._cycle = False
        return self

    def cycle(self, *faults: Fault) -> FaultServer:
        """Answer requests with `faults` in turn, over and over (e.g. a 500, then a 200, ...)."""
        with self._lock:
            self._faults = list(faults)
            self._cycle = True
            self._turn = 0
        return self

    def always(self, fault: Fault) -> FaultServer:
        """Answer every request with `fault`."""
        return self.script(fault)

    def _next(self) -> Fault:
        with self._lock:
            if self._cycle and self._faults:
                self._turn += 1
                return self._faults[(self._turn - 1) % len(self._faults)]
            if len(self._faults) > 1:
                return self._faults.pop(0)
            return self._faults[0] if self._faults else self._default

    # -- serving ---------------------------------------------------------------------------

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=2048)
            self._port = server.sockets[0].getsockname()[1]
            ready.set()
            async with server:
                await self._stop.wait()
                server.close()
                for task in list(self._handlers):
                    task.cancel()
                await asyncio.gather(*self._handlers, return_exceptions=True)

        self._loop.run_until_complete(main())
        self._loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                try:
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                except asyncio.IncompleteReadError:
                    return
                with self._lock:
                    self.requests.append(Received(method, path, headers, body))
                if not await self._answer(self._next(), writer):
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, fault: Fault, writer: asyncio.StreamWriter) -> bool:
        """Write one answer; False when the connection must close afterwards."""
        if fault.stall:
            await asyncio.Event().wait()  # until the server closes
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.close:
            return False
        body = fault.body()
        head = [f"HTTP/1.1 {fault.status} {_REASONS.get(fault.status, 'Status')}", f"content-type: {fault.content_type}"]
        head += [f"{k}: {v}" for k, v in fault.headers.items()]
        if fault.stream_bytes is not None:
            head.append("transfer-encoding: chunked")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
            chunk = b" " * 65536
            left = fault.stream_bytes
            while left > 0:
                piece = chunk[: min(left, len(chunk))]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                left -= len(piece)
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        head.append(f"content-length: {fault.declare_length if fault.declare_length is not None else len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        if fault.drip is None:
            writer.write(body)
            await writer.drain()
            return fault.declare_length is None
        await writer.drain()
        for i in range(len(body)):
            await asyncio.sleep(fault.drip)
            writer.write(body[i : i + 1])
            await writer.drain()
        return True

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving, cancel stalled answers and join the thread."""
        stop = self._stop
        if stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(10)

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- reply bodies of each dialect ------------------------------------------------------------


def chat_reply(
    content: Any = "ok",
    *,
    finish_reason: str = "stop",
    usage: Mapping[str, Any] | None = None,
    model: str = "served-model",
    no_usage: bool = False,
) -> dict[str, Any]:
    """An OpenAI Chat Completions reply."""
    body: dict[str, Any] = {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": content}}],
    }
    if not no_usage:
        body["usage"] = dict(usage) if usage is not None else {"prompt_tokens": 50, "completion_tokens": 10}
    return body


def anthropic_reply(text: str = "ok", *, usage: Mapping[str, Any] | None = None, stop_reason: str = "end_turn") -> dict[str, Any]:
    """An Anthropic Messages reply."""
    return {
        "id": "msg_fault",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "usage": dict(usage) if usage is not None else {"input_tokens": 50, "output_tokens": 10},
    }


def gemini_reply(text: str = "ok", *, usage: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Gemini generateContent reply."""
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
        "usageMetadata": dict(usage) if usage is not None else {"promptTokenCount": 50, "candidatesTokenCount": 10},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "fault",
    }


@contextlib.contextmanager
def running(default: Fault | None = None) -> Iterator[FaultServer]:
    """`FaultServer` as a context manager function (for fixtures)."""
    server = FaultServer(default)
    try:
        yield server
    finally:
        server.close()
