"""The Redis ledger's scripts against a real redis-server: caps, leases, thresholds, errors."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from stratum.exceptions import BudgetExceeded, ConfigurationError, LedgerError
from stratum.ledger import RedisLedger
from stratum.ledger._redis import Account, nano

pytestmark = pytest.mark.anyio


def account(key: str, usd: str | None = "1", tokens: int | None = None, thresholds: tuple[float, ...] = ()) -> Account:
    return Account(key, None if usd is None else nano(Decimal(usd), up=False), tokens, thresholds)


async def test_reserve_settle_release_round_trip(redis_url: str, key: str) -> None:
    ledger = RedisLedger(redis_url)
    acc = account(key, usd="1")
    # 1000 input tokens at 1000 nano each = $0.001; output 2000 nano per token, cap 100
    grant = await ledger.reserve(
        [acc], input_tokens=1000, max_tokens=100, min_output=16, input_nano=1_000_000,
        output_nano_per_token=2000.0, model="m",
    )
    assert (grant.max_tokens, grant.usd, grant.tokens) == (100, 1_200_000, 1100)
    state = await ledger.state(key)
    assert state.reserved_usd == Decimal("0.0012") and state.open_reservations == 1
    settled = await ledger.settle([acc], grant.grant_id, cost_nano=500_000, tokens=900)
    assert settled.totals[0].reserved_usd == 0 and settled.totals[0].spent_usd == 500_000
    state = await ledger.state(key)
    assert (state.spent_usd, state.spent_tokens, state.reserved_usd, state.open_reservations) == (
        Decimal("0.0005"), 900, 0, 0)
    again = await ledger.reserve(
        [acc], input_tokens=10, max_tokens=None, min_output=16, input_nano=0, output_nano_per_token=0.0, model="m"
    )
    await ledger.release([acc], again.grant_id)
    await ledger.release([acc], again.grant_id)  # idempotent
    assert (await ledger.state(key)).reserved_tokens == 0
    await ledger.aclose()


async def test_output_cap_lowered_to_what_fits_then_refused(redis_url: str, key: str) -> None:
    ledger = RedisLedger(redis_url)
    acc = account(key, usd="0.001")  # 1_000_000 nano
    grant = await ledger.reserve(
        [acc], input_tokens=100, max_tokens=4096, min_output=16, input_nano=100_000,
        output_nano_per_token=1000.0, model="m",
    )
    assert grant.max_tokens == 900  # (1_000_000 - 100_000) / 1000
    with pytest.raises(BudgetExceeded) as info:
        await ledger.reserve(
            [acc], input_tokens=100, max_tokens=4096, min_output=16, input_nano=100_000,
            output_nano_per_token=1000.0, model="m",
        )
    assert info.value.axis == "usd" and info.value.limit == Decimal("0.001")
    assert "across every process" in str(info.value)
    await ledger.aclose()


async def test_token_axis(redis_url: str, key: str) -> None:
    ledger = RedisLedger(redis_url)
    acc = account(key, usd=None, tokens=500)
    grant = await ledger.reserve(
        [acc], input_tokens=200, max_tokens=4096, min_output=16, input_nano=0, output_nano_per_token=None, model="m"
    )
    assert grant.max_tokens == 300 and grant.usd == 0
    with pytest.raises(BudgetExceeded) as info:
        await ledger.reserve(
            [acc], input_tokens=1, max_tokens=None, min_output=16, input_nano=0, output_nano_per_token=None, model="m"
        )
    assert info.value.axis == "tokens"
    await ledger.aclose()


async def test_many_clients_never_pass_the_cap(redis_url: str, key: str) -> None:
    """400 concurrent reservations through 8 separate connection pools: spent never passes usd."""
    ledgers = [RedisLedger(redis_url) for _ in range(8)]
    acc = account(key, usd="0.05")  # 50_000_000 nano; each call holds up to 1_100_000
    admitted = 0
    refused = 0

    async def one(ledger: RedisLedger) -> None:
        nonlocal admitted, refused
        try:
            grant = await ledger.reserve(
                [acc], input_tokens=100, max_tokens=1000, min_output=1000, input_nano=100_000,
                output_nano_per_token=1000.0, model="m",
            )
        except BudgetExceeded:
            refused += 1
            return
        admitted += 1
        await asyncio.sleep(0)
        await ledger.settle([acc], grant.grant_id, cost_nano=grant.usd, tokens=grant.tokens)

    await asyncio.gather(*(one(ledgers[i % 8]) for i in range(400)))
    state = await ledgers[0].state(key)
    assert state.spent_usd <= Decimal("0.05")
    assert state.spent_usd == Decimal("0.0011") * admitted
    assert admitted == 45 and refused == 355  # 45 * 1.1 mUSD fits in 50 mUSD, the 46th does not
    assert state.reserved_usd == 0 and state.open_reservations == 0
    for ledger in ledgers:
        await ledger.aclose()


async def test_lease_gives_back_a_dead_workers_reservation(redis_url: str, key: str) -> None:
    dead = RedisLedger(redis_url, lease=0.3)
    acc = account(key, usd="1")
    await dead.reserve(
        [acc], input_tokens=10, max_tokens=10, min_output=1, input_nano=10, output_nano_per_token=1.0, model="m"
    )
    # The worker "dies": its renewer stops and nobody settles.
    for state in list(dead._states.values()):
        assert state.renewer is not None
        state.renewer.cancel()
        state.open.clear()
    assert (await dead.state(key)).open_reservations == 1
    await asyncio.sleep(0.5)
    state = await RedisLedger(redis_url).state(key)
    assert (state.reserved_usd, state.reserved_tokens, state.open_reservations) == (0, 0, 0)
    await dead.aclose()


async def test_live_worker_renews_its_lease(redis_url: str, key: str) -> None:
    ledger = RedisLedger(redis_url, lease=0.3)
    acc = account(key, usd="1")
    grant = await ledger.reserve(
        [acc], input_tokens=10, max_tokens=10, min_output=1, input_nano=10, output_nano_per_token=1.0, model="m"
    )
    await asyncio.sleep(0.9)  # three leases long: only renewals keep it
    assert (await ledger.state(key)).open_reservations == 1
    await ledger.settle([acc], grant.grant_id, cost_nano=15, tokens=15)
    state = await ledger.state(key)
    assert (state.open_reservations, state.spent_tokens) == (0, 15)
    await ledger.aclose()


async def test_settling_after_the_lease_lapsed_still_charges_once(redis_url: str, key: str) -> None:
    ledger = RedisLedger(redis_url, lease=0.2)
    acc = account(key, usd="1")
    grant = await ledger.reserve(
        [acc], input_tokens=10, max_tokens=10, min_output=1, input_nano=10, output_nano_per_token=1.0, model="m"
    )
    for state in ledger._states.values():
        assert state.renewer is not None
        state.renewer.cancel()
    await asyncio.sleep(0.3)
    await ledger.settle([acc], grant.grant_id, cost_nano=15, tokens=15)
    state = await ledger.state(key)
    assert (state.spent_usd, state.reserved_usd, state.reserved_tokens) == (Decimal("0.000000015"), 0, 0)
    await ledger.aclose()


async def test_each_threshold_fires_once_across_clients(redis_url: str, key: str) -> None:
    ledgers = [RedisLedger(redis_url) for _ in range(4)]
    acc = account(key, usd="0.000001", thresholds=(0.5, 0.8))  # 1000 nano
    crossed = []
    for i in range(10):
        settled = await ledgers[i % 4].settle([acc], None, cost_nano=100, tokens=1)
        crossed.extend((c.axis, c.threshold, c.spent) for c in settled.crossed)
    # The limit is stored on the first reservation; settle alone on a fresh key has none yet.
    assert crossed == []
    await ledgers[0].reset(key)
    await ledgers[0].reserve(
        [acc], input_tokens=1, max_tokens=1, min_output=1, input_nano=0, output_nano_per_token=0.0, model="m"
    )
    for i in range(10):
        settled = await ledgers[i % 4].settle([acc], None, cost_nano=100, tokens=1)
        crossed.extend((c.axis, c.threshold, c.spent) for c in settled.crossed)
    assert crossed == [("usd", 0.5, 500), ("usd", 0.8, 800)]
    for ledger in ledgers:
        await ledger.aclose()


async def test_nested_shared_envelopes_reserve_in_one_step(redis_url: str, key: str) -> None:
    ledger = RedisLedger(redis_url)
    outer, inner = account(key + "-outer", usd="1"), account(key + "-inner", usd="0.0001")
    grant = await ledger.reserve(
        [inner, outer], input_tokens=10, max_tokens=10_000, min_output=1, input_nano=10_000,
        output_nano_per_token=100.0, model="m",
    )
    assert grant.max_tokens == 900  # the inner envelope's 100_000 nano decides
    assert [t.reserved_usd for t in grant.totals] == [100_000, 100_000]
    await ledger.release([inner, outer], grant.grant_id)
    assert (await ledger.state(key + "-outer")).reserved_usd == 0
    await ledger.aclose()


async def test_limits_must_agree_across_processes(redis_url: str, key: str) -> None:
    ledger = RedisLedger(redis_url)
    await ledger.reserve(
        [account(key, usd="1")], input_tokens=1, max_tokens=1, min_output=1, input_nano=0,
        output_nano_per_token=0.0, model="m",
    )
    with pytest.raises(ConfigurationError, match=r"opened with usd=1(\.0+)?, tokens=None, but this Budget says usd=2"):
        await ledger.reserve(
            [account(key, usd="2")], input_tokens=1, max_tokens=1, min_output=1, input_nano=0,
            output_nano_per_token=0.0, model="m",
        )
    await ledger.reset(key)
    await ledger.reserve(
        [account(key, usd="2")], input_tokens=1, max_tokens=1, min_output=1, input_nano=0,
        output_nano_per_token=0.0, model="m",
    )
    assert (await ledger.state(key)).limit_usd == Decimal(2)
    await ledger.aclose()


async def test_unreachable_redis_is_a_ledger_error_without_the_password() -> None:
    ledger = RedisLedger("redis://:hunter2@127.0.0.1:1/0")
    with pytest.raises(LedgerError, match="Redis is running") as info:
        await ledger.state("x")
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(ledger)
    await ledger.aclose()


def test_bad_urls_and_leases_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="not a Redis URL"):
        RedisLedger("http://localhost:6379")
    with pytest.raises(ConfigurationError, match="lease"):
        RedisLedger("redis://localhost", lease=0)
