"""Faults: every HTTP status and transport exception maps to a Stratum provider error; transient
ones are retried with backoff inside the deadline; keys never leak into errors."""

from __future__ import annotations

import email.utils
import time

import httpx
import httpx2
import pytest
import respx
from _provider_helpers import SECRET, Server, Sleeps, call, chat_ok, statuses

from stratum._runtime.model import Usage
from stratum.exceptions import (
    AuthenticationError,
    BudgetExceeded,
    ConfigurationError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    RateLimitError,
)
from stratum.providers import Anthropic, Gemini, OpenAI, OpenAICompatible
from stratum.providers._faults import retry_after_seconds
from stratum.providers._presets import BUILTIN_FACTORIES

pytestmark = pytest.mark.anyio


def provider(server: Server, sleeps: Sleeps, **kwargs: object) -> OpenAI:
    return OpenAI(api_key=SECRET, http_client=server.client(), sleep=sleeps, jitter=lambda: 0.0, **kwargs)  # type: ignore[arg-type]


def _leaves(cls: type[BaseException]) -> list[type[BaseException]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _leaves(sub)
    return found


TRANSPORT_ERRORS = sorted({c for c in _leaves(httpx2.TransportError) if c.__module__.startswith("httpx2")}, key=lambda c: c.__name__)


def test_every_transport_error_subclass_is_enumerated() -> None:
    names = {c.__name__ for c in TRANSPORT_ERRORS}
    assert {"ConnectError", "ReadTimeout", "ConnectTimeout", "PoolTimeout", "RemoteProtocolError", "ProxyError", "UnsupportedProtocol"} <= names


@pytest.mark.parametrize("error_class", TRANSPORT_ERRORS, ids=lambda c: c.__name__)
async def test_every_transport_error_is_retried_then_mapped_to_provider_timeout(error_class: type[Exception]) -> None:
    server = Server(error_class("boom"))
    sleeps = Sleeps()
    with pytest.raises(ProviderTimeout, match="after 3 fault retries") as info:
        await provider(server, sleeps).complete(call())
    assert len(server.requests) == 4
    assert sleeps.waits == [0.5, 1.0, 2.0]  # exponential backoff, no jitter here
    assert error_class.__name__ in str(info.value)


async def test_transport_error_then_success_reports_the_fault_retries() -> None:
    server = Server(httpx2.ConnectError("refused"), chat_ok())
    done = await provider(server, Sleeps()).complete(call())
    assert done.text == '{"city": "Paris"}' and done.fault_retries == 1


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(400, ProviderHTTPError), (401, AuthenticationError), (403, AuthenticationError), (404, ProviderHTTPError), (422, ProviderHTTPError)],
)
async def test_client_errors_are_never_retried(status: int, error_class: type[ProviderHTTPError]) -> None:
    server = Server(httpx2.Response(status, json={"error": {"message": "bad"}}, headers={"x-should-retry": "true"}))
    sleeps = Sleeps()
    with pytest.raises(error_class) as info:
        await provider(server, sleeps).complete(call())
    assert type(info.value) is error_class
    assert info.value.status_code == status and len(server.requests) == 1 and sleeps.waits == []
    assert "bad" in str(info.value)


@pytest.mark.parametrize(("status", "error_class"), [(408, ProviderHTTPError), (409, ProviderHTTPError), (429, RateLimitError), (500, ProviderHTTPError), (502, ProviderHTTPError), (503, ProviderHTTPError), (504, ProviderHTTPError), (529, ProviderHTTPError)])
async def test_transient_statuses_are_retried_up_to_max_retries(status: int, error_class: type[ProviderHTTPError]) -> None:
    server = Server(*statuses([status]))
    sleeps = Sleeps()
    with pytest.raises(error_class) as info:
        await provider(server, sleeps, max_retries=2).complete(call())
    assert type(info.value) is error_class
    assert len(server.requests) == 3 and len(sleeps.waits) == 2
    assert info.value.status_code == status


async def test_transient_status_then_success_meters_the_retried_usage() -> None:
    retried = httpx2.Response(500, json={"error": {"message": "x"}, "usage": {"prompt_tokens": 7, "completion_tokens": 1}})
    server = Server(retried, chat_ok())
    done = await provider(server, Sleeps()).complete(call())
    assert done.fault_retries == 1
    assert done.fault_usage == Usage(7, 1)


