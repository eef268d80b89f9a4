"""The hard promises against loopback servers that misbehave (`tests/_servers.FaultServer`).

A deadline is a deadline (drip-fed bodies, waiting for a concurrency slot), a bad reply is a
clear error with the server's own words, a key never leaks, and nothing is left behind by
`stratum.run()`. Every case goes through `@infer` and leaves a trace record with the right status.
"""

from __future__ import annotations

import gc
import json
import time
import traceback
import weakref
from decimal import Decimal
from typing import Any

import anyio
import httpx2
import pytest

import stratum
from stratum import Budget, contract, flow, infer, trace
from stratum.exceptions import (
    AuthenticationError,
    BudgetExceeded,
    ConfigurationError,
    ProviderError,
    ProviderHTTPError,
)
from stratum.cli import build_parser, main
from stratum.pricing import Price
from stratum.providers import Anthropic, Gemini, OpenAI, OpenAICompatible
from stratum.providers._http import MAX_RESPONSE_BYTES
from stratum.providers._intercept import Exchange, Send, add_interceptor
from tests._servers import Fault, FaultServer, chat_reply, gemini_reply

# Import the CLI's lazily loaded modules at collection: pytest rewrites stratum's modules when
# they are first imported, and CPython 3.11's AST validator can trip ("recursion depth
# mismatch") when that first import happens late in a long session.
build_parser()
import stratum._demo  # noqa: E402, F401

PRICE = Price("1", "2")
SECRET = "sk-hostile-0123456789abcdefSECRET"


@contract
class Verdict:
    label: str


@infer("Say something.", model="local:m", retries=1)
def say(topic: str) -> str: ...


@infer("Judge it.", model="local:m", retries=1)
def judge(topic: str) -> Verdict: ...


def local(server: FaultServer, **kwargs: Any) -> OpenAICompatible:
    return OpenAICompatible(server.url + "/v1", name="local", jitter=lambda: 0.0, **kwargs)


def run_with(provider: object, coro_fn: Any, *, prices: bool = True) -> Any:
    with stratum.configure(providers={"local": provider}, prices={"local:m": PRICE} if prices else None):  # type: ignore[dict-item]
        return stratum.run(coro_fn())


# -- deadlines ---------------------------------------------------------------------------------


def test_a_drip_fed_body_cannot_hold_a_call_past_its_deadline(fault_server: FaultServer) -> None:
    fault_server.always(Fault(json=chat_reply("a long answer"), drip=0.2))

    @infer("Say something.", model="local:m", budget=Budget(ms=1000))
    def slow(topic: str) -> str: ...

    started = time.monotonic()
    with pytest.raises(BudgetExceeded) as caught:
        run_with(local(fault_server), lambda: slow(topic="x"))
    elapsed = time.monotonic() - started
    assert caught.value.axis == "ms"
    assert elapsed < 2.0  # the per-read timeout let this run ~23 s and return ok
    (record,) = trace.records()
    assert record.status == "failed" and record.error is not None and record.error.startswith("BudgetExceeded")


def test_waiting_for_a_concurrency_slot_counts_against_the_deadline(fault_server: FaultServer) -> None:
    fault_server.always(Fault(stall=True))
    provider = local(fault_server, max_concurrency=2)

    @infer("Say something.", model="local:m", budget=Budget(ms=3000))
    def holder(topic: str) -> str: ...

    @infer("Say something.", model="local:m", budget=Budget(ms=400))
    def waiter(topic: str) -> str: ...

    ended: list[float] = []

    async def main() -> None:
        async def wait_one() -> None:
            started = time.monotonic()
            with pytest.raises(BudgetExceeded):
                await waiter(topic="x")
            ended.append(time.monotonic() - started)

        async def hold_one() -> None:
            with pytest.raises(BudgetExceeded):
                await holder(topic="x")

        async with anyio.create_task_group() as tg:
            tg.start_soon(hold_one)
            tg.start_soon(hold_one)
            await anyio.sleep(0.2)  # both slots are taken by stalled requests
            for _ in range(5):
                tg.start_soon(wait_one)

    run_with(provider, main)
    assert len(ended) == 5 and max(ended) < 1.4  # each ends by its own 0.4 s deadline, not 3 s
    statuses = [r.status for r in trace.records()]
    assert statuses.count("failed") == 7


