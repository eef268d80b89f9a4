"""Budgets and envelopes: reserve the worst case before a request, settle the actual after.

A `Budget` is a declaration (limits, thresholds, callback). Each flow run and each call with a
budget gets a fresh `Envelope` built from it, whose parent is the envelope around it. Spending is
charged to the envelope and every ancestor, and a reservation must fit in all of them, so
concurrent calls inside one flow can never spend past its limits.

All checks and updates of one envelope tree happen under that tree's lock and contain no
`await`, so a reservation is atomic under asyncio, trio and threads alike.

A budget with `ledger=` and `key=` is *shared*: its totals live in a ledger (Redis) that every
process naming the same key draws from. Its envelopes still count locally what this run spent
and holds (for the flow record), but the limits and thresholds are the ledger's: after the
local reservation, `reserve_shared` holds the same attempt in the ledger in one atomic
server-side step (possibly lowering the output cap), and `settle_shared` / `release_shared`
close it there. Envelopes with no shared budget in their chain never touch any of this.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from stratum._runtime import context as _context
from stratum.exceptions import BudgetExceeded, ConfigurationError, UnknownPriceError

if TYPE_CHECKING:
    from stratum._runtime.model import Usage
    from stratum.ledger import RedisLedger
    from stratum.ledger._redis import Account, Totals
    from stratum.pricing import Price

__all__ = (
    "DEFAULT_MAX_TOKENS",
    "MIN_OUTPUT_TOKENS",
    "Budget",
    "BudgetEvent",
    "Envelope",
    "Reservation",
    "current_budget",
)

Axis = Literal["ms", "usd", "tokens"]

DEFAULT_MAX_TOKENS = 4096
"""Output cap used when a call under a `usd` or `tokens` limit declares no `max_tokens`."""

MIN_OUTPUT_TOKENS = 16
"""A call whose output would have to be capped below this raises `BudgetExceeded` instead."""


@dataclass(frozen=True, slots=True)
class BudgetEvent:
    """A settlement (or deadline check) crossed a threshold of an envelope.

    `spent` and `limit` are milliseconds for `"ms"`, Decimal USD for `"usd"`, and input+output
    tokens for `"tokens"`.
    """

    axis: Axis
    threshold: float
    fraction: float
    spent: Decimal | int | float
    limit: Decimal | int | float
    flow_id: str | None


def _positive(name: str, value: float | int | Decimal | str | None) -> None:
    if value is None:
        return
    try:
        ok = Decimal(str(value)) > 0
    except ArithmeticError:
        ok = False
    if not ok:
        raise ValueError(f"Budget({name}={value!r}): limits must be positive numbers, or None for no limit")


class Budget:
    """Hard limits on time (`ms`), money (`usd`) and tokens (`tokens`, input + output).

    Example:
        ```python
        @flow(budget=Budget(ms=30_000, usd="0.05", on_threshold=print))
        async def triage(texts: list[str]) -> list[Sentiment]: ...
        ```
    """

    __slots__ = ("first_marks", "key", "ledger", "ms", "on_threshold", "thresholds", "tokens", "usd")

    def __init__(
        self,
        ms: float | None = None,
        usd: Decimal | float | str | None = None,
        tokens: int | None = None,
        *,
        on_threshold: Callable[[BudgetEvent], Any] | None = None,
        thresholds: Sequence[float] = (0.5, 0.8, 0.95),
        ledger: str | RedisLedger | None = None,
        key: str | None = None,
    ) -> None:
        _positive("ms", ms)
        _positive("usd", usd)
        _positive("tokens", tokens)
        if any(not 0 < t <= 1 for t in thresholds):
            raise ValueError(f"Budget(thresholds={thresholds!r}): each threshold must be in (0, 1]")
        if ledger is not None and key is None:
            raise ValueError(
                "Budget(ledger=...) needs key='name': the name of the shared envelope every process draws from"
            )
        if key is not None:
            if not isinstance(key, str) or not key or any(c in key for c in "{}"):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise ValueError(f"Budget(key={key!r}): the key must be a non-empty string without braces")
            if usd is None and tokens is None:
                raise ValueError(
                    f"Budget(key={key!r}) is shared through a ledger and needs a usd or tokens limit; "
                    "add usd=... or tokens=..."
                )
        if isinstance(ledger, str):
            from stratum.ledger import RedisLedger

            ledger = RedisLedger(ledger)
        self.ledger: RedisLedger | None = ledger
        """Where a shared budget's totals live (None with a `key`: `configure(ledger=...)`)."""
        self.key: str | None = key
        """The shared envelope's name; None for a local budget."""
        self.ms: float | None = ms
        self.usd: Decimal | None = None if usd is None else Decimal(str(usd))
        self.tokens: int | None = tokens
        self.on_threshold = on_threshold
        self.thresholds: tuple[float, ...] = tuple(sorted(thresholds))
        first = self.thresholds[0] if self.thresholds else None
        self.first_marks: tuple[Decimal | None, float | None, float | None] | None = (
            None
            if first is None or not self.is_limited
            else (
                None if self.usd is None else self.usd * Decimal(str(first)),
                None if self.tokens is None else self.tokens * first,
                None if self.ms is None else self.ms * first,
            )
        )
        """Per axis, the spending at which the first threshold falls (precomputed for envelopes)."""

    @property
    def is_limited(self) -> bool:
        """True when at least one axis has a limit."""
        return self.ms is not None or self.usd is not None or self.tokens is not None

    def limits(self) -> dict[str, Any]:
        """The limits as a plain dict (for flow records)."""
        return {"ms": self.ms, "usd": self.usd, "tokens": self.tokens}

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in (("ms", self.ms), ("usd", self.usd), ("tokens", self.tokens)) if v is not None]
        if self.key is not None:
            parts.append(f"key={self.key!r}")
        return f"Budget({', '.join(parts)})"