async def test_final_error_carries_the_usage_of_every_errored_response() -> None:
    errored = httpx2.Response(503, json={"error": {"message": "x"}, "usage": {"prompt_tokens": 7, "completion_tokens": 1}})
    server = Server(errored)
    with pytest.raises(ProviderHTTPError) as info:
        await provider(server, Sleeps(), max_retries=1).complete(call())
    assert info.value.usage == Usage(14, 2)  # type: ignore[attr-defined]


async def test_retry_after_ms_then_seconds_then_http_date_are_honoured() -> None:
    date = email.utils.formatdate(time.time() + 3, usegmt=True)
    server = Server(
        httpx2.Response(429, headers={"retry-after-ms": "250", "retry-after": "9"}),
        httpx2.Response(429, headers={"retry-after": "1.5"}),
        httpx2.Response(503, headers={"retry-after": date}),
        chat_ok(),
    )
    sleeps = Sleeps()
    done = await provider(server, sleeps).complete(call())
    assert sleeps.waits[:2] == [0.25, 1.5]
    assert 1.0 < sleeps.waits[2] <= 3.0
    assert done.fault_retries == 3


def test_retry_after_parsing() -> None:
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


async def test_x_should_retry_false_stops_retries_and_true_enables_them() -> None:
    server = Server(httpx2.Response(503, headers={"x-should-retry": "false"}))
    with pytest.raises(ProviderHTTPError):
        await provider(server, Sleeps()).complete(call())
    assert len(server.requests) == 1
    server = Server(httpx2.Response(418, headers={"x-should-retry": "true"}), chat_ok())
    assert (await provider(server, Sleeps()).complete(call())).fault_retries == 1


async def test_backoff_has_jitter_and_a_cap() -> None:
    server = Server(*statuses([500]))
    sleeps = Sleeps()
    slow = OpenAI(api_key=SECRET, http_client=server.client(), sleep=sleeps, jitter=lambda: 1.0, max_retries=6)
    with pytest.raises(ProviderHTTPError):
        await slow.complete(call())
    assert sleeps.waits == [0.375, 0.75, 1.5, 3.0, 6.0, 6.0]  # min(0.5*2^n, 8) * (1 - 0.25)


async def test_retry_after_past_the_deadline_raises_budget_exceeded_at_once() -> None:
    server = Server(httpx2.Response(429, headers={"retry-after": "30"}, json={"error": {"message": "slow down"}}))
    sleeps = Sleeps()
    with pytest.raises(BudgetExceeded) as info:
        await provider(server, sleeps).complete(call(timeout=5.0))
    assert info.value.axis == "ms" and info.value.limit == 5000.0 and info.value.spent >= 30000
    assert sleeps.waits == [] and len(server.requests) == 1
    assert isinstance(info.value.__cause__, RateLimitError)


async def test_backoff_never_sleeps_past_the_deadline() -> None:
    server = Server(*statuses([500]))
    sleeps = Sleeps()
    with pytest.raises(ProviderHTTPError):
        await provider(server, sleeps).complete(call(timeout=0.4))
    assert sleeps.waits == [] and len(server.requests) == 1


async def test_the_http_timeout_comes_from_the_deadline() -> None:
    server = Server(chat_ok())
    await provider(server, Sleeps()).complete(call(timeout=2.0))
    timeout = server.requests[0].extensions["timeout"]
    assert 0 < timeout["read"] <= 2.0 and timeout["connect"] <= 2.0
    server = Server(chat_ok())
    await provider(server, Sleeps()).complete(call())
    assert server.requests[0].extensions["timeout"]["read"] == 600.0


async def test_a_long_retry_after_without_a_deadline_is_not_waited_for() -> None:
    server = Server(httpx2.Response(429, headers={"retry-after": "3600"}))
    sleeps = Sleeps()
    with pytest.raises(RateLimitError) as info:
        await provider(server, sleeps).complete(call())
    assert info.value.retry_after == 3600.0 and sleeps.waits == []


async def test_non_json_success_body_is_a_provider_error() -> None:
    server = Server(httpx2.Response(200, text="<html>proxy login</html>"))
    with pytest.raises(ProviderError, match="not a JSON object"):
        await provider(server, Sleeps()).complete(call())


# -- keys never leak --------------------------------------------------------------------------