@pytest.mark.parametrize("streamed", [False, True], ids=["call", "stream"])
def test_a_slot_handed_over_after_the_deadline_sends_nothing(fault_server: FaultServer, streamed: bool) -> None:
    # On a busy loop a waiter can get its slot after its deadline, before its timer has run:
    # it must end there, not start a request (connect, send) that can only be cancelled.
    fault_server.script(Fault(json=chat_reply("first"), delay=0.2), Fault(stall=True))
    provider = local(fault_server, max_concurrency=1)
    started: list[str] = []

    async def watch(request: Any, exchange: Exchange, send: Send) -> Any:
        assert exchange.call is not None
        started.append(exchange.call.function)
        return await send(request)

    @infer("Say something.", model="local:m", budget=Budget(ms=5000))
    def holder(topic: str) -> str: ...

    @infer("Say something.", model="local:m", budget=Budget(ms=300))
    def waiter(topic: str) -> str: ...

    async def main() -> None:
        async def hold_one() -> None:
            assert await holder(topic="x") == "first"
            time.sleep(0.5)  # CPU-bound work right after the slot is freed: the loop is busy

        async def wait_one() -> None:
            with pytest.raises(BudgetExceeded) as caught:
                if streamed:
                    async with waiter.stream(topic="y") as stream:
                        await stream.result()
                else:
                    await waiter(topic="y")
            assert caught.value.axis == "ms"

        with add_interceptor(watch):
            async with anyio.create_task_group() as tg:
                tg.start_soon(hold_one)
                await anyio.sleep(0.05)  # the holder has the only slot
                tg.start_soon(wait_one)

    run_with(provider, main)
    assert [name.rpartition(".")[2] for name in started] == ["holder"]
    assert len(fault_server.requests) == 1
    assert sorted(r.status for r in trace.records()) == ["failed", "ok"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_slots_are_all_given_back_after_a_storm_of_deadlines(fault_server: FaultServer, backend: str) -> None:
    # Holders stall to their deadline while waiters expire in the queue or just after being
    # handed a slot; afterwards no slot is lost: max_concurrency=2 requests run side by side.
    provider = local(fault_server, max_concurrency=2)

    @infer("Say something.", model="local:m", budget=Budget(ms=300))
    def holder(topic: str) -> str: ...

    @infer("Say something.", model="local:m", budget=Budget(ms=350))
    def waiter(topic: str) -> str: ...

    @infer("Say something.", model="local:m", budget=Budget(ms=900))
    def after(topic: str) -> str: ...

    outcomes: list[str] = []

    async def one(fn: Any, topic: str) -> None:
        try:
            outcomes.append(await fn(topic=topic))
        except BudgetExceeded as exc:
            outcomes.append(f"BudgetExceeded({exc.axis})")

    async def main() -> None:
        with stratum.configure(providers={"local": provider}, prices={"local:m": PRICE}):
            fault_server.always(Fault(stall=True))
            async with anyio.create_task_group() as tg:
                for n in range(2):
                    tg.start_soon(one, holder, f"h{n}")
                await anyio.sleep(0.02)
                for n in range(6):
                    tg.start_soon(one, waiter, f"w{n}")
            assert outcomes == ["BudgetExceeded(ms)"] * 8
            outcomes.clear()
            # two slots: two 0.5 s answers run side by side (0.5 s), a third waits for one
            # (0.5 s + 0.5 s > its 0.9 s deadline)
            fault_server.always(Fault(json=chat_reply("fine"), delay=0.5))
            async with anyio.create_task_group() as tg:
                for n in range(3):
                    tg.start_soon(one, after, f"a{n}")
                    await anyio.sleep(0.01)

    anyio.run(main, backend=backend)
    assert outcomes == ["fine", "fine", "BudgetExceeded(ms)"]


def test_the_deadline_holds_under_trio_too(fault_server: FaultServer) -> None:
    fault_server.always(Fault(json=chat_reply("x"), drip=0.2))
    provider = local(fault_server)

    @infer("Say something.", model="local:m", budget=Budget(ms=600))
    def slow(topic: str) -> str: ...

    async def main() -> None:
        with stratum.configure(providers={"local": provider}, prices={"local:m": PRICE}):
            await slow(topic="x")

    started = time.monotonic()
    with pytest.raises(BudgetExceeded):
        anyio.run(main, backend="trio")
    assert time.monotonic() - started < 1.6


# -- replies that are not replies --------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "shown"),
    [
        pytest.param({"prompt_tokens": -5000, "completion_tokens": 10}, "prompt_tokens=-5000", id="negative"),
        pytest.param({"prompt_tokens": 10, "completion_tokens": 10**12}, "completion_tokens=1000000000000", id="absurd"),
        pytest.param({"prompt_tokens": 10, "completion_tokens": 2.5}, "completion_tokens=2.5", id="fractional"),
        pytest.param({"prompt_tokens": 10, "completion_tokens": "12"}, "completion_tokens='12'", id="string"),
    ],
)
def test_impossible_usage_is_a_provider_error(fault_server: FaultServer, usage: dict[str, Any], shown: str) -> None:
    fault_server.always(Fault(json=chat_reply("hello", usage=usage)))

    @flow(budget=Budget(usd="0.01"))
    async def capped() -> str:
        return await say(topic="x")

    with pytest.raises(ProviderError) as caught:
        run_with(local(fault_server), capped)
    assert "impossible usage" in str(caught.value) and shown in str(caught.value)
    (record,) = trace.records()
    assert record.status == "failed"
    (flow_record,) = trace.flows()
    assert flow_record.spent_usd >= 0  # a negative count never refunds the budget


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_usage_is_a_provider_error_not_an_overflow(fault_server: FaultServer, literal: str) -> None:
    body = json.dumps(chat_reply("hello", usage={"prompt_tokens": 1, "completion_tokens": 1}))
    fault_server.always(Fault(raw=body.replace('"completion_tokens": 1', f'"completion_tokens": {literal}').encode()))
    with pytest.raises(ProviderError) as caught:
        run_with(local(fault_server), lambda: say(topic="x"))
    assert "impossible usage" in str(caught.value)
    assert trace.records()[-1].status == "failed"


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        pytest.param({"id": "x", "choices": [], "usage": {"prompt_tokens": 5}}, "'choices' is empty", id="no-choices"),
        pytest.param({"id": "x", "choices": {"0": {}}}, "'choices' is a dict", id="choices-not-a-list"),
        pytest.param({"id": "x"}, "'choices' is missing", id="choices-missing"),
        pytest.param(chat_reply(42), "the message content is a int (42)", id="content-a-number"),
    ],
)
def test_a_reply_without_a_reply_is_never_an_empty_success(fault_server: FaultServer, reply: dict[str, Any], said: str) -> None:
    fault_server.always(Fault(json=reply))
    with pytest.raises(ProviderError) as caught:
        run_with(local(fault_server), lambda: say(topic="x"))
    assert said in str(caught.value) and "check base_url" in str(caught.value)
    assert trace.records()[-1].status == "failed"