_UNLIMITED = Budget()
_ZERO = Decimal(0)


class Reservation:
    """Worst-case spending held in an envelope chain until the attempt settles."""

    __slots__ = ("envelope", "grant_id", "max_tokens", "open", "tokens", "usd")

    def __init__(self, envelope: Envelope, usd: Decimal, tokens: int, max_tokens: int | None) -> None:
        self.envelope = envelope
        self.usd = usd
        self.tokens = tokens
        self.max_tokens = max_tokens
        self.open = True
        self.grant_id: str | None = None
        """The ledger's id of this reservation in the shared envelopes, while it is held there."""


class Envelope:
    """The live accounting of one budget: spent, reserved, deadline, crossed thresholds."""

    def __init__(self, budget: Budget | None, parent: Envelope | None = None, *, flow_id: str | None = None) -> None:
        self.budget = budget = budget or _UNLIMITED
        self.parent = parent
        self.flow_id = flow_id
        self.started = time.monotonic()
        self.deadline: float | None = None if budget.ms is None else self.started + budget.ms / 1000
        self.spent_usd = _ZERO
        self.spent_tokens = 0
        self.reserved_usd = _ZERO
        self.reserved_tokens = 0
        self.unpriced_calls = 0
        self.events: list[BudgetEvent] = []
        self._crossed: set[tuple[str, float]] = set()
        # The chain never changes after creation: compute what every reservation asks once,
        # from the parent's own answers (one envelope per call: this runs on every call).
        caps_usd = budget.usd is not None
        if parent is None:
            self._lock: threading.Lock = threading.Lock()
            self._outer: tuple[Envelope, ...] = ()
            self._nearest_deadline: float | None = self.deadline
            self._caps_output = caps_usd or budget.tokens is not None
            self._needs_price = caps_usd
            self._shared_outer: tuple[Envelope, ...] = ()
            self.shared = False
            """True when this envelope or an ancestor is shared through a ledger."""
        else:
            self._lock = parent._lock
            self._outer = parent.chain()
            nearest = parent._nearest_deadline
            self._nearest_deadline = (
                self.deadline if nearest is None else nearest if self.deadline is None else min(nearest, self.deadline)
            )
            self._caps_output = parent._caps_output or caps_usd or budget.tokens is not None
            self._needs_price = parent._needs_price or caps_usd
            self._shared_outer = parent._shared_chain
            self.shared = parent.shared
        # A shared envelope's thresholds are crossed in the ledger, once for every process.
        self._tracks_thresholds = bool(budget.thresholds) and budget.is_limited and budget.key is None
        # Per axis, where the next threshold falls: most settlements compare and skip.
        self._marks = budget.first_marks if self._tracks_thresholds else None
        self.ledger: RedisLedger | None = None
        self.shared_totals: Totals | None = None
        """The ledger's numbers for a shared envelope, as of this process's last ledger step."""
        if budget.key is not None:
            self.ledger = budget.ledger or _default_ledger(budget.key)
            self.shared = True
            outer = self._shared_outer
            if outer and outer[0].ledger is not self.ledger:
                raise ConfigurationError(
                    "nested shared budgets must use the same ledger: "
                    + ", ".join(f"{env.budget.key!r} on {env.ledger!r}" for env in (self, *outer))
                )

    # -- reading ---------------------------------------------------------------------------

    def chain(self) -> tuple[Envelope, ...]:
        """This envelope and its ancestors, innermost first."""
        # Made when asked, never stored: an envelope holding itself would be a reference cycle,
        # left to the garbage collector once per call.
        return (self, *self._outer)

    @property
    def _shared_chain(self) -> tuple[Envelope, ...]:
        """The shared envelopes of the chain (those with a ledger), innermost first."""
        return (self, *self._shared_outer) if self.ledger is not None else self._shared_outer

    @property
    def elapsed_ms(self) -> float:
        """Milliseconds since the envelope opened."""
        return (time.monotonic() - self.started) * 1000

    @property
    def remaining_ms(self) -> float | None:
        """Milliseconds left before this envelope's own deadline (None: no time limit)."""
        if self.deadline is None:
            return None
        return max((self.deadline - time.monotonic()) * 1000, 0.0)

    @property
    def remaining_usd(self) -> Decimal | None:
        """USD left (limit − spent − reserved), or None without a `usd` limit.

        For a shared envelope: what the ledger had left for every process at this process's
        last reserve or settle.
        """
        if self.budget.usd is None:
            return None
        shared = self.shared_totals
        if shared is not None:
            from stratum.ledger._redis import usd_of

            return self.budget.usd - usd_of(shared.spent_usd + shared.reserved_usd)
        return self.budget.usd - self.spent_usd - self.reserved_usd

    @property
    def remaining_tokens(self) -> int | None:
        """Tokens left (limit − spent − reserved), or None without a `tokens` limit (shared: as above)."""
        if self.budget.tokens is None:
            return None
        shared = self.shared_totals
        if shared is not None:
            return self.budget.tokens - shared.spent_tokens - shared.reserved_tokens
        return self.budget.tokens - self.spent_tokens - self.reserved_tokens

    def _fractions(self) -> dict[Axis, float]:
        out: dict[Axis, float] = {}
        shared = self.shared_totals
        if self.budget.usd is not None:
            if shared is not None:
                from stratum.ledger._redis import usd_of

                out["usd"] = float(usd_of(shared.spent_usd) / self.budget.usd)
            else:
                out["usd"] = float(self.spent_usd / self.budget.usd)
        if self.budget.tokens is not None:
            spent_tokens = shared.spent_tokens if shared is not None else self.spent_tokens
            out["tokens"] = spent_tokens / self.budget.tokens
        if self.budget.ms is not None:
            out["ms"] = self.elapsed_ms / self.budget.ms
        return out

    @property
    def fraction_used(self) -> float:
        """The largest spent fraction over the limited axes (0 when nothing is limited)."""
        return max(self._fractions().values(), default=0.0)

    def seconds_left(self) -> float | None:
        """Seconds before the nearest deadline in the chain (None: no deadline anywhere)."""
        if self._nearest_deadline is None:
            return None
        return self._nearest_deadline - time.monotonic()

    def _tightest_deadline(self) -> Envelope | None:
        limited = [env for env in self.chain() if env.deadline is not None]
        return min(limited, key=lambda env: env.deadline or 0.0) if limited else None

    def check_time(self) -> float | None:
        """Seconds left; raise `BudgetExceeded(axis="ms")` if a deadline has passed."""
        left = self.seconds_left()
        if left is not None and left <= 0:
            self.raise_deadline()
        return left

    def raise_deadline(self) -> None:
        """Raise `BudgetExceeded(axis="ms")` for the tightest deadline in the chain."""
        env = self._tightest_deadline()
        limit = env.budget.ms if env is not None and env.budget.ms is not None else 0.0
        spent = env.elapsed_ms if env is not None else 0.0
        raise BudgetExceeded(
            f"time budget of {limit:g} ms is used up ({spent:.0f} ms elapsed); "
            "raise Budget(ms=...) or make the flow do less",
            axis="ms",
            limit=limit,
            spent=spent,
        )

    def needs_output_cap(self) -> bool:
        """True when some envelope in the chain limits USD or tokens."""
        return self._caps_output

    def needs_price(self) -> bool:
        """True when some envelope in the chain limits USD."""
        return self._needs_price

    # -- reserving and settling --------------------------------------------------------------

    def reserve(self, *, input_tokens: int, max_tokens: int | None, price: Price | None, model: str) -> Reservation:
        """Hold the worst case of one attempt in every envelope of the chain.

        Lowers the output cap to what fits; raises `BudgetExceeded` before sending when not even
        `MIN_OUTPUT_TOKENS` fit, and `UnknownPriceError` when a `usd` limit meets an unknown price.
        """
        chain = self.chain()
        with self._lock:
            self.check_time()
            out = max_tokens
            if out is None and self._caps_output:
                out = DEFAULT_MAX_TOKENS
            for env in chain:
                limit_tokens = env.budget.tokens
                if limit_tokens is not None:
                    fit = limit_tokens - env.spent_tokens - env.reserved_tokens - input_tokens
                    if fit < MIN_OUTPUT_TOKENS:
                        raise BudgetExceeded(
                            f"token budget of {limit_tokens} cannot fit this call: {env.spent_tokens} spent, "
                            f"{env.reserved_tokens} reserved by calls in flight, ~{input_tokens} input + "
                            f"at least {MIN_OUTPUT_TOKENS} output needed; raise Budget(tokens=...) or shorten the input",
                            axis="tokens",
                            limit=limit_tokens,
                            spent=env.spent_tokens,
                        )
                    out = fit if out is None else min(out, fit)
                limit_usd = env.budget.usd
                if limit_usd is not None:
                    if price is None:
                        raise UnknownPriceError(
                            f"no price is known for {model!r} and the call runs under a usd budget; "
                            f"set one with stratum.configure(prices={{{model!r}: Price(input_per_mtok=..., "
                            "output_per_mtok=...)}) or remove the usd limit",
                            model=model,
                        )
                    left = limit_usd - env.spent_usd - env.reserved_usd
                    fit_usd = price.output_tokens_for(left, input_tokens)
                    if fit_usd is not None:
                        if fit_usd < MIN_OUTPUT_TOKENS:
                            raise BudgetExceeded(
                                f"usd budget of ${limit_usd} cannot fit this call: ${env.spent_usd} spent, "
                                f"${env.reserved_usd} reserved by calls in flight, and ~{input_tokens} input tokens "
                                f"plus {MIN_OUTPUT_TOKENS} output tokens of {model} cost more than the "
                                f"${left} left; raise Budget(usd=...) or use a cheaper model",
                                axis="usd",
                                limit=limit_usd,
                                spent=env.spent_usd,
                            )
                        out = fit_usd if out is None else min(out, fit_usd)
            usd = price.worst_case(input_tokens, out or 0) if price is not None else Decimal(0)
            tokens = input_tokens + (out or 0)
            for env in chain:
                env.reserved_usd += usd
                env.reserved_tokens += tokens
            return Reservation(self, usd, tokens, out)

    def release(self, reservation: Reservation) -> None:
        """Give back a reservation without charging anything (idempotent)."""
        with self._lock:
            self._release_locked(reservation)

    def _release_locked(self, reservation: Reservation) -> None:
        if not reservation.open:
            return
        reservation.open = False
        for env in reservation.envelope.chain():
            env.reserved_usd -= reservation.usd
            env.reserved_tokens -= reservation.tokens

    def settle(
        self, reservation: Reservation | None, usage: Usage, cost: Decimal | None, *, tokens: int | None = None
    ) -> list[BudgetEvent]:
        """Release `reservation` and charge the actual usage and cost to the whole chain.

        `tokens` overrides the token count charged (default: the usage's input + output).

        Returns the threshold events this settlement crossed; each envelope's `on_threshold`
        is called with its events after the lock is released.
        """
        fired: list[tuple[Envelope, BudgetEvent]] | None = None
        charged_tokens = usage.total_tokens if tokens is None else tokens
        with self._lock:
            if reservation is not None:
                self._release_locked(reservation)
            for env in self.chain():
                if cost is None:
                    env.unpriced_calls += 1
                else:
                    env.spent_usd += cost
                env.spent_tokens += charged_tokens
                if env._marks is not None:  # thresholds left to cross on this envelope
                    crossed = env._cross_thresholds()
                    if crossed:
                        fired = [*(fired or ()), *((env, event) for event in crossed)]
        if fired is None:
            return []
        for env, event in fired:
            callback = env.budget.on_threshold
            if callback is not None:
                callback(event)
        return [event for _, event in fired]

    # -- shared envelopes (a ledger) ----------------------------------------------------------

    def _accounts(self) -> list[Account]:
        from stratum.ledger._redis import Account, nano

        return [
            Account(
                env.budget.key or "",
                None if env.budget.usd is None else nano(env.budget.usd, up=False),
                env.budget.tokens,
                env.budget.thresholds,
            )
            for env in self._shared_chain
        ]

    def _mirror(self, totals: Sequence[Totals]) -> None:
        for env, numbers in zip(self._shared_chain, totals, strict=False):
            env.shared_totals = numbers

    async def reserve_shared(self, reservation: Reservation, *, input_tokens: int, price: Price | None, model: str) -> None:
        """Hold `reservation` in the shared envelopes of the chain too (after `reserve`).

        The ledger may lower the output cap to what is left across every process: the local
        reservation shrinks with it. Raises `BudgetExceeded` when the shared envelopes cannot
        fit the attempt; the caller then releases the local reservation.
        """
        from stratum.ledger._redis import nano

        ledger = self._shared_chain[0].ledger
        assert ledger is not None
        grant = await ledger.reserve(
            self._accounts(),
            input_tokens=input_tokens,
            max_tokens=reservation.max_tokens,
            min_output=MIN_OUTPUT_TOKENS,
            input_nano=0 if price is None else nano(price.worst_case(input_tokens, 0), up=True),
            output_nano_per_token=None if price is None else float(price.output_per_mtok) * 1000,
            model=model,
        )
        reservation.grant_id = grant.grant_id
        self._mirror(grant.totals)
        if grant.max_tokens is not None and (reservation.max_tokens is None or grant.max_tokens < reservation.max_tokens):
            usd = price.worst_case(input_tokens, grant.max_tokens) if price is not None else Decimal(0)
            tokens = input_tokens + grant.max_tokens
            with self._lock:
                if reservation.open:
                    for env in reservation.envelope.chain():
                        env.reserved_usd -= reservation.usd - usd
                        env.reserved_tokens -= reservation.tokens - tokens
                reservation.usd, reservation.tokens, reservation.max_tokens = usd, tokens, grant.max_tokens

    async def settle_shared(self, reservation: Reservation, usage: Usage, cost: Decimal | None) -> list[BudgetEvent]:
        """Close `reservation`'s shared hold and charge the actual usage there (after `settle`).

        Returns the threshold events this settlement was the first, across every process, to
        cross; each shared envelope's `on_threshold` is called with its own.
        """
        from stratum.ledger._redis import nano, usd_of

        ledger = self._shared_chain[0].ledger
        assert ledger is not None
        grant_id, reservation.grant_id = reservation.grant_id, None
        settled = await ledger.settle(
            self._accounts(),
            grant_id,
            cost_nano=None if cost is None else nano(cost, up=True),
            tokens=usage.total_tokens,
        )
        self._mirror(settled.totals)
        events: list[BudgetEvent] = []
        for crossed in settled.crossed:
            env = self._shared_chain[crossed.index]
            if crossed.axis == "usd":
                spent: Decimal | int = usd_of(crossed.spent)
                limit: Decimal | int = usd_of(crossed.limit)
            else:
                spent, limit = crossed.spent, crossed.limit
            event = BudgetEvent(crossed.axis, crossed.threshold, crossed.spent / crossed.limit, spent, limit, env.flow_id)
            env.events.append(event)
            events.append(event)
            if env.budget.on_threshold is not None:
                env.budget.on_threshold(event)
        return events

    async def release_shared(self, reservation: Reservation) -> None:
        """Give back `reservation`'s shared hold without charging (idempotent; survives cancellation).

        If the ledger cannot be reached the hold is left to its lease, which gives it back.
        """
        import anyio

        from stratum.exceptions import LedgerError

        grant_id, reservation.grant_id = reservation.grant_id, None
        if grant_id is None:
            return
        ledger = self._shared_chain[0].ledger
        assert ledger is not None
        with anyio.CancelScope(shield=True):
            try:
                self._mirror(await ledger.release(self._accounts(), grant_id))
            except LedgerError:
                pass

    def _cross_thresholds(self) -> list[BudgetEvent]:
        budget = self.budget
        # Cheap exit for the common case: no axis has reached its next uncrossed threshold.
        marks = self._marks
        if marks is None:
            return []
        usd_mark, tokens_mark, ms_mark = marks
        if not (
            (usd_mark is not None and self.spent_usd >= usd_mark)
            or (tokens_mark is not None and self.spent_tokens >= tokens_mark)
            or (ms_mark is not None and self.elapsed_ms >= ms_mark)
        ):
            return []
        events: list[BudgetEvent] = []
        for axis, fraction in self._fractions().items():
            for threshold in budget.thresholds:
                if fraction >= threshold and (axis, threshold) not in self._crossed:
                    self._crossed.add((axis, threshold))
                    spent: Decimal | int | float
                    limit: Decimal | int | float
                    if axis == "usd":
                        spent, limit = self.spent_usd, budget.usd or Decimal(0)
                    elif axis == "tokens":
                        spent, limit = self.spent_tokens, budget.tokens or 0
                    else:
                        spent, limit = self.elapsed_ms, budget.ms or 0.0
                    events.append(BudgetEvent(axis, threshold, fraction, spent, limit, self.flow_id))
        self.events.extend(events)
        self._marks = self._next_marks()
        return events

    def _next_marks(self) -> tuple[Decimal | None, float | None, float | None] | None:
        """Per axis, the spending at which its next uncrossed threshold falls (None: none left)."""
        if not self._tracks_thresholds:
            return None
        budget = self.budget

        def mark(axis: str, limit: float | Decimal | None) -> float | None:
            if limit is None:
                return None
            open_ = [t for t in budget.thresholds if (axis, t) not in self._crossed]
            return float(limit) * min(open_) if open_ else None

        usd = mark("usd", budget.usd)
        marks = (None if usd is None else Decimal(str(usd)), mark("tokens", budget.tokens), mark("ms", budget.ms))
        return None if marks == (None, None, None) else marks

    def __repr__(self) -> str:
        return (
            f"<Envelope {self.budget!r} spent_usd={self.spent_usd} spent_tokens={self.spent_tokens} "
            f"reserved_usd={self.reserved_usd}>"
        )


def _default_ledger(key: str) -> RedisLedger:
    from stratum._runtime.config import current_settings

    ledger = current_settings().ledger
    if ledger is None:
        raise ConfigurationError(
            f"Budget(key={key!r}) names a shared envelope but no ledger is set; pass "
            "Budget(..., ledger='redis://host:port/db') or call stratum.configure(ledger='redis://...')"
        )
    return ledger


def current_budget() -> Envelope | None:
    """The innermost envelope with a limit in force here, or None outside any budget.

    Example:
        ```python
        left = stratum.current_budget().remaining_usd
        ```
    """
    env = _context.current_envelope()
    while env is not None and not env.budget.is_limited:
        env = env.parent
    return env