async def test_no_key_in_any_error_message_repr_body_or_header() -> None:
    echo = f'{{"error": {{"message": "Incorrect API key provided: {SECRET}. Bearer {SECRET}"}}}}'
    server = Server(httpx2.Response(401, text=echo, headers={"x-echo": SECRET, "authorization": f"Bearer {SECRET}"}))
    p = provider(server, Sleeps())
    with pytest.raises(AuthenticationError) as info:
        await p.complete(call())
    exc = info.value
    for text in (str(exc), repr(exc), exc.body, repr(exc.headers), repr(p)):
        assert SECRET not in text and SECRET[8:] not in text
    assert "authorization" not in exc.headers
    assert "[REDACTED]" in exc.body


async def test_no_key_in_transport_error_messages() -> None:
    server = Server(httpx2.ConnectError(f"failed for https://x?key={SECRET}"))
    with pytest.raises(ProviderTimeout) as info:
        await provider(server, Sleeps(), max_retries=0).complete(call())
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


@pytest.mark.parametrize(
    ("factory", "env"),
    [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY"), ("google", "GEMINI_API_KEY"), ("gemini", "GOOGLE_API_KEY"), ("groq", "GROQ_API_KEY"), ("openrouter", "OPENROUTER_API_KEY"), ("deepseek", "DEEPSEEK_API_KEY"), ("together", "TOGETHER_API_KEY")],
)
def test_missing_key_names_the_variable_and_the_offline_alternatives(factory: str, env: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        BUILTIN_FACTORIES[factory]()
    message = str(info.value)
    assert env in message and "stratum.testing" in message and "ScriptedModel" in message and "use_model" in message


def test_missing_key_at_construction_of_each_class() -> None:
    for make in (OpenAI, Anthropic, Gemini):
        with pytest.raises(ConfigurationError, match="API_KEY"):
            make()


@pytest.mark.parametrize("name", ["ollama", "vllm", "llamacpp"])
def test_local_servers_need_no_key(name: str) -> None:
    made = BUILTIN_FACTORIES[name]()
    assert isinstance(made, OpenAICompatible) and made.name == name and made.base_url.startswith("http://localhost")


def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-from-env")
    assert BUILTIN_FACTORIES["google"]().name == "google"
    monkeypatch.setenv("GROQ_API_KEY", "gsk_fromenv")
    groq = BUILTIN_FACTORIES["groq"]()
    assert isinstance(groq, OpenAICompatible) and groq.base_url == "https://api.groq.com/openai/v1"


def test_builtin_factories_are_read_only() -> None:
    with pytest.raises(TypeError):
        BUILTIN_FACTORIES["x"] = BUILTIN_FACTORIES["ollama"]  # type: ignore[index]
    assert {"openai", "anthropic", "google", "gemini", "ollama", "vllm", "llamacpp", "groq", "openrouter", "deepseek", "together"} <= set(BUILTIN_FACTORIES)


# -- httpx 0.x clients (respx) ----------------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_httpx0_client_mocked_with_respx_works_and_maps_errors_the_same(anyio_backend: str) -> None:
    sleeps = Sleeps()
    with respx.mock(base_url="https://api.openai.com/v1", assert_all_called=False) as mock:
        route = mock.post("/chat/completions")
        route.side_effect = [
            httpx.ConnectError("refused"),
            httpx.Response(429, json={"error": {"message": "slow"}}, headers={"retry-after": "0.2"}),
            httpx.Response(200, json={"id": "c", "model": "gpt-4o", "choices": [{"finish_reason": "stop", "message": {"content": "hi"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}),
        ]
        async with httpx.AsyncClient() as client:
            p = OpenAI(api_key=SECRET, http_client=client, sleep=sleeps, jitter=lambda: 0.0)
            done = await p.complete(call())
            assert done.text == "hi" and done.fault_retries == 2 and done.usage == Usage(3, 1)
            assert sleeps.waits == [0.5, 0.2]
            route.side_effect = [httpx.ReadTimeout("slow")]
            with pytest.raises(ProviderTimeout, match="ReadTimeout"):
                await OpenAI(api_key=SECRET, http_client=client, sleep=sleeps, max_retries=0).complete(call())
            route.side_effect = [httpx.Response(403, json={"error": {"message": "no"}})]
            with pytest.raises(AuthenticationError):
                await p.complete(call())
