"""`stratum lint`: rules, suppression, output formats, hook mode."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

from stratum.cli import main
from stratum.lint import check_source


def _codes(source: str) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in check_source(textwrap.dedent(source))]


def test_sdk_calls_of_each_provider() -> None:
    assert _codes("""
        import openai
        from anthropic import AsyncAnthropic
        from google import genai
        import litellm
        from litellm import acompletion
        oa = openai.OpenAI()
        oa.chat.completions.create(model="m", messages=[])
        oa.responses.create(model="m", input="x")
        AsyncAnthropic().messages.create(model="m", max_tokens=1, messages=[])
        genai.Client().models.generate_content(model="gemini", contents="x")
        litellm.completion(model="m", messages=[])
        acompletion(model="m", messages=[])
    """) == [(8, "STR001"), (9, "STR001"), (10, "STR001"), (11, "STR001"), (12, "STR001"), (13, "STR001")]


def test_lookalike_calls_without_the_sdk_are_not_flagged() -> None:
    assert _codes("""
        from twilio.rest import Client
        client = Client()
        client.messages.create(body="hi", to="+1")
        def completion(x): return x
        completion(1)
    """) == []


def test_raw_http_posts_to_provider_endpoints() -> None:
    assert _codes("""
        import requests, httpx, aiohttp
        API = "https://api.anthropic.com/v1/messages"
        requests.post("https://api.openai.com/v1/chat/completions", json={})
        httpx.post(API, json={})
        async def f(session: aiohttp.ClientSession, host: str):
            await session.post(f"https://generativelanguage.googleapis.com/v1beta/{host}", json={})
        requests.post("https://example.com/webhook", json={})
        requests.get("https://api.openai.com/v1/models")
    """) == [(4, "STR002"), (5, "STR002"), (7, "STR002")]


def test_retry_loops_around_llm_calls() -> None:
    assert _codes("""
        import time, openai
        import tenacity
        from backoff import on_exception, expo
        def ask(client, prompt):
            for attempt in range(3):
                try:
                    return client.chat.completions.create(model="m", messages=[])
                except openai.APIError:
                    time.sleep(2 ** attempt)
        @tenacity.retry(stop=tenacity.stop_after_attempt(3))
        def ask2(client):
            return client.chat.completions.create(model="m", messages=[])
        @on_exception(expo, Exception)
        def plain():
            return 1
        def no_retry(client, items):
            for item in items:
                client.chat.completions.create(model="m", messages=[])
    """) == [(6, "STR003"), (8, "STR001"), (11, "STR003"), (13, "STR001"), (19, "STR001")]


def test_suppression_comments() -> None:
    assert _codes("""
        import openai
        openai.chat.completions.create(model="m")  # stratum: ignore[STR001]
        openai.chat.completions.create(model="m")  # stratum: ignore
        openai.chat.completions.create(model="m")  # stratum: ignore[STR003]
    """) == [(5, "STR001")]


def test_cli_text_json_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "bad.py").write_text("import openai\nopenai.chat.completions.create(model='m')\n")
    (tmp_path / "pkg" / "good.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "broken.py").write_text("import openai\ndef (:\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "dep.py").write_text("import openai\nopenai.chat.completions.create(model='m')\n")
    assert main(["lint", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{tmp_path / 'pkg' / 'bad.py'}:2:1 STR001 openai call openai.chat.completions.create() outside Stratum; use an @infer function with a @contract return instead\n"
    assert "broken.py: does not parse" in err
    assert main(["lint", "--format", "json", str(tmp_path / "pkg")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == 3 and [f["code"] for f in report["findings"]] == ["STR001"]
    assert main(["lint", str(tmp_path / "pkg" / "good.py")]) == 0


def test_hook_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import openai\nopenai.chat.completions.create(model='m')\n")
    for payload, code in [
        ({"tool_input": {"file_path": str(bad)}}, 2),
        ({"tool_input": {"file_path": "bad.py"}, "cwd": str(tmp_path)}, 2),
        ({"tool_input": {"file_path": str(tmp_path / "README.md")}}, 0),
        ({"tool_input": {}}, 0),
        ("not json", 0),
    ]:
        monkeypatch.setattr("sys.stdin", io.StringIO(payload if isinstance(payload, str) else json.dumps(payload)))
        assert main(["lint", "--hook"]) == code
    assert "STR001" in capsys.readouterr().err
