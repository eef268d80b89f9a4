"""A fast fake OpenAI-compatible server for benchmarks (its own process, loopback only).

Answers every `POST .../chat/completions` with one fixed structured completion after
`--latency-ms`, over HTTP/1.1 keep-alive. Raw asyncio protocol: the server must cost far
less CPU than the client it measures (and it runs in another process anyway).

Usage: python benchmarks/fake_openai_server.py --port 0 --latency-ms 50   (prints the port)
"""

from __future__ import annotations

import argparse
import asyncio
import json

BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "bench-model-2026",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": '{"city":"Paris","country":"France","population":2102650}', "refusal": None},
            }
        ],
        "usage": {"prompt_tokens": 60, "completion_tokens": 14, "total_tokens": 74, "prompt_tokens_details": {"cached_tokens": 0}},
    }
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req_bench\r\n"
    + f"content-length: {len(BODY)}\r\n\r\n".encode()
    + BODY
)


class Framed(asyncio.Protocol):
    """HTTP/1.1 keep-alive framing: each complete request (head + content-length body) goes to
    `on_request`; `write` answers on the connection if it is still open. The other fake servers
    of the benchmarks subclass it."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                end = head.find(b"\r\n", at)
                length = int(head[at + 15 : end if end > 0 else None].strip())
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            body = self.buffer[head_end + 4 : total]
            self.buffer = self.buffer[total:]
            self.on_request(body)

    def on_request(self, body: bytes) -> None:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def write_after(self, delay: float, data: bytes) -> None:
        if delay:
            asyncio.get_running_loop().call_later(delay, self.write, data)
        else:
            self.write(data)


class Fake(Framed):
    def __init__(self, latency: float) -> None:
        super().__init__()
        self.latency = latency

    def on_request(self, body: bytes) -> None:
        self.write_after(self.latency, RESPONSE)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Fake(args.latency_ms / 1000), "127.0.0.1", args.port, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()  # a faster server if available; the client always runs stock asyncio
    except ImportError:
        pass
    asyncio.run(main())
