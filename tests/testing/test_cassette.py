"""Cassettes: record real provider HTTP traffic once, replay it offline, safely."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx2
import pytest
import yaml
from _testing_fakes import PLANTED_KEY, FakeProviders
from pydantic import Field

import stratum
from stratum import contract, infer
from stratum._runtime.model import Provider
from stratum.exceptions import CassetteMissError, NetworkBlockedError, StaleCassetteError
from stratum.providers import Anthropic, Gemini, OpenAI, OpenAICompatible
from stratum.testing import UnplayedInteractionsError, block_network, cassette

pytestmark = pytest.mark.anyio


@contract
class Ticket:
    category: Literal["billing", "bug", "question"]
    urgency: Annotated[int, Field(ge=1, le=5)]
    summary: Annotated[str, Field(max_length=80)]


@contract
class Ticket2:
    """Ticket, edited: one more category."""

    category: Literal["billing", "bug", "question", "other"]
    urgency: int


DIALECTS: dict[str, Callable[[str], Provider]] = {
    "openai-chat": lambda url: OpenAI(api_key=PLANTED_KEY, base_url=f"{url}/v1", organization="org-planted-organization"),
    "openai-responses": lambda url: OpenAI(api_key=PLANTED_KEY, base_url=f"{url}/v1", api="responses"),
    "anthropic": lambda url: Anthropic(api_key=PLANTED_KEY, base_url=f"{url}/v1"),
    "gemini": lambda url: Gemini(api_key=PLANTED_KEY, base_url=f"{url}/v1beta"),
    "openai-compatible": lambda url: OpenAICompatible(f"{url}/v1", api_key=PLANTED_KEY, name="local"),
}


def make_triage(intent: str = "Triage the support ticket") -> Any:
    @infer(intent, model="fake:model-x", retries=0)
    def triage(text: str) -> Ticket: ...

    return triage


async def run_triage(triage: Any, dialect: str, url: str, *texts: str) -> list[Ticket]:
    with stratum.configure(providers={"fake": DIALECTS[dialect](url)}):
        return [await triage(text=t) for t in texts]


@pytest.mark.parametrize("dialect", list(DIALECTS))
async def test_record_then_replay_with_the_network_blocked(
    dialect: str, fake_server: FakeProviders, tmp_path: Path, anyio_backend: str
) -> None:
    """Record once against a loopback server (network allowed to loopback only), replay offline."""
    path = tmp_path / "triage.yaml"
    triage = make_triage()
    with block_network(), cassette(path, record_mode="once") as tape:
        recorded = await run_triage(triage, dialect, fake_server.url, "I was charged twice", "App crashes")
    assert tape.recorded_count == 2
    hits = fake_server.hits

    with block_network(), cassette(path) as tape:
        replayed = await run_triage(triage, dialect, fake_server.url, "I was charged twice", "App crashes")
    assert replayed == recorded
    assert tape.play_count == 2
    assert fake_server.hits == hits, "the replay reached the server"
    records = stratum.trace.records()
    assert [r.status for r in records[-2:]] == ["ok", "ok"]
    assert records[-1].input_tokens == 21 and records[-1].output_tokens == 9


@pytest.mark.parametrize("dialect", list(DIALECTS))
async def test_no_secret_survives_in_the_written_file(
    dialect: str, fake_server: FakeProviders, tmp_path: Path, anyio_backend: str
) -> None:
    """The planted key (sent as a header and echoed back in the body), cookies and org ids are scrubbed."""
    path = tmp_path / "secret.yaml"
    with cassette(path, record_mode="once"):
        await run_triage(make_triage(), dialect, fake_server.url, "hello")
    raw = path.read_text()
    data = yaml.safe_load(raw)
    bodies = [i["response"]["body"]["string"] for i in data["interactions"]]
    decoded = "".join(b if isinstance(b, str) else gzip.decompress(b).decode() for b in bodies)
    for text in (raw, decoded):
        assert PLANTED_KEY not in text
        assert "planted-cookie-value" not in text
        assert "org-planted-organization" not in text
    headers = {k.lower() for i in data["interactions"] for k in (*i["request"]["headers"], *i["response"]["headers"])}
    assert not headers & {"authorization", "x-api-key", "x-goog-api-key", "set-cookie", "openai-organization"}
    # the echo of the key is still there, redacted: the body is otherwise intact
    assert "<scrubbed>" in decoded


async def test_gemini_key_in_the_query_string_is_scrubbed_and_still_matches(
    fake_server: FakeProviders, tmp_path: Path, anyio_backend: str
) -> None:
    """`?key=` is dropped from the recorded URL, and requests still match without it."""
    path = tmp_path / "query.yaml"
    client = httpx2.AsyncClient()
    from stratum.providers._intercept import Exchange, send_intercepted

    async def post(url: str) -> Any:
        request = client.build_request("POST", url, json={"contents": [{"parts": [{"text": "hi"}]}]})
        return await send_intercepted(request, Exchange("gemini", "gemini", None), client.send)

    url = f"{fake_server.url}/v1beta/models/gemini-x:generateContent?key={PLANTED_KEY}&alt=json"
    with cassette(path, record_mode="once"):
        first = await post(url)
    assert PLANTED_KEY not in path.read_text()
    assert "alt=json" in path.read_text()
    with block_network(), cassette(path):
        again = await post(url.replace(PLANTED_KEY, "AIzaOtherKeyOnTheCiMachine000000000000"))
    assert again.json()["candidates"] == first.json()["candidates"]
    await client.aclose()


async def test_matching_ignores_json_key_order_and_whitespace(
    fake_server: FakeProviders, tmp_path: Path, anyio_backend: str
) -> None:
    from stratum.providers._intercept import Exchange, send_intercepted

    path = tmp_path / "order.yaml"
    client = httpx2.AsyncClient()
    url = f"{fake_server.url}/v1/chat/completions"

    async def post(content: bytes) -> Any:
        request = client.build_request("POST", url, content=content, headers={"content-type": "application/json"})
        return await send_intercepted(request, Exchange("openai", "openai-chat", None), client.send)

    with cassette(path, record_mode="once"):
        await post(b'{"model":"m","messages":[{"role":"user","content":"hi"}]}')
    with block_network(), cassette(path) as tape:
        response = await post(b'{\n  "messages": [ {"content": "hi", "role": "user"} ],\n  "model": "m"\n}')
    assert response.status_code == 200 and tape.play_count == 1
    with block_network(), cassette(path), pytest.raises(CassetteMissError) as miss:
        await post(b'{"model":"m","messages":[{"role":"user","content":"bye"}]}')
    assert '-      "content": "hi"' in str(miss.value) and '+      "content": "bye"' in str(miss.value)
    await client.aclose()


async def test_a_miss_shows_a_diff_against_the_closest_recording(
    fake_server: FakeProviders, tmp_path: Path, anyio_backend: str
) -> None:
    path = tmp_path / "miss.yaml"
    triage = make_triage()
    with cassette(path, record_mode="once"):
        await run_triage(triage, "openai-chat", fake_server.url, "I was charged twice")
    with block_network(), cassette(path), pytest.raises(CassetteMissError) as miss:
        await run_triage(triage, "openai-chat", fake_server.url, "I was charged three times")
    message = str(miss.value)
    assert not isinstance(miss.value, StaleCassetteError)
    assert "--- recorded #1" in message and "+++ requested" in message
    assert "-" in message and "charged twice" in message and "charged three times" in message
    assert "record_mode='new'" in message
    record = stratum.trace.records()[-1]
    assert record.status == "failed" and record.error is not None and "CassetteMissError" in record.error


async def test_changing_the_intent_reports_a_stale_cassette_with_both_hashes(
    fake_server: FakeProviders, tmp_path: Path, anyio_backend: str
) -> None:
    path = tmp_path / "stale.yaml"
    with cassette(path, record_mode="once"):
        await run_triage(make_triage("Triage the support ticket"), "anthropic", fake_server.url, "refund please")
    recorded = yaml.safe_load(path.read_text())["interactions"][0]["request"]["headers"]
    old_template = recorded["x-stratum-template-hash"][0]

    edited = make_triage("Triage the support ticket and be terse")
    with block_network(), cassette(path), pytest.raises(StaleCassetteError) as stale:
        await run_triage(edited, "anthropic", fake_server.url, "refund please")
    message = str(stale.value)
    assert old_template in message and "intent or context changed" in message
    assert "make_triage.<locals>.triage" in message
    assert "record_mode='all'" in message
    assert isinstance(stale.value, CassetteMissError)


async def test_changing_the_contract_is_stale_too(fake_server: FakeProviders, tmp_path: Path, anyio_backend: str) -> None:
    path = tmp_path / "contract.yaml"

    @infer("Triage the support ticket", model="fake:model-x", retries=0)
    def triage(text: str) -> Ticket: ...

    with cassette(path, record_mode="once"):
        await run_triage(triage, "gemini", fake_server.url, "hello")

    @infer("Triage the support ticket", model="fake:model-x", retries=0)
    def triage(text: str) -> Ticket2: ...  # noqa: F811 - the same function, edited

    with cassette(path), pytest.raises(StaleCassetteError, match="contract hash"):
        await run_triage(triage, "gemini", fake_server.url, "hello")


async def test_unplayed_interactions_can_fail_the_test(
    fake_server: FakeProviders, tmp_path: Path, anyio_backend: str
) -> None:
    path = tmp_path / "unplayed.yaml"
    triage = make_triage()
    with cassette(path, record_mode="once"):
        await run_triage(triage, "openai-chat", fake_server.url, "one", "two")
    with cassette(path):  # allowed by default
        await run_triage(triage, "openai-chat", fake_server.url, "one")
    with pytest.raises(UnplayedInteractionsError, match="1 interaction"):
        with cassette(path, allow_unplayed=False):
            await run_triage(triage, "openai-chat", fake_server.url, "one")


async def test_record_modes(fake_server: FakeProviders, tmp_path: Path, anyio_backend: str) -> None:
    """none never records; once records only a missing file; new appends; all rewrites."""
    path = tmp_path / "modes.yaml"
    triage = make_triage()
    with cassette(path), pytest.raises(CassetteMissError, match="does not exist"):
        await run_triage(triage, "openai-chat", fake_server.url, "a")
    assert not path.exists()
    with cassette(path, record_mode="once"):
        await run_triage(triage, "openai-chat", fake_server.url, "a")
    with cassette(path, record_mode="once"), pytest.raises(CassetteMissError):
        await run_triage(triage, "openai-chat", fake_server.url, "b")
    with cassette(path, record_mode="new") as tape:
        await run_triage(triage, "openai-chat", fake_server.url, "a", "b")
    assert (tape.play_count, tape.recorded_count) == (1, 1)
    assert len(yaml.safe_load(path.read_text())["interactions"]) == 2
    hits = fake_server.hits
    with cassette(path, record_mode="all") as tape:
        await run_triage(triage, "openai-chat", fake_server.url, "c")
    assert fake_server.hits == hits + 1 and tape.recorded_count == 1
    assert len(yaml.safe_load(path.read_text())["interactions"]) == 1


async def test_provider_fault_retries_are_recorded_and_replayed_in_order(
    fake_server: FakeProviders, tmp_path: Path, anyio_backend: str
) -> None:
    """A 429 then a 200 for the same body replays as a 429 then a 200: the retry is the same."""
    path = tmp_path / "retry.yaml"
    triage = make_triage()
    fake_server.fail_next.append((429, {"retry-after": "0"}))
    with cassette(path, record_mode="once"):
        first = await run_triage(triage, "openai-chat", fake_server.url, "slow down")
    statuses = [i["response"]["status"]["code"] for i in yaml.safe_load(path.read_text())["interactions"]]
    assert statuses == [429, 200]
    with block_network(), cassette(path, allow_unplayed=False):
        again = await run_triage(triage, "openai-chat", fake_server.url, "slow down")
    assert again == first
    assert stratum.trace.records()[-1].attempt_records[0].fault_retries == 1


async def test_cassette_works_as_a_decorator_sync_and_async(
    fake_server: FakeProviders, tmp_path: Path, anyio_backend: str
) -> None:
    path = tmp_path / "deco.yaml"
    triage = make_triage()
    with cassette(path, record_mode="once"):
        expected = await run_triage(triage, "openai-chat", fake_server.url, "x")

    @cassette(path)
    async def replay() -> list[Ticket]:
        with block_network():
            return await run_triage(triage, "openai-chat", fake_server.url, "x")

    assert await replay() == expected
    assert await replay() == expected  # each call opens the file afresh

    @cassette(path)
    def sync_side() -> int:
        return 1

    assert sync_side() == 1

    async with cassette(path) as tape:
        await run_triage(triage, "openai-chat", fake_server.url, "x")
    assert tape.play_count == 1


async def test_without_a_cassette_the_guard_still_blocks(tmp_path: Path, anyio_backend: str) -> None:
    triage = make_triage()
    with block_network(), pytest.raises(NetworkBlockedError):
        await run_triage(triage, "openai-chat", "https://api.openai.com", "x")


# -- interoperability with stock vcrpy -------------------------------------------------------


def test_stock_vcrpy_replays_a_stratum_cassette(fake_server: FakeProviders, tmp_path: Path) -> None:
    """A Stratum cassette loads in plain vcrpy and answers an httpx2 request with match_on incl. body."""
    import vcr

    path = tmp_path / "stock.yaml"
    triage = make_triage()

    async def record() -> list[Ticket]:
        with cassette(path, record_mode="once"):
            return await run_triage(triage, "openai-chat", fake_server.url, "vcr please")

    [ticket] = stratum.run(record())
    recorded = yaml.safe_load(path.read_text())["interactions"][0]["request"]
    hits = fake_server.hits
    with vcr.use_cassette(str(path), record_mode="none", match_on=["method", "uri", "body"]):
        with httpx2.Client() as client:
            response = client.post(recorded["uri"], content=recorded["body"].encode(), headers={"authorization": "x"})
    assert fake_server.hits == hits
    content = json.loads(response.json()["choices"][0]["message"]["content"])
    assert Ticket(**content) == ticket


_REAL_CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "real_cassettes"


async def test_stratum_replays_a_stock_cassette_recorded_by_another_tool(anyio_backend: str) -> None:
    """simonw/llm's recording (gzip body stored as !!binary) replays when the request matches."""
    path = _REAL_CASSETTES / "llm/tests/cassettes/test_openai_responses/test_responses_basic_non_streaming.yaml"
    stored = yaml.safe_load(path.read_text())["interactions"][0]["request"]
    from stratum.providers._intercept import Exchange, send_intercepted

    client = httpx2.AsyncClient()

    async def post(body: bytes) -> Any:
        request = client.build_request("POST", stored["uri"], content=body, headers={"authorization": "Bearer sk-ci"})
        return await send_intercepted(request, Exchange("openai", "openai-responses", None), client.send)

    # the same JSON, re-serialized with other spacing and key order: still a match
    body = json.dumps(json.loads(stored["body"]), indent=1, sort_keys=True).encode()
    with block_network(), cassette(path, allow_unplayed=False):
        response = await post(body)
    assert response.status_code == 200
    data = response.json()  # the gzip body was decoded
    assert data["model"] == "gpt-5.5-2026-04-23" and data["usage"]["input_tokens"] == 11
    await client.aclose()


