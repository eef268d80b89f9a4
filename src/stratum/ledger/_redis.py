"""`RedisLedger`: envelopes whose totals live in Redis, shared by every process that names them.

Reserve, settle and release are Lua scripts (`_scripts`), so each is one atomic step on the
server however many processes call it: the sum of what is spent and reserved never passes a
limit. A reservation carries a lease: the process holding it renews every open lease in one
round-trip every `lease / 3` seconds, and when a worker dies its reservations are given back
by the next script that touches the envelope once the lease has run out.

The client is the maintained `redis` package (`redis.asyncio`), an optional extra
(`pip install 'stratum[redis]'`). One connection pool per event loop, closed with the loop.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, Literal, cast

from stratum.exceptions import BudgetExceeded, ConfigurationError, LedgerError
from stratum.ledger import _scripts

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ("Account", "Grant", "LedgerState", "RedisLedger", "Settled", "Totals", "nano", "usd_of")

_NANO = Decimal(10) ** 9
_SCHEMES = ("redis://", "rediss://", "unix://")


def nano(usd: Decimal, *, up: bool) -> int:
    """`usd` in whole nano-dollars, rounded up (costs, reservations) or down (limits)."""
    return int((usd * _NANO).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR))


def usd_of(nanos: int) -> Decimal:
    """Nano-dollars back to Decimal USD."""
    return Decimal(nanos) / _NANO


@dataclass(frozen=True, slots=True)
class Account:
    """One shared envelope as a script sees it: its key, limits and thresholds."""

    key: str
    limit_usd: int | None
    """Nano-dollars, or None for no USD limit."""
    limit_tokens: int | None
    thresholds: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Totals:
    """An envelope's shared numbers right after a script ran (USD in nano-dollars)."""

    spent_usd: int
    spent_tokens: int
    reserved_usd: int
    reserved_tokens: int
    unpriced: int


@dataclass(frozen=True, slots=True)
class Grant:
    """A reservation the ledger granted: its id, output cap and held amounts, per-envelope totals."""

    grant_id: str
    max_tokens: int | None
    usd: int
    tokens: int
    totals: tuple[Totals, ...]


@dataclass(frozen=True, slots=True)
class Crossed:
    """A threshold the settlement crossed first across every process (it fires here only)."""

    index: int
    axis: Literal["usd", "tokens"]
    threshold: float
    spent: int
    limit: int


@dataclass(frozen=True, slots=True)
class Settled:
    """What a settlement left: per-envelope totals and the thresholds it crossed."""

    totals: tuple[Totals, ...]
    crossed: tuple[Crossed, ...]


@dataclass(frozen=True, slots=True)
class LedgerState:
    """The shared numbers of one envelope, read from the ledger (expired leases given back first)."""

    key: str
    limit_usd: Decimal | None
    limit_tokens: int | None
    spent_usd: Decimal
    spent_tokens: int
    reserved_usd: Decimal
    reserved_tokens: int
    open_reservations: int
    unpriced_calls: int


def _totals(row: Any) -> Totals:
    values = [int(v) for v in cast(list[Any], row)]
    return Totals(*values[:5])


class _LoopState:
    """The client of one ledger in one event loop, its open grants and their renewer."""

    __slots__ = ("client", "closer", "open", "renewer", "scripts")

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.scripts: dict[str, Any] = {}
        self.open: dict[str, tuple[str, ...]] = {}
        self.renewer: asyncio.Task[None] | None = None
        self.closer: AsyncGenerator[None, None] | None = None


async def _close_at_loop_end(state: _LoopState) -> AsyncGenerator[None, None]:
    """Close the pool when its event loop shuts down (the loop finalizes this generator)."""
    try:
        yield
    finally:
        if state.renewer is not None:
            state.renewer.cancel()
        await state.client.aclose()


