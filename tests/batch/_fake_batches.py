"""A loopback fake of the OpenAI Batch and Anthropic Message Batches APIs (a real HTTP server).

Built from the public API reference's request and response shapes:

- OpenAI: `POST /v1/files` (multipart, `purpose=batch`, a JSONL file of
  `{"custom_id", "method": "POST", "url", "body"}` lines) -> file object; `POST /v1/batches`
  (`input_file_id`, `endpoint`, `completion_window: "24h"`) -> batch object whose `status` goes
  `validating` -> `in_progress` -> `completed` (or `failed` when a line is malformed);
  `GET /v1/batches/{id}`; `GET /v1/files/{id}/content` -> JSONL of
  `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`;
  `POST /v1/batches/{id}/cancel`.
- Anthropic: `POST /v1/messages/batches` (`{"requests": [{"custom_id", "params"}]}`) ->
  `message_batch` with `processing_status: "in_progress"`, then `"ended"` with `results_url`;
  results are JSONL of `{"custom_id", "result": {"type": "succeeded", "message"} | {"type":
  "errored", "error": {"type": "error", "error": {...}}} | {"type": "expired"}}`.

A `responder(kind, custom_id, body)` decides each request's answer: a dict (the model's JSON
output, wrapped in a chat completion or message), a string (raw text), or `Fail(...)`.
"""

from __future__ import annotations

import contextlib
import email.parser
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ("Fail", "FakeBatches", "fake_batches")

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Fail:
    """Answer one request with an error: an HTTP status (OpenAI) / error type, or `expired`."""

    status: int = 500
    message: str = "server_error"
    expired: bool = False


Responder = Callable[[str, str, dict[str, Any]], "dict[str, Any] | str | Fail"]