async def test_guard_inside_a_cassette_scope_still_lets_it_replay(
    fake_server: FakeProviders, tmp_path: Path, anyio_backend: str
) -> None:
    from stratum.providers._intercept import Exchange, send_intercepted

    path = tmp_path / "nesting.yaml"
    client = httpx2.AsyncClient()
    remote = "https://api.openai.com/v1/chat/completions"

    def request() -> Any:
        return client.build_request("POST", remote, json={"model": "m", "messages": []})

    # record a remote-looking URL through a mock transport (no network involved)
    mock = httpx2.AsyncClient(transport=httpx2.MockTransport(lambda r: httpx2.Response(200, json={"ok": 1})))
    with cassette(path, record_mode="once"):
        await send_intercepted(request(), Exchange("openai", "openai-chat", None), mock.send)
    with cassette(path), block_network():  # the guard is entered last, so it runs first
        response = await send_intercepted(request(), Exchange("openai", "openai-chat", None), client.send)
    assert response.json() == {"ok": 1}
    # a recording cassette inside a guard cannot slip past it
    with block_network(), cassette(tmp_path / "other.yaml", record_mode="all"):
        with pytest.raises(NetworkBlockedError):
            await send_intercepted(request(), Exchange("openai", "openai-chat", None), client.send)
    await client.aclose()
    await mock.aclose()
