"""A fast fake OpenAI-compatible server that plays one tool round (benchmarks only).

A `POST .../chat/completions` whose messages carry no tool result is answered with a call of
the `lookup_order` function; one that carries a tool result (`"tool_call_id"` in the body) is
answered with the final structured answer. After `--latency-ms`, over HTTP/1.1 keep-alive,
raw asyncio protocol (it must cost far less CPU than the client it measures, and runs in its
own process anyway).

Usage: python benchmarks/fake_tool_server.py --port 0 --latency-ms 50   (prints the port)
"""

from __future__ import annotations

import argparse
import asyncio
import json

from fake_openai_server import Framed  # the HTTP framing every fake shares


def _response(message: dict[str, object], finish: str, usage: tuple[int, int]) -> bytes:
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "model": "bench-model-2026",
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        }
    ).encode()
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req_bench\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )


CALL = _response(
    {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [
            {"id": "call_bench_1", "type": "function", "function": {"name": "lookup_order", "arguments": '{"order_id":"A-17"}'}}
        ],
    },
    "tool_calls",
    (90, 12),
)
ANSWER = _response(
    {"role": "assistant", "content": '{"order_id":"A-17","refundable":true,"reason":"shipped 3 days ago"}', "refusal": None},
    "stop",
    (130, 20),
)


class Fake(Framed):
    def __init__(self, latency: float) -> None:
        super().__init__()
        self.latency = latency

    def on_request(self, body: bytes) -> None:
        self.write_after(self.latency, ANSWER if b'"tool_call_id"' in body else CALL)


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