def test_content_as_a_list_of_parts_is_read_as_its_text(fault_server: FaultServer) -> None:
    parts = [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}]
    fault_server.always(Fault(json=chat_reply(parts)))
    assert run_with(local(fault_server), lambda: say(topic="x")) == "Hello, world"


def test_a_200_carrying_an_error_reaches_the_user_with_the_servers_words(fault_server: FaultServer) -> None:
    fault_server.always(Fault(json={"error": {"message": "upstream model is overloaded", "code": 503}}))
    with pytest.raises(ProviderHTTPError) as caught:
        run_with(local(fault_server, max_retries=1), lambda: judge(topic="x"))
    message = str(caught.value)
    assert "upstream model is overloaded" in message and "not valid JSON" not in message
    assert caught.value.status_code == 503
    assert len(fault_server.requests) == 2  # a 503 is a transient fault: retried once
    assert trace.records()[-1].status == "failed"


def test_a_200_error_without_a_status_is_not_parsed_as_the_output(fault_server: FaultServer) -> None:
    fault_server.always(Fault(json={"error": {"message": "Invalid model 'm'"}}))
    with pytest.raises(ProviderError) as caught:
        run_with(local(fault_server, max_retries=0), lambda: judge(topic="x"))
    assert "Invalid model 'm'" in str(caught.value)


