"""Reserving a request's estimate: the cheap bound first, the exact count only when it must.

For a model with a known tokenizer (OpenAI's), the estimate starts as the UTF-8 byte count of
the request (`Estimate.bound`): a strict upper bound on its tokens, had without loading the
tokenizer (~80 MB and ~0.5 s of CPU the first time). A reservation made from it is as safe as
one made from the exact count, only larger. So the bound is reserved first, and the request is
counted exactly (`Estimate.refined`) only when the bound does not fit what the envelope chain
has left: when reserving it would raise `BudgetExceeded` or lower the output cap the call
asked for. No call is refused, or has its `max_tokens` lowered, because of the bound; the one
cost is that a call in flight may hold a larger reservation than it needs until it settles.

A shared budget's ledger follows the same rule: when it refuses the bound or lowers its output
cap, the holds are given back and the exact count is reserved, locally and in the ledger.

Both functions update the `Holder` they are given (`estimate`, `reservation`) as they go, so the
caller's record shows what was reserved, and on failure the caller releases what it holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from stratum._runtime.budget import DEFAULT_MAX_TOKENS
from stratum.exceptions import BudgetExceeded

if TYPE_CHECKING:
    from stratum._runtime.budget import Envelope, Reservation
    from stratum.pricing import Estimate, Price

__all__ = ("Holder", "reserve", "reserve_shared")


class Holder(Protocol):
    """A request being reserved: its estimate and the reservation made from it."""

    estimate: Estimate
    reservation: Reservation | None


def _lowered(reservation: Reservation, asked: int | None) -> bool:
    return asked is not None and reservation.max_tokens is not None and reservation.max_tokens < asked


def reserve(env: Envelope, holder: Holder, *, max_tokens: int | None, price: Price | None, model: str) -> Reservation:
    """Reserve `holder.estimate`'s worst case in `env`'s chain (see the module docstring).

    Raises:
        BudgetExceeded: not even the exact count fits (or a deadline passed).
        UnknownPriceError: a `usd` limit meets a model with no known price.
    """
    estimate = holder.estimate
    if estimate.bound:
        asked = DEFAULT_MAX_TOKENS if max_tokens is None and env.needs_output_cap() else max_tokens
        try:
            held = env.reserve(
                input_tokens=estimate.reserved_input_tokens, max_tokens=max_tokens, price=price, model=model
            )
        except BudgetExceeded as exc:
            if exc.axis == "ms":
                raise
        else:
            if not _lowered(held, asked):
                holder.reservation = held
                return held
            env.release(held)
        estimate = holder.estimate = estimate.refined()
    held = holder.reservation = env.reserve(
        input_tokens=estimate.reserved_input_tokens, max_tokens=max_tokens, price=price, model=model
    )
    return held


async def reserve_shared(
    env: Envelope, holder: Holder, *, max_tokens: int | None, price: Price | None, model: str
) -> Reservation:
    """Hold `holder.reservation` (made by `reserve`) in the chain's shared ledger too.

    The ledger may lower the output cap to what is left across every process; the local
    reservation shrinks with it. When the ledger refuses a bound or lowers its cap, both holds
    are given back and the exact count is reserved locally and in the ledger.

    Raises:
        BudgetExceeded: the shared envelopes cannot fit even the exact count; the caller then
            releases `holder.reservation` (the local hold, if any is left).
    """
    held = holder.reservation
    assert held is not None
    estimate = holder.estimate
    if estimate.bound:
        asked = held.max_tokens
        try:
            await env.reserve_shared(held, input_tokens=estimate.reserved_input_tokens, price=price, model=model)
        except BudgetExceeded:
            pass
        else:
            if not _lowered(held, asked):
                return held
            await env.release_shared(held)
        env.release(held)
        holder.reservation = None
        estimate = holder.estimate = estimate.refined()
        held = holder.reservation = env.reserve(
            input_tokens=estimate.reserved_input_tokens, max_tokens=max_tokens, price=price, model=model
        )
    await env.reserve_shared(held, input_tokens=estimate.reserved_input_tokens, price=price, model=model)
    return held
