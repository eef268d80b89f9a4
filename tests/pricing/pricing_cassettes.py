"""Read the real recorded cassettes in tests/fixtures/real_cassettes: requests, usage, returned model.

Shared by the cassette cost tests and `benchmarks/pricing_bench.py`. Usage is normalized the
way Stratum's providers normalize it: input includes cache reads and
writes, output includes reasoning.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stratum import Usage

__all__ = ("Exchange", "cassette_root", "exchanges")


def cassette_root() -> Path:
    """The real recorded cassettes kept in `tests/fixtures/real_cassettes` (licenses in INDEX.md)."""
    return Path(__file__).resolve().parents[1] / "fixtures" / "real_cassettes"


@dataclass(frozen=True)
class Exchange:
    """One recorded request and the usage its response reported."""

    file: str
    index: int
    provider: str  # openai | anthropic | google | openrouter
    api: str  # chat | responses | messages | gemini
    request: dict[str, Any]
    requested_model: str
    returned_model: str | None
    usage: Usage | None
    raw_usage: dict[str, Any] | None


def _body_text(body: Any) -> str | None:
    if body is None:
        return None
    if isinstance(body, dict):
        inner: Any = body.get("string", body)  # pyright: ignore[reportUnknownMemberType,reportUnknownVariableType]
        body = inner
    if isinstance(body, bytes):
        raw = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
        return raw.decode("utf-8")
    return str(body)


def _json_events(text: str) -> list[dict[str, Any]]:
    """Every JSON object in a body: plain JSON, a JSON array (Gemini stream) or SSE data lines."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return [json.loads(stripped)]
    if stripped.startswith("["):
        return list(json.loads(stripped))
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.startswith("data:"):
            payload = line[5:].strip()
            if payload and payload != "[DONE]":
                out.append(json.loads(payload))
    return out


def _detail(usage: dict[str, Any], key: str, sub: str) -> int:
    details = usage.get(key) or {}
    return int(details.get(sub) or 0)


def _normalize(api: str, u: dict[str, Any]) -> Usage:
    if api == "chat":
        return Usage(
            input_tokens=u["prompt_tokens"],
            output_tokens=u["completion_tokens"],
            cached_input_tokens=_detail(u, "prompt_tokens_details", "cached_tokens"),
            reasoning_tokens=_detail(u, "completion_tokens_details", "reasoning_tokens"),
        )
    if api == "responses":
        return Usage(
            input_tokens=u["input_tokens"],
            output_tokens=u["output_tokens"],
            cached_input_tokens=_detail(u, "input_tokens_details", "cached_tokens"),
            reasoning_tokens=_detail(u, "output_tokens_details", "reasoning_tokens"),
        )
    if api == "messages":
        read = int(u.get("cache_read_input_tokens") or 0)
        written = int(u.get("cache_creation_input_tokens") or 0)
        return Usage(
            input_tokens=int(u["input_tokens"]) + read + written,
            output_tokens=int(u["output_tokens"]),
            cached_input_tokens=read,
            cache_write_tokens=written,
        )
    thoughts = int(u.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=int(u.get("promptTokenCount") or 0),
        output_tokens=int(u.get("candidatesTokenCount") or 0) + thoughts,
        cached_input_tokens=int(u.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


def _final_usage(api: str, events: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    usage: dict[str, Any] | None = None
    model: str | None = None
    for event in events:
        if api == "responses" and "response" in event:
            event = event["response"]
        if api == "messages" and event.get("type") == "message_start":
            event = event["message"]
        model = event.get("model") or event.get("modelVersion") or model
        found = event.get("usageMetadata") if api == "gemini" else event.get("usage")
        if isinstance(found, dict):
            if api == "messages" and usage is not None:
                usage = {**usage, **found}  # message_delta: cumulative output, keeps cache counts
            else:
                usage = dict(found)
    return usage, model


def _classify(uri: str) -> tuple[str, str]:
    if "openrouter.ai" in uri:
        return "openrouter", "chat"
    if "anthropic.com" in uri:
        return "anthropic", "messages"
    if "googleapis.com" in uri:
        return "google", "gemini"
    if "/responses" in uri:
        return "openai", "responses"
    return "openai", "chat"


def exchanges(root: Path) -> Iterator[Exchange]:
    """Every interaction of every cassette under `root`, in path order."""
    for path in sorted(root.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for index, interaction in enumerate(data["interactions"]):
            request = interaction["request"]
            provider, api = _classify(request["uri"])
            body = request.get("parsed_body")
            if body is None:
                text = _body_text(request.get("body"))
                body = json.loads(text) if text else {}
            response = interaction["response"]
            parsed = response.get("parsed_body")
            if parsed is not None:
                events = [parsed] if isinstance(parsed, dict) else list(parsed)
            else:
                text = _body_text(response.get("body")) or ""
                events = _json_events(text) if text.strip() else []
            raw, returned = _final_usage(api, events)
            model = body.get("model") or request["uri"].split("/models/")[-1].split(":")[0]
            usage = _normalize(api, raw) if raw and response["status"]["code"] == 200 else None
            yield Exchange(
                file=str(path.relative_to(root)),
                index=index,
                provider=provider,
                api=api,
                request=body,
                requested_model=model,
                returned_model=returned,
                usage=usage,
                raw_usage=raw,
            )