@dataclass
class FakeBatches:
    """The server's state, for assertions."""

    responder: Responder
    polls_until_done: int = 1
    usage: tuple[int, int] = (100, 20)
    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict[str, bytes])
    batches: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    submitted: list[list[dict[str, Any]]] = field(default_factory=list[list[dict[str, Any]]])
    """Each batch's request lines (OpenAI) or requests (Anthropic), in submission order."""
    status_polls: int = 0
    cancelled: list[str] = field(default_factory=list[str])
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- answers ------------------------------------------------------------------------------

    def _answer(self, kind: str, custom_id: str, body: dict[str, Any]) -> dict[str, Any] | Fail:
        reply = self.responder(kind, custom_id, body)
        if isinstance(reply, Fail):
            return reply
        text = reply if isinstance(reply, str) else json.dumps(reply)
        n = next(self.ids)
        if kind == "openai":
            return {
                "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1764800000,
                "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text, "refusal": None}}],
                "usage": {"prompt_tokens": self.usage[0], "completion_tokens": self.usage[1],
                          "total_tokens": sum(self.usage), "prompt_tokens_details": {"cached_tokens": 0}},
                "service_tier": "batch",
            }
        return {
            "id": f"msg_{n:04d}", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": self.usage[0], "output_tokens": self.usage[1],
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "service_tier": "batch"},
        }

    def _finish_openai(self, batch: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        out: list[str] = []
        errors: list[str] = []
        for line in lines:
            n = next(self.ids)
            answer = self._answer("openai", line["custom_id"], line["body"])
            if isinstance(answer, Fail) and answer.expired:
                errors.append(json.dumps({"id": f"batch_req_{n}", "custom_id": line["custom_id"], "response": None,
                                          "error": {"code": "batch_expired",
                                                    "message": "This request could not be executed before the completion window expired."}}))
            elif isinstance(answer, Fail):
                errors.append(json.dumps({"id": f"batch_req_{n}", "custom_id": line["custom_id"],
                                          "response": {"status_code": answer.status, "request_id": f"req_{n}",
                                                       "body": {"error": {"message": answer.message, "type": "server_error"}}},
                                          "error": None}))
            else:
                out.append(json.dumps({"id": f"batch_req_{n}", "custom_id": line["custom_id"],
                                       "response": {"status_code": 200, "request_id": f"req_{n}", "body": answer},
                                       "error": None}))
        if out:
            batch["output_file_id"] = self._store("\n".join(out) + "\n")
        if errors:
            batch["error_file_id"] = self._store("\n".join(errors) + "\n")
        batch["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(errors)}
        batch["status"] = "completed"

    def _finish_anthropic(self, batch: dict[str, Any], requests: list[dict[str, Any]]) -> None:
        rows: list[str] = []
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for request in requests:
            answer = self._answer("anthropic", request["custom_id"], request["params"])
            if isinstance(answer, Fail) and answer.expired:
                result: dict[str, Any] = {"type": "expired"}
                counts["expired"] += 1
            elif isinstance(answer, Fail):
                result = {"type": "errored", "error": {"type": "error", "error": {"type": "api_error", "message": answer.message}}}
                counts["errored"] += 1
            else:
                result = {"type": "succeeded", "message": answer}
                counts["succeeded"] += 1
            rows.append(json.dumps({"custom_id": request["custom_id"], "result": result}))
        batch["_results"] = ("\n".join(rows) + "\n").encode()
        batch["request_counts"] = counts
        batch["processing_status"] = "ended"
        batch["ended_at"] = "2026-12-04T12:00:00Z"
        batch["results_url"] = f"{self.base}/v1/messages/batches/{batch['id']}/results"

    def _store(self, text: str) -> str:
        file_id = f"file-{next(self.ids)}"
        self.files[file_id] = text.encode()
        return file_id


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _authorized(self) -> bool:
        if self.path.startswith("/v1/messages"):
            ok = bool(self.headers.get("x-api-key")) and bool(self.headers.get("anthropic-version"))
        else:
            ok = (self.headers.get("authorization") or "").startswith("Bearer ")
        if not ok:
            self._error(401, "missing or invalid credentials")
        return ok

    def do_POST(self) -> None:
        if not self._authorized():
            return
        fake = self.server.fake
        raw = self._body()
        with fake.lock:
            if self.path == "/v1/files":
                self._upload(fake, raw)
            elif self.path == "/v1/batches":
                self._create_openai(fake, raw)
            elif self.path == "/v1/messages/batches":
                self._create_anthropic(fake, raw)
            elif m := re.fullmatch(r"/v1/(?:messages/)?batches/([\w-]+)/cancel", self.path):
                batch = fake.batches.get(m.group(1))
                if batch is None:
                    return self._error(404, "no such batch")
                fake.cancelled.append(m.group(1))
                if "processing_status" in batch:
                    batch["processing_status"] = "canceling"
                else:
                    batch["status"] = "cancelling"
                self._send(200, batch)
            else:
                self._error(404, f"unknown path {self.path}")

    def do_GET(self) -> None:
        if not self._authorized():
            return
        fake = self.server.fake
        with fake.lock:
            if m := re.fullmatch(r"/v1/files/([\w-]+)/content", self.path):
                content = fake.files.get(m.group(1))
                if content is None:
                    return self._error(404, "no such file")
                return self._send(200, content, "application/octet-stream")
            if m := re.fullmatch(r"/v1/(messages/)?batches/([\w-]+)(/results)?", self.path):
                batch = fake.batches.get(m.group(2))
                if batch is None:
                    return self._error(404, "no such batch")
                if m.group(3):
                    if batch.get("processing_status") != "ended":
                        return self._error(400, "the batch is still processing")
                    return self._send(200, batch["_results"], "application/binary")
                fake.status_polls += 1
                batch["_polls"] += 1
                if batch["_polls"] >= fake.polls_until_done and not batch.get("_done"):
                    batch["_done"] = True
                    if "processing_status" in batch:
                        fake._finish_anthropic(batch, batch["_requests"])
                    else:
                        fake._finish_openai(batch, batch["_requests"])
                elif "status" in batch and batch["status"] == "validating":
                    batch["status"] = "in_progress"
                return self._send(200, {k: v for k, v in batch.items() if not k.startswith("_")})
            self._error(404, f"unknown path {self.path}")

    # -- OpenAI ---------------------------------------------------------------------------

    def _upload(self, fake: FakeBatches, raw: bytes) -> None:
        content_type = self.headers.get("content-type") or ""
        if not content_type.startswith("multipart/form-data"):
            return self._error(400, "expected multipart/form-data")
        message = email.parser.BytesParser().parsebytes(b"content-type: " + content_type.encode() + b"\r\n\r\n" + raw)
        fields: dict[str, bytes] = {}
        for part in message.get_payload():  # type: ignore[union-attr]
            name = part.get_param("name", header="content-disposition")  # type: ignore[union-attr]
            fields[str(name)] = part.get_payload(decode=True)  # type: ignore[union-attr]
        if fields.get("purpose") != b"batch" or "file" not in fields:
            return self._error(400, "purpose must be 'batch' and a file must be attached")
        file_id = fake._store(fields["file"].decode())
        self._send(200, {"id": file_id, "object": "file", "bytes": len(fields["file"]), "created_at": 1764800000,
                         "filename": "batch.jsonl", "purpose": "batch"})

    def _create_openai(self, fake: FakeBatches, raw: bytes) -> None:
        body = json.loads(raw)
        if body.get("completion_window") != "24h":
            return self._error(400, "completion_window must be '24h'")
        endpoint = body.get("endpoint")
        if endpoint not in ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions"):
            return self._error(400, f"unsupported endpoint {endpoint!r}")
        content = fake.files.get(body.get("input_file_id", ""))
        if content is None:
            return self._error(404, "no such input file")
        lines = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        fake.submitted.append(lines)
        batch_id = f"batch_{next(fake.ids)}"
        batch: dict[str, Any] = {
            "id": batch_id, "object": "batch", "endpoint": endpoint, "errors": None,
            "input_file_id": body["input_file_id"], "completion_window": "24h", "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": 1764800000,
            "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": body.get("metadata"),
            "_polls": 0, "_requests": lines,
        }
        problems = []
        seen: set[str] = set()
        for i, line in enumerate(lines):
            if line.get("method") != "POST" or line.get("url") != endpoint or not isinstance(line.get("body"), dict):
                problems.append({"code": "invalid_request", "message": f"line {i + 1}: method, url or body is wrong", "line": i + 1})
            if line.get("custom_id") in seen:
                problems.append({"code": "duplicate_custom_id", "message": f"line {i + 1}: duplicate custom_id", "line": i + 1})
            seen.add(line.get("custom_id"))
        if problems:
            batch.update(status="failed", errors={"object": "list", "data": problems}, _done=True)
        fake.batches[batch_id] = batch
        self._send(200, {k: v for k, v in batch.items() if not k.startswith("_")})

    # -- Anthropic ------------------------------------------------------------------------

    def _create_anthropic(self, fake: FakeBatches, raw: bytes) -> None:
        body = json.loads(raw)
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return self._error(400, "requests: field required")
        for request in requests:
            if not _CUSTOM_ID.match(str(request.get("custom_id"))):
                return self._error(400, "custom_id must match ^[a-zA-Z0-9_-]{1,64}$")
            params = request.get("params") or {}
            if not {"model", "max_tokens", "messages"} <= set(params):
                return self._error(400, "params: model, max_tokens and messages are required")
        fake.submitted.append(requests)
        batch_id = f"msgbatch_{next(fake.ids):06d}"
        batch: dict[str, Any] = {
            "id": batch_id, "type": "message_batch", "processing_status": "in_progress",
            "request_counts": {"processing": len(requests), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "ended_at": None, "created_at": "2026-12-04T11:00:00Z", "expires_at": "2026-12-05T11:00:00Z",
            "cancel_initiated_at": None, "results_url": None, "archived_at": None,
            "_polls": 0, "_requests": requests,
        }
        fake.batches[batch_id] = batch
        self._send(200, {k: v for k, v in batch.items() if not k.startswith("_")})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeBatches


@contextlib.contextmanager
def fake_batches(responder: Responder, *, polls_until_done: int = 1, usage: tuple[int, int] = (100, 20)) -> Iterator[FakeBatches]:
    """Serve the fake on a free loopback port for the scope; `fake.base` is `http://127.0.0.1:PORT`."""
    server = _Server(("127.0.0.1", 0), _Handler)
    fake = FakeBatches(responder, polls_until_done=polls_until_done, usage=usage)
    fake.base = f"http://127.0.0.1:{server.server_address[1]}"
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
