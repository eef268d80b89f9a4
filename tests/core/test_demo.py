"""`stratum demo`: offline by default, real provider when asked, offline fallback without a key."""

from __future__ import annotations

import json

import httpx2
import pytest

import stratum
from stratum.cli import main
from stratum.providers import OpenAI


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo writes its trace to .stratum/traces.db under the working directory."""
    monkeypatch.chdir(str(tmp_path))


def test_demo_runs_offline_and_prints_the_audit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "offline, on scripted models" in out
    assert "ESCALATED" in out
    assert "ensure: r.confidence > 0.7 (actual: r.confidence=0.42)" in out
    assert "classify_sentiment" in out and "draft_response" in out
    assert "1 retry" in out


def test_demo_without_a_key_falls_back_offline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["demo", "--model", "openai:gpt-4.1-mini"]) == 0
    captured = capsys.readouterr()
    assert "OPENAI_API_KEY" in captured.err and "Falling back to the offline demo" in captured.err
    assert "offline, on scripted models" in captured.out


def test_demo_against_a_provider(capsys: pytest.CaptureFixture[str]) -> None:
    answers = iter(
        [
            {"label": "negative", "confidence": 0.97, "reasoning": "Double charge."},
            {"label": "positive", "confidence": 0.9, "reasoning": "Praise."},
            {"response": "Export moved to Reports.", "escalate": False},
        ]
    )

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = {
            "id": "chatcmpl-1",
            "model": "gpt-4.1-mini-2025-04-14",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": json.dumps(next(answers))}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
        }
        return httpx2.Response(200, json=body)

    provider = OpenAI(api_key="sk-test", http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))
    with stratum.configure(providers={"mock": provider}):
        assert main(["demo", "--model", "mock:gpt-4.1-mini"]) == 0
    out = capsys.readouterr().out
    assert "against mock:gpt-4.1-mini" in out
    assert "Export moved to Reports." in out
