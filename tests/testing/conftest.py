"""Fixtures for the stratum.testing tests: backends, the fake provider server, clean keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _testing_fakes import FakeProviders, fake_providers

from stratum import trace


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeProviders]:
    """A loopback server posing as OpenAI, Anthropic and Gemini."""
    with fake_providers() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real key from the environment reaches a test; each test starts with an empty trace."""
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    trace.clear()
