"""cache="session"|"global": keys, scopes, persistence, ensure re-check, hit records."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import stratum
from stratum import flow, infer
from stratum._compose.cache import CACHE_PATH_ENV, cache_path
from stratum._runtime import context as _context
from stratum.testing import ScriptedModel, use_model
from stratum.trace import MemorySink

from .models import PRICE, Verdict, verdict

pytestmark = pytest.mark.anyio


@infer("Judge the claim", cache="session", max_tokens=200)
def session_judge(claim: str) -> Verdict: ...


@infer("Judge the claim for the record", cache="global", max_tokens=200)
def global_judge(claim: str) -> Verdict: ...


@infer("Judge the claim for the record", cache="global", max_tokens=200, ensure=lambda r: r.confidence > 0.5)
def strict_global_judge(claim: str) -> Verdict: ...


async def test_session_cache_answers_a_repeated_call_inside_one_flow_run(store: MemorySink) -> None:
    model = ScriptedModel([verdict("approve"), verdict("reject")], price=PRICE)

    @flow
    async def run() -> tuple[Verdict, Verdict, Verdict]:
        return await session_judge(claim="a"), await session_judge(claim="a"), await session_judge(claim="b")

    with use_model(model):
        first, again, other = await run()
    assert again == first and other.label == "reject"
    assert len(model.requests) == 2
    hit = [r for r in store.records() if r.cache_hit]
    assert len(hit) == 1
    assert hit[0].cost_usd == 0 and hit[0].input_tokens == 0 and hit[0].output_tokens == 0 and hit[0].attempts == 0
    assert hit[0].output == first and hit[0].status == "ok"
    assert hit[0].compiled_prompt_hash == store.records()[0].compiled_prompt_hash


async def test_session_cache_is_one_flow_run_and_nothing_outside_flows() -> None:
    model = ScriptedModel([verdict("approve")] * 4)

    @flow
    async def run() -> Verdict:
        return await session_judge(claim="a")

    with use_model(model):
        await run()
        await run()
        await session_judge(claim="a")
        await session_judge(claim="a")
    assert len(model.requests) == 4


async def test_global_cache_persists_in_sqlite(cache_file: Path, store: MemorySink) -> None:
    with use_model(ScriptedModel([verdict("approve")])):
        first = await global_judge(claim="a")
    assert cache_file.exists()
    with sqlite3.connect(cache_file) as conn:
        assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 1
    with use_model(ScriptedModel([])):  # no responses: must be served from the store
        again = await global_judge(claim="a")
    assert again == first
    assert store.records()[-1].cache_hit


async def test_cache_key_covers_inputs_and_model(cache_file: Path) -> None:
    model = ScriptedModel([verdict("approve"), verdict("reject")])
    with use_model(model):
        await global_judge(claim="a")
        await global_judge(claim="b")
    assert len(model.requests) == 2
    other = ScriptedModel([verdict("unsure")])
    other.model_name = "other-model"
    with use_model(other):
        result = await global_judge(claim="a")  # another model: its own answer, not the cached one
    assert result.label == "unsure"


async def test_a_cached_value_that_now_fails_ensure_is_recomputed(store: MemorySink) -> None:
    # Same intent, contract and inputs: same key. The stricter function rejects the stored value.
    with use_model(ScriptedModel([verdict("approve", 0.3)])):
        await global_judge(claim="a")
    model = ScriptedModel([verdict("approve", 0.9)])
    with use_model(model):
        result = await strict_global_judge(claim="a")
    assert result.confidence == 0.9 and len(model.requests) == 1
    last = store.records()[-1]
    assert not last.cache_hit and last.meta.get("cache_stale") is True
    with use_model(ScriptedModel([])):
        assert (await strict_global_judge(claim="a")).confidence == 0.9  # the fresh value replaced it


async def test_cache_path_comes_from_the_scope_then_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_PATH_ENV, str(tmp_path / "env.sqlite3"))
    with _context.caching_at(None):
        assert cache_path() == tmp_path / "env.sqlite3"
        with stratum.cache_store(tmp_path / "scoped.sqlite3"):
            assert cache_path() == tmp_path / "scoped.sqlite3"
    monkeypatch.delenv(CACHE_PATH_ENV)
    with _context.caching_at(None):
        assert cache_path() == Path.cwd() / ".stratum" / "cache.sqlite3"
