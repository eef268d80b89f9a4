"""A loopback HTTP server posing as every provider dialect, for record/replay tests.

It answers OpenAI Chat Completions, OpenAI Responses, Anthropic Messages and Gemini
`generateContent` with schema-valid data (generated from the schema the request carries),
gzip-compresses bodies when asked, plants secrets to scrub (a `set-cookie`, an
`openai-organization` header, and the caller's key echoed in the body), and counts requests
so a replay can prove the server was never reached.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stratum.testing._schema_data import generate

PLANTED_KEY = "sk-planted-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
"""A key-shaped secret the tests send and then look for in the written cassette."""


def _schema_of(path: str, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if path.endswith("/chat/completions"):
        fmt = body.get("response_format") or {}
        return (fmt.get("json_schema") or {}).get("schema")
    if path.endswith("/responses"):
        return ((body.get("text") or {}).get("format") or {}).get("schema")
    if path.endswith("/messages"):
        tools = body.get("tools") or []
        if tools:
            return tools[0].get("input_schema")
        return ((body.get("output_config") or {}).get("format") or {}).get("schema")
    if ":generateContent" in path:
        return (body.get("generationConfig") or {}).get("responseJsonSchema")
    return None


def answer(path: str, body: Mapping[str, Any], echo: str) -> dict[str, Any]:
    """The provider-shaped response to `body` (deterministic for the same body)."""
    seed = int(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8], 16)
    schema = _schema_of(path, body)
    value: Any = generate(schema, random.Random(seed)) if schema is not None else "pong from the fake server"
    text = value if isinstance(value, str) else json.dumps(value)
    model = str(body.get("model") or path.rsplit("/", 1)[-1].split(":")[0])
    if path.endswith("/chat/completions"):
        return {
            "id": f"chatcmpl-{seed}",
            "object": "chat.completion",
            "model": f"{model}-2026-01-01",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30},
            "echo": echo,
        }
    if path.endswith("/responses"):
        return {
            "id": f"resp_{seed}",
            "object": "response",
            "status": "completed",
            "model": model,
            "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}],
            "usage": {"input_tokens": 21, "output_tokens": 9, "total_tokens": 30},
            "echo": echo,
        }
    if path.endswith("/messages"):
        tools = body.get("tools") or []
        block: dict[str, Any] = (
            {"type": "tool_use", "id": "toolu_1", "name": tools[0]["name"], "input": value}
            if tools
            else {"type": "text", "text": text}
        )
        return {
            "id": f"msg_{seed}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": "tool_use" if tools else "end_turn",
            "usage": {"input_tokens": 21, "output_tokens": 9},
            "echo": echo,
        }
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 21, "candidatesTokenCount": 9, "totalTokenCount": 30},
        "modelVersion": model,
        "echo": echo,
    }


class FakeProviders:
    """The running server: `.url`, `.hits` (requests served), `.fail_next` (statuses to send first)."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.hits = 0
        self.fail_next: list[tuple[int, dict[str, str]]] = []
        self.lock = threading.Lock()


@contextmanager
def fake_providers() -> Iterator[FakeProviders]:
    """Start the server on 127.0.0.1 (a free port) for the block."""
    state: dict[str, FakeProviders] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            return

        def do_POST(self) -> None:
            fake = state["fake"]
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            with fake.lock:
                fake.hits += 1
                failure = fake.fail_next.pop(0) if fake.fail_next else None
            if failure is not None:
                status, headers = failure
                payload = json.dumps({"error": {"message": "injected", "type": "server_error"}}).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            body = json.loads(raw or b"{}")
            echo = (
                self.headers.get("authorization")
                or self.headers.get("x-api-key")
                or self.headers.get("x-goog-api-key")
                or ""
            )
            payload = json.dumps(answer(self.path.split("?")[0], body, echo)).encode()
            gzipped = "gzip" in (self.headers.get("accept-encoding") or "")
            if gzipped:
                payload = gzip.compress(payload)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            if gzipped:
                self.send_header("content-encoding", "gzip")
            self.send_header("content-length", str(len(payload)))
            self.send_header("set-cookie", "__cf_bm=planted-cookie-value-123456; path=/")
            self.send_header("openai-organization", "org-planted-organization")
            self.send_header("x-request-id", "req_fake_1")
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["fake"] = fake = FakeProviders(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