@pytest.mark.parametrize("finish", ["eos", "eos_token", "stop_sequence"])
def test_other_servers_finish_reasons_mean_stop(fault_server: FaultServer, finish: str) -> None:
    fault_server.always(Fault(json=chat_reply("done", finish_reason=finish)))
    assert run_with(local(fault_server), lambda: say(topic="x")) == "done"
    assert trace.records()[-1].attempt_records[0].finish_reason == "stop"


def test_gemini_api_key_invalid_is_an_authentication_error(fault_server: FaultServer) -> None:
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }
    fault_server.always(Fault(status=400, json=body))
    gemini = Gemini(api_key="AIza-not-a-real-key-000000000000000", base_url=fault_server.url + "/v1beta", name="local")
    with pytest.raises(AuthenticationError) as caught:
        run_with(gemini, lambda: say(topic="x"))
    assert "Check the API key" in str(caught.value) and "Fix the request" not in str(caught.value)
    assert len(fault_server.requests) == 1


def test_gemini_without_candidates_is_a_provider_error(fault_server: FaultServer) -> None:
    reply = gemini_reply("x")
    reply["candidates"] = []
    fault_server.always(Fault(json=reply))
    gemini = Gemini(api_key="AIza-not-a-real-key-000000000000000", base_url=fault_server.url + "/v1beta", name="local")
    with pytest.raises(ProviderError, match="'candidates' is missing or empty"):
        run_with(gemini, lambda: say(topic="x"))


@pytest.mark.parametrize("how", ["declared", "streamed"])
def test_a_huge_body_is_refused_not_held_in_memory(fault_server: FaultServer, how: str) -> None:
    if how == "declared":
        fault_server.always(Fault(json=chat_reply("x"), declare_length=MAX_RESPONSE_BYTES + 1))
    else:
        fault_server.always(Fault(stream_bytes=MAX_RESPONSE_BYTES + 65536))
    with pytest.raises(ProviderError, match="a body of more than"):
        run_with(local(fault_server, max_retries=0), lambda: say(topic="x"))
    assert trace.records()[-1].status == "failed"


# -- keys --------------------------------------------------------------------------------------