class RedisLedger:
    """A Redis server holding shared budget envelopes.

    Args:
        url: `redis://host:port/db` (or `rediss://`, `unix://`).
        lease: seconds a reservation stays held without renewal; a worker that dies mid-call
            gives its reservations back this long after its last renewal. Live workers renew
            every `lease / 3` seconds, so a call may run longer than the lease.
        prefix: the prefix of every Redis key the ledger writes.
        max_connections: connections per event loop; calls beyond wait for a free one.

    Example:
        ```python
        ledger = RedisLedger("redis://127.0.0.1:6379/0", lease=30)
        budget = Budget(usd=50, ledger=ledger, key="nightly-eval")
        state = await ledger.state("nightly-eval")
        ```
    """

    def __init__(
        self, url: str, *, lease: float = 30.0, prefix: str = "stratum:ledger:", max_connections: int = 16
    ) -> None:
        if not isinstance(url, str) or not url.startswith(_SCHEMES):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(
                f"ledger URL {url!r} is not a Redis URL; pass 'redis://host:port/db' "
                "(or 'rediss://...' for TLS, 'unix:///path/to/redis.sock')"
            )
        if not lease > 0:
            raise ConfigurationError(f"RedisLedger(lease={lease!r}): the lease must be a positive number of seconds")
        if max_connections < 1:
            raise ConfigurationError(f"RedisLedger(max_connections={max_connections!r}): pass 1 or more")
        self.url = url
        self.max_connections = max_connections
        self.lease = float(lease)
        self.prefix = prefix
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        # The URL may carry a password: show the host part only.
        host = self.url.rsplit("@", 1)[-1]
        return f"RedisLedger({host!r}, lease={self.lease:g})"

    # -- plumbing ----------------------------------------------------------------------------

    def keys(self, key: str) -> tuple[str, str, str]:
        """The three Redis keys of envelope `key`."""
        base = f"{self.prefix}{{{key}}}"
        return base, f"{base}:leases", f"{base}:grants"

    async def _state(self) -> _LoopState:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ConfigurationError(
                "a Redis budget ledger needs an asyncio event loop (redis.asyncio); run the flow "
                "under asyncio, or use a local Budget without ledger="
            ) from None
        state = self._states.get(loop)
        if state is None:
            try:
                from redis.asyncio import BlockingConnectionPool, Redis
            except ImportError:
                raise ConfigurationError(
                    "a Redis budget ledger needs the redis client: pip install 'stratum[redis]'"
                ) from None
            # A bounded pool that makes callers wait for a free connection: hundreds of calls in
            # flight share a few connections instead of failing with "too many connections".
            pool = BlockingConnectionPool.from_url(  # pyright: ignore[reportUnknownMemberType]
                self.url, max_connections=self.max_connections, timeout=30
            )
            state = _LoopState(Redis.from_pool(pool))
            self._states[loop] = state
            state.closer = _close_at_loop_end(state)
            await state.closer.__anext__()
        return state

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[str | int | float]) -> Any:
        state = await self._state()
        try:
            return await _eval(state, script, keys, args)
        except Exception as exc:
            if _is_redis_error(exc):
                raise LedgerError(
                    f"the budget ledger at {self!r} failed: {type(exc).__name__}: {exc}; check that "
                    "Redis is running and reachable, or drop ledger= to use a local budget"
                ) from None
            raise

    def _keys_of(self, accounts: Sequence[Account]) -> list[str]:
        return [k for account in accounts for k in self.keys(account.key)]

    # -- the four operations -----------------------------------------------------------------

    async def reserve(
        self,
        accounts: Sequence[Account],
        *,
        input_tokens: int,
        max_tokens: int | None,
        min_output: int,
        input_nano: int,
        output_nano_per_token: float | None,
        model: str,
    ) -> Grant:
        """Hold the worst case of one attempt in every envelope of `accounts`, atomically.

        Lowers the output cap to what fits everywhere; raises `BudgetExceeded` when not even
        `min_output` tokens fit in one of them.
        """
        grant_id = uuid.uuid4().hex
        args: list[str | int | float] = [
            grant_id,
            int(self.lease * 1000),
            input_tokens,
            -1 if max_tokens is None else max_tokens,
            min_output,
            input_nano,
            -1 if output_nano_per_token is None else repr(float(output_nano_per_token)),
        ]
        for account in accounts:
            args += [
                -1 if account.limit_usd is None else account.limit_usd,
                -1 if account.limit_tokens is None else account.limit_tokens,
            ]
        reply = await self._run(_scripts.RESERVE, self._keys_of(accounts), args)
        kind = _text(reply[0])
        if kind == "ok":
            out = int(reply[1])
            grant = Grant(
                grant_id, None if out < 0 else out, int(reply[2]), int(reply[3]), tuple(_totals(r) for r in reply[4:])
            )
            state = await self._state()
            state.open[grant_id] = tuple(account.key for account in accounts)
            if state.renewer is None or state.renewer.done():
                state.renewer = asyncio.get_running_loop().create_task(self._renew(state))
            return grant
        account = accounts[int(reply[1 if kind != "exceeded" else 2]) - 1]
        if kind == "mismatch":
            held = (None if _text(reply[2]) == "-1" else usd_of(int(_text(reply[2]))), _text(reply[3]))
            raise ConfigurationError(
                f"the shared budget {account.key!r} at {self!r} was opened with usd={held[0]}, "
                f"tokens={None if held[1] == '-1' else held[1]}, but this Budget says "
                f"usd={None if account.limit_usd is None else usd_of(account.limit_usd)}, "
                f"tokens={account.limit_tokens}; use the same limits everywhere, another key=, "
                "or start over with `await ledger.reset(key)`"
            )
        if kind == "unpriced":
            raise ConfigurationError(f"no price is known for {model!r} under the shared usd budget {account.key!r}")
        axis = _text(reply[1])
        limit, spent, reserved = int(reply[3]), int(reply[4]), int(reply[5])
        if axis == "tokens":
            raise BudgetExceeded(
                f"shared token budget {account.key!r} of {limit} cannot fit this call: {spent} spent and "
                f"{reserved} reserved by calls in flight across every process, ~{input_tokens} input + at "
                f"least {min_output} output needed; raise the limit (after `await ledger.reset(key)`) or "
                "shorten the input",
                axis="tokens",
                limit=limit,
                spent=spent,
            )
        raise BudgetExceeded(
            f"shared usd budget {account.key!r} of ${usd_of(limit)} cannot fit this call: ${usd_of(spent)} "
            f"spent and ${usd_of(reserved)} reserved by calls in flight across every process, and "
            f"~{input_tokens} input tokens plus {min_output} output tokens of {model} cost more than "
            f"what is left; raise the limit (after `await ledger.reset(key)`) or use a cheaper model",
            axis="usd",
            limit=usd_of(limit),
            spent=usd_of(spent),
        )

    async def settle(
        self, accounts: Sequence[Account], grant_id: str | None, *, cost_nano: int | None, tokens: int
    ) -> Settled:
        """Give back `grant_id` (if any) and charge the actual cost and tokens, atomically."""
        args: list[str | int | float] = [grant_id or "", -1 if cost_nano is None else cost_nano, tokens]
        for account in accounts:
            args += [len(account.thresholds), *(repr(t) for t in account.thresholds)]
        state = await self._state()
        if grant_id is not None:
            state.open.pop(grant_id, None)
        reply = await self._run(_scripts.SETTLE, self._keys_of(accounts), args)
        totals = tuple(_totals(row) for row in reply[1:-1])
        crossed = tuple(
            Crossed(int(e[0]) - 1, cast(Literal["usd", "tokens"], _text(e[1])), float(_text(e[2])), int(e[3]), int(e[4]))
            for e in cast(list[list[Any]], reply[-1])
        )
        return Settled(totals, crossed)

    async def release(self, accounts: Sequence[Account], grant_id: str) -> tuple[Totals, ...]:
        """Give back `grant_id` without charging anything (idempotent)."""
        state = await self._state()
        state.open.pop(grant_id, None)
        reply = await self._run(_scripts.RELEASE, self._keys_of(accounts), [grant_id])
        return tuple(_totals(row) for row in reply[1:])

    async def _renew(self, state: _LoopState) -> None:
        """Extend every open lease of this process until none is left open."""
        while state.open:
            await asyncio.sleep(self.lease / 3)
            groups: dict[tuple[str, ...], list[str]] = {}
            for grant_id, keys in list(state.open.items()):
                groups.setdefault(keys, []).append(grant_id)
            for keys, ids in groups.items():
                try:
                    await _eval(
                        state,
                        _scripts.RENEW,
                        [k for key in keys for k in self.keys(key)],
                        [int(self.lease * 1000), *ids],
                    )
                except Exception as exc:
                    if not _is_redis_error(exc):
                        raise
                    # Redis unreachable: try again next round; leases may lapse meanwhile.

    # -- reading and resetting ---------------------------------------------------------------

    async def state(self, key: str) -> LedgerState:
        """The shared numbers of envelope `key` (expired leases are given back first)."""
        row = await self._run(_scripts.STATE, self.keys(key), [])
        limit_usd, limit_tokens = _text(row[5]), _text(row[6])
        return LedgerState(
            key=key,
            limit_usd=None if limit_usd in ("", "-1") else usd_of(int(limit_usd)),
            limit_tokens=None if limit_tokens in ("", "-1") else int(limit_tokens),
            spent_usd=usd_of(int(row[0])),
            spent_tokens=int(row[1]),
            reserved_usd=usd_of(int(row[2])),
            reserved_tokens=int(row[3]),
            unpriced_calls=int(row[4]),
            open_reservations=int(row[7]),
        )

    async def reset(self, key: str) -> None:
        """Delete envelope `key`: its limits, totals, open reservations and crossed thresholds."""
        state = await self._state()
        try:
            await state.client.delete(*self.keys(key))
        except Exception as exc:
            if _is_redis_error(exc):
                raise LedgerError(f"the budget ledger at {self!r} failed: {exc}; check that Redis is running") from None
            raise

    async def aclose(self) -> None:
        """Close this ledger's connection pool in the running event loop."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None and state.closer is not None:
            await state.closer.aclose()


async def _eval(state: _LoopState, script: str, keys: Sequence[str], args: Sequence[str | int | float]) -> Any:
    """EVALSHA with a fallback to EVAL when the server does not have the script cached yet."""
    registered = state.scripts.get(script)
    if registered is None:
        registered = state.scripts[script] = state.client.register_script(script)  # pyright: ignore[reportUnknownMemberType]
    return await registered(keys=list(keys), args=list(args))


def _is_redis_error(exc: BaseException) -> bool:
    from redis.exceptions import RedisError

    return isinstance(exc, RedisError | OSError)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
