"""Safety: plans never make the server read files or URLs, regexes and ensure are bounded,
a slow check never blocks other calls, and responses for 500-step plans stay small."""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from stratum.mcp import Engine
from stratum.mcp._schema import schema_violations

SRC = str(Path(__file__).resolve().parents[2] / "src")
CATASTROPHIC = r"(\w+\s?)*$"
"""Backtracks for seconds on a long word followed by '!' (tested against the `regex` engine)."""
CHARS_PER_TOKEN = 3
"""A conservative tokenizer stand-in: JSON averages more than 3 characters per token."""


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = b'{"type": "string"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


def test_refs_to_files_and_urls_are_refused_and_never_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"const": "TOP-SECRET-VALUE"}')
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/schema.json"
        engine = Engine(tmp_path / ".stratum")
        for ref in (secret.as_uri(), url):
            plan = {"steps": [{"id": "a", "intent": "b", "output": {"type": "object", "properties": {"x": {"$ref": ref}}}}]}
            errors = engine.validate(plan)["errors"]
            assert [e["code"] for e in errors] == ["unsafe_ref"], errors
        # Even a schema that slipped past validation cannot fetch: the validator's registry holds meta-schemas only.
        for ref in (secret.as_uri(), url):
            out = schema_violations({"properties": {"x": {"$ref": ref}}}, {"x": "leak?"})
            assert "TOP-SECRET-VALUE" not in json.dumps(out)
        assert _Recorder.hits == []
    finally:
        server.shutdown()
        server.server_close()


def test_schema_pattern_and_guardrails_are_time_bounded_and_fail_closed(tmp_path: Path) -> None:
    text = "a" * 5000 + "!"
    out = schema_violations({"type": "string", "pattern": CATASTROPHIC}, text)
    assert out and "took too long" in out[0]
    engine = Engine(tmp_path)
    plan = {"steps": [{"id": "a", "intent": "b", "guardrails": [CATASTROPHIC]}]}
    pid = engine.create(plan)["plan_id"]
    engine.approve(pid, "eve")
    result = engine.step_done(pid, "a", {"text": text})
    assert result["status"] == "retry"
    assert "did not finish in time; the result is refused (fail-closed)" in result["violations"][0]


@pytest.mark.parametrize("source", [
    "[[0] * 100000] * 100000 == [[0] * 100000] * 100000",
    "[[[0] * 1000] * 1000] * 1000 == [[[0] * 1000] * 1000] * 1000",
    "[result.big] * 100000 == [result.big] * 100000",
])
def test_ensure_over_nested_lists_is_bounded(tmp_path: Path, source: str) -> None:
    engine = Engine(tmp_path)
    pid = engine.create({"steps": [{"id": "a", "intent": "b", "ensure": source}]})["plan_id"]
    engine.approve(pid, "eve")
    out = engine.step_done(pid, "a", {"big": list(range(1000))})
    assert "over the 100000 limit" in out["violations"][0]


def _params(directory: Path) -> StdioServerParameters:
    env = {"PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return StdioServerParameters(command=sys.executable, args=["-m", "stratum.mcp", "--dir", str(directory)], env=env, cwd=str(directory))


@pytest.mark.anyio
async def test_a_slow_check_does_not_block_other_calls(tmp_path: Path) -> None:
    plan = {"steps": [{"id": "slow", "intent": "x", "guardrails": [CATASTROPHIC] * 8}]}
    finished: list[str] = []
    with open(os.devnull, "w") as errlog:
        async with stdio_client(_params(tmp_path), errlog=errlog) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            pid = (await s.call_tool("stratum_plan", {"plan": plan})).structured_content["plan_id"]  # type: ignore[index]
            await s.call_tool("stratum_approve", {"plan_id": pid, "approved_by": "eve"})

            async def slow() -> None:
                await s.call_tool("stratum_step_done", {"plan_id": pid, "step_id": "slow", "result": {"t": "a" * 5000 + "!"}})
                finished.append("slow")

            async def quick() -> None:
                await anyio.sleep(0.2)
                started = time.monotonic()
                out = await s.call_tool("stratum_status", {"plan_id": pid})
                assert out.structured_content is not None and out.structured_content["status"] == "approved"
                finished.append(f"quick {time.monotonic() - started:.2f}s")

            async with anyio.create_task_group() as tg:
                tg.start_soon(slow)
                tg.start_soon(quick)
    assert finished[0].startswith("quick"), finished


def _big_plan(n: int) -> dict[str, Any]:
    contracts = {
        "Tests": {"type": "object", "properties": {"passed": {"type": "integer"}, "total": {"type": "integer"}, "failures": {"type": "array", "items": {"type": "string"}}}, "required": ["passed", "total"]},
        "Patch": {"type": "object", "properties": {"files": {"type": "array", "items": {"type": "string"}, "minItems": 1}, "summary": {"type": "string"}}, "required": ["files"]},
    }
    steps = [{"id": f"s{i}", "fn": f"step_{i}", "intent": f"implement part {i} of the change and check it", "output": "Tests" if i % 2 else "Patch",
              "depends_on": [f"s{i - 1}"] if i else [], "ensure": ["result.passed == result.total"] if i % 2 else []} for i in range(n)]
    return {"name": "big", "contracts": contracts, "steps": steps, "budget": {"tool_calls": 10_000}}


@pytest.mark.parametrize("n", [100, 500])
def test_responses_stay_small(tmp_path: Path, n: int) -> None:
    engine = Engine(tmp_path)
    created = engine.create(_big_plan(n))
    pid = created["plan_id"]
    engine.approve(pid, "eve")
    for i in range(n):
        result = {"passed": 3, "total": 3} if i % 2 else {"files": ["a.py"]}
        if i == 7:
            engine.step_done(pid, f"s{i}", {"passed": 2, "total": 3})
        engine.step_done(pid, f"s{i}", result, {"tokens": 100})
    audit = engine.audit(pid)
    assert audit["status"] == "complete"
    for what in (created, audit):
        size = len(json.dumps(what, separators=(",", ":")))
        assert size / CHARS_PER_TOKEN < 25_000, size
    assert "Retry reason: ensure: result.passed == result.total" in audit["rendered"]