BAD_KEYS = [
    pytest.param("sk-0123456789abcdefSECRET\n", id="trailing-newline"),
    pytest.param(" sk-0123456789abcdefSECRET", id="leading-space"),
    pytest.param("sk-0123456789abcdéfSECRET", id="non-ascii"),
    pytest.param("sk-0123456789abc\x07defSECRET", id="control-character"),
]


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize("make", [OpenAI, Anthropic, Gemini, lambda api_key: OpenAICompatible("http://127.0.0.1:9/v1", api_key=api_key)])
def test_a_key_that_cannot_be_a_header_is_refused_showing_none_of_it(key: str, make: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make(api_key=key)
    shown = "".join(traceback.format_exception(caught.value))
    assert "SECRET" not in shown and "0123456789" not in shown
    assert "api_key=" in str(caught.value) and "HTTP header" in str(caught.value)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_bad_key_from_the_environment_is_refused_at_first_use(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", key)
    with stratum.configure(providers={}):  # fresh built-in providers
        with pytest.raises(ConfigurationError) as caught:
            stratum.run(_call_groq())
    shown = "".join(traceback.format_exception(caught.value))
    assert "SECRET" not in shown and "GROQ_API_KEY" in str(caught.value)


async def _call_groq() -> str:
    @infer("Say something.", model="groq:llama-3.3-70b-versatile")
    def hi() -> str: ...

    return await hi()


def test_no_chained_exception_carries_a_header_value() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.LocalProtocolError(f"Illegal header value b'Bearer {SECRET}\\n'")

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(refuse))
    provider = OpenAI(api_key=SECRET, http_client=client, max_retries=0, name="local")
    with pytest.raises(ProviderError) as caught:
        run_with(provider, lambda: say(topic="x"))
    shown = "".join(traceback.format_exception(caught.value))
    assert SECRET not in shown and "0123456789abcdef" not in shown
    assert caught.value.__cause__ is None


def test_a_header_that_cannot_be_sent_is_refused_without_its_value() -> None:
    with pytest.raises(ConfigurationError) as caught:
        OpenAICompatible("http://127.0.0.1:9/v1", headers={"x-team-token": "tok-SECRET-value\r\n"})
    assert "x-team-token" in str(caught.value) and "SECRET" not in str(caught.value)


# -- resources ---------------------------------------------------------------------------------


def test_stratum_run_leaves_no_event_loop_behind(fault_server: FaultServer) -> None:
    fault_server.always(Fault(json=chat_reply("hi")))
    provider = local(fault_server)
    loops: list[weakref.ref[object]] = []

    async def one() -> str:
        import asyncio

        loops.append(weakref.ref(asyncio.get_running_loop()))
        return await say(topic="x")

    with stratum.configure(providers={"local": provider}, prices={"local:m": PRICE}):
        for _ in range(20):
            assert stratum.run(one()) == "hi"
            assert len(provider._states) == 0  # pyright: ignore[reportPrivateUsage]
    gc.collect()
    assert [ref for ref in loops if ref() is not None] == []


def test_a_user_client_is_forgotten_with_its_loop_but_not_closed(fault_server: FaultServer) -> None:
    fault_server.always(Fault(json=chat_reply("hi")))
    client = httpx2.AsyncClient()
    provider = OpenAICompatible(fault_server.url + "/v1", name="local", http_client=client)

    async def one() -> str:
        try:
            return await say(topic="x")
        finally:
            assert len(provider._states) == 1  # pyright: ignore[reportPrivateUsage]

    with stratum.configure(providers={"local": provider}, prices={"local:m": PRICE}):
        assert stratum.run(one()) == "hi"
    assert len(provider._states) == 0  # pyright: ignore[reportPrivateUsage]
    assert not client.is_closed  # the user's client is the user's to close


# -- local servers -----------------------------------------------------------------------------


def test_the_demo_runs_against_a_local_server_for_free(
    fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = [
        {"label": "negative", "confidence": 0.97, "reasoning": "Double charge."},
        {"label": "positive", "confidence": 0.9, "reasoning": "Praise."},
        {"response": "Export moved to Reports.", "escalate": False},
    ]
    fault_server.script(*(Fault(json=chat_reply(json.dumps(a))) for a in answers))
    monkeypatch.setenv("OLLAMA_BASE_URL", fault_server.url + "/v1")

    with stratum.configure(providers={}):  # the ollama preset is made afresh, at the fault server
        assert main(["demo", "--model", "ollama:llama3.2"]) == 0
    out = capsys.readouterr().out
    assert "against ollama:llama3.2" in out and "Export moved to Reports." in out
    assert len(fault_server.requests) == 3
    assert all(r.cost_usd == Decimal(0) for r in trace.records())


# -- what a call is charged when the reply's usage cannot be taken at its word ----------------


def test_usage_of_retried_error_responses_stays_inside_the_reservation(fault_server: FaultServer) -> None:
    greedy = {"prompt_tokens": 40_000, "completion_tokens": 40_000}  # the 500 claims far more than reserved
    fault_server.script(
        Fault(status=500, json={"error": {"message": "try again"}, "usage": greedy}),
        Fault(json=chat_reply("fine", usage={"prompt_tokens": 50, "completion_tokens": 10})),
    )
    cap = Decimal("0.05")

    @infer("Say something.", model="local:m", max_tokens=200)
    def capped_call(topic: str) -> str: ...

    @flow(budget=Budget(usd=cap))
    async def capped() -> str:
        return await capped_call(topic="x")

    assert run_with(local(fault_server, sleep=_no_sleep), capped) == "fine"
    (flow_record,) = trace.flows()
    (record,) = trace.records()
    assert flow_record.spent_usd is not None and flow_record.spent_usd <= cap
    attempt = record.attempt_records[0]
    assert attempt.fault_retries == 1 and attempt.input_tokens == 40_050  # reported, not hidden
    # charged: the reply in full, the faults only up to the reservation
    assert record.cost_usd == flow_record.spent_usd
    assert record.cost_usd is not None and record.cost_usd < PRICE.cost(stratum.Usage(40_050, 40_010))


async def _no_sleep(_: float) -> None:
    return None


def test_a_reply_without_usage_is_charged_the_reserved_worst_case(fault_server: FaultServer) -> None:
    fault_server.always(Fault(json=chat_reply("hello", no_usage=True)))

    @infer("Say something.", model="local:m", max_tokens=100)
    def unmetered(topic: str) -> str: ...

    @flow(budget=Budget(usd="0.01"))
    async def capped() -> str:
        return await unmetered(topic="x")

    assert run_with(local(fault_server), capped) == "hello"
    (record,) = trace.records()
    assert record.usage_estimated is True and record.attempt_records[0].usage_estimated is True
    assert record.output_tokens == 100  # the output cap that was reserved
    assert record.input_tokens >= record.attempt_records[0].estimated_input_tokens  # never less than sent
    assert record.cost_usd is not None and record.cost_usd > 0
    (flow_record,) = trace.flows()
    assert flow_record.spent_usd == record.cost_usd


def test_a_cap_stops_calls_to_a_server_that_never_reports_usage(fault_server: FaultServer) -> None:
    fault_server.always(Fault(json=chat_reply("hello", no_usage=True)))
    price = Price("1000", "1000")  # so the cap is reached in a few calls

    @infer("Say something.", model="local:m", max_tokens=50)
    def unmetered(topic: str) -> str: ...

    @flow(budget=Budget(usd="1"))
    async def many() -> int:
        done = 0
        for _ in range(100):
            try:
                await unmetered(topic="x")
            except BudgetExceeded:
                return done
            done += 1
        return done

    with stratum.configure(providers={"local": local(fault_server)}, prices={"local:m": price}):
        done = stratum.run(many())
    assert 0 < done < 100
    (flow_record,) = trace.flows()
    assert flow_record.spent_usd is not None and flow_record.spent_usd <= Decimal("1")


def test_without_a_budget_a_reply_without_usage_is_estimated_from_the_text(fault_server: FaultServer) -> None:
    fault_server.always(Fault(json=chat_reply("one two three four five six seven eight", no_usage=True)))
    assert run_with(local(fault_server), lambda: say(topic="x")) == "one two three four five six seven eight"
    (record,) = trace.records()
    assert record.usage_estimated and record.output_tokens >= 8 and record.input_tokens > 0


def test_an_empty_answer_cut_at_the_limit_is_a_truncation_and_retried(fault_server: FaultServer) -> None:
    fault_server.script(
        Fault(json=chat_reply("", finish_reason="length")),
        Fault(json=chat_reply("at last")),
    )
    assert run_with(local(fault_server), lambda: say(topic="x")) == "at last"
    (record,) = trace.records()
    assert [a.outcome for a in record.attempt_records] == ["truncated", "ok"]
    assert "used up before any answer" in record.retry_reasons[0]


def test_an_empty_answer_cut_every_time_fails_instead_of_returning_empty(fault_server: FaultServer) -> None:
    fault_server.always(Fault(json=chat_reply("", finish_reason="length")))
    with pytest.raises(stratum.ParseFailure):
        run_with(local(fault_server), lambda: say(topic="x"))
    assert trace.records()[-1].status == "failed"


def test_anthropic_one_hour_cache_writes_are_billed_at_the_one_hour_rate(fault_server: FaultServer) -> None:
    from tests._servers import anthropic_reply

    usage = {
        "input_tokens": 1_000,
        "cache_creation_input_tokens": 10_000,
        "cache_read_input_tokens": 0,
        "output_tokens": 100,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 10_000},
    }
    fault_server.always(Fault(json=anthropic_reply("cached", usage=usage)))
    provider = Anthropic(api_key="sk-ant-test-000000000000", base_url=fault_server.url + "/v1", name="anthropic")

    @infer("Say something.", model="anthropic:claude-sonnet-4-5")
    def cached(topic: str) -> str: ...

    with stratum.configure(providers={"anthropic": provider}):
        assert stratum.run(cached(topic="x")) == "cached"
    (record,) = trace.records()
    # $3/MTok input, $6/MTok one-hour cache write, $15/MTok output (the five-minute rate is $3.75)
    assert record.cost_usd == (1_000 * 3 + 10_000 * 6 + 100 * 15) / Decimal(1_000_000)
    assert record.cache_write_tokens == 10_000


# -- impossible usage inside a stream ------------------------------------------------------------


def _sse(*events: str) -> bytes:
    return "".join(f"{event}\n\n" for event in events).encode()


def _chat_stream(usage: str) -> bytes:
    """A Chat Completions stream whose usage chunk says `usage` (JSON text, maybe not finite)."""
    head = '{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":%s}]}'
    return _sse(
        "data: " + head % ("hel", "null"),
        "data: " + head % ("lo", '"stop"'),
        'data: {"id":"c1","model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":%s}}' % usage,
        "data: [DONE]",
    )


@pytest.mark.parametrize(
    "usage", ["-5000", "NaN", "Infinity", "-Infinity", "2.5", "1e30", "1000000000000", '"12"']
)
def test_impossible_usage_in_a_stream_is_a_provider_error_charged_the_worst_case(fault_server: FaultServer, usage: str) -> None:
    fault_server.always(Fault(raw=_chat_stream(usage), content_type="text/event-stream"))

    @infer("Say something.", model="local:m", max_tokens=100, retries=0)
    def streamed(topic: str) -> str: ...

    @flow(budget=Budget(usd="0.01"))
    async def capped() -> str:
        async with streamed.stream(topic="x") as s:
            return await s.result()

    with pytest.raises(ProviderError) as caught:
        run_with(local(fault_server), capped)
    assert "impossible usage" in str(caught.value) and "check base_url" in str(caught.value)
    assert type(caught.value) is ProviderError  # not a stream broken mid-way: the server misreports
    (record,) = trace.records()
    assert record.status == "failed" and record.attempt_records[0].outcome == "provider_error"
    # the model ran but its cost cannot be read: the reserved worst case, never a refund
    assert record.usage_estimated and record.output_tokens == 100
    (flow_record,) = trace.flows()
    assert flow_record.spent_usd is not None and flow_record.spent_usd == record.cost_usd > 0
    assert len(fault_server.requests) == 1  # not retried: the same server would say it again


@pytest.mark.parametrize(
    ("dialect", "body"),
    [
        pytest.param(
            "anthropic",
            _sse(
                'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","model":"claude-sonnet-4-5",'
                '"role":"assistant","content":[],"usage":{"input_tokens":-40,"output_tokens":1}}}',
                'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
                '"content_block":{"type":"text","text":""}}',
                'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                '"delta":{"type":"text_delta","text":"hi"}}',
                'event: message_stop\ndata: {"type":"message_stop"}',
            ),
            id="anthropic-negative-input-at-start",
        ),
        pytest.param(
            "anthropic",
            _sse(
                'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","model":"claude-sonnet-4-5",'
                '"role":"assistant","content":[],"usage":{"input_tokens":40,"output_tokens":1}}}',
                'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
                '"content_block":{"type":"text","text":""}}',
                'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                '"delta":{"type":"text_delta","text":"hi"}}',
                'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
                '"usage":{"output_tokens":Infinity}}',
                'event: message_stop\ndata: {"type":"message_stop"}',
            ),
            id="anthropic-infinite-output-in-delta",
        ),
        pytest.param(
            "gemini",
            _sse(
                'data: {"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"},"finishReason":"STOP"}],'
                '"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":NaN}}'
            ),
            id="gemini-nan-output",
        ),
    ],
)
def test_impossible_usage_in_other_dialects_streams_is_a_provider_error(
    fault_server: FaultServer, dialect: str, body: bytes
) -> None:
    fault_server.always(Fault(raw=body, content_type="text/event-stream"))
    if dialect == "anthropic":
        provider: Any = Anthropic(api_key="sk-ant-test-000000000000", base_url=fault_server.url + "/v1", name="local")
    else:
        provider = Gemini(api_key="AIza-not-a-real-key-000000000000000", base_url=fault_server.url + "/v1beta", name="local")

    async def streamed() -> str:
        async with say.stream(topic="x") as s:
            return await s.result()

    with pytest.raises(ProviderError, match="impossible usage"):
        run_with(provider, streamed)
    assert trace.records()[-1].status == "failed"
