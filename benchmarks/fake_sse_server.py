"""A fast fake OpenAI-compatible *streaming* server for benchmarks (own process, loopback only).

Answers every `POST .../chat/completions` with a Chat Completions SSE stream of one fixed
structured answer: `--deltas` content chunks, a finish chunk, the usage chunk
(`stream_options.include_usage`) and `data: [DONE]`, in HTTP/1.1 chunked encoding with
keep-alive. The first content event is written `--latency-ms` after the request; the others
follow together `--gap-ms` later (0: all in the same write). Raw asyncio protocol, so the
server costs far less CPU than the client it measures.

Usage: python benchmarks/fake_sse_server.py --latency-ms 50 --deltas 12 --gap-ms 0  (prints the port)
"""

from __future__ import annotations

import argparse
import asyncio
import json

from fake_openai_server import Framed  # the HTTP framing every fake shares

ANSWER = '{"city":"Paris","country":"France","population":2102650}'


def _event(payload: dict[str, object]) -> bytes:
    data = f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


FIRST = '{"city":"Paris",'
"""The first content event when timing the first partial: one complete field."""


def build_events(deltas: int) -> list[bytes]:
    """The chunked-encoded events of one response (without the head): the first piece is
    `FIRST` (a complete field), the rest of the answer follows in `deltas - 1` pieces."""
    rest = ANSWER[len(FIRST) :]
    size = -(-len(rest) // max(deltas - 1, 1))
    pieces = [FIRST] + [rest[i : i + size] for i in range(0, len(rest), size)]
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "model": "bench-model-2026"}
    events = [
        _event({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}], "usage": None})
        for piece in pieces
    ]
    events.append(_event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None}))
    usage = {"prompt_tokens": 60, "completion_tokens": 14, "total_tokens": 74, "prompt_tokens_details": {"cached_tokens": 0}}
    events.append(_event({**base, "choices": [], "usage": usage}))
    done = b"data: [DONE]\n\n"
    events.append(f"{len(done):x}\r\n".encode() + done + b"\r\n" + b"0\r\n\r\n")
    return events


HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\nx-request-id: req_bench\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


class Fake(Framed):
    def __init__(self, latency: float, gap: float, events: list[bytes]) -> None:
        super().__init__()
        self.latency = latency
        self.gap = gap
        self.events = events

    def on_request(self, body: bytes) -> None:
        if not self.gap:
            self.write_after(self.latency, HEAD + b"".join(self.events))
            return
        loop = asyncio.get_running_loop()
        loop.call_later(self.latency, self.write, HEAD + self.events[0])
        loop.call_later(self.latency + self.gap, self.write, b"".join(self.events[1:]))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--gap-ms", type=float, default=0.0)
    parser.add_argument("--deltas", type=int, default=12)
    args = parser.parse_args()
    events = build_events(args.deltas)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Fake(args.latency_ms / 1000, args.gap_ms / 1000, events), "127.0.0.1", args.port, backlog=4096
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
