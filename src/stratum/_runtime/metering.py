"""What an attempt is charged when a reply's own usage cannot be taken at its word.

Two rules keep a `usd`/`tokens` cap exact against servers that misreport:

- **No usage in the reply** is never free: the attempt is charged the worst case it reserved
  (estimated input + the output cap), or without a reservation an estimate from the text that
  was sent and received, counted the way its input was (for an OpenAI model usually the UTF-8
  byte bound: no tokenizer is loaded to charge less); its record says `usage_estimated=True`.
- **Usage reported by error responses that were retried** (a 500 that claims tokens, then a 200)
  is believed only up to what the attempt reserved: the final reply is charged in full (a
  provider honouring `max_tokens` never exceeds the reservation), the faults fill what is left.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from stratum._runtime.model import Usage
from stratum.pricing._estimate import Estimate, count_like

if TYPE_CHECKING:
    from stratum._runtime.budget import Reservation

__all__ = ("charged_usage", "within_reservation")


def charged_usage(estimate: Estimate, reservation: Reservation | None, text: str) -> Usage:
    """The usage to charge for a reply that reported none (never less than what was sent)."""
    if reservation is not None and reservation.max_tokens is not None:
        return Usage(input_tokens=estimate.reserved_input_tokens, output_tokens=reservation.max_tokens)
    output = count_like(estimate, text) if text else 0
    return Usage(input_tokens=estimate.input_tokens, output_tokens=output)


def within_reservation(
    reservation: Reservation | None,
    cost: Decimal | None,
    tokens: int,
    floor_cost: Decimal | None = None,
    floor_tokens: int = 0,
) -> tuple[Decimal | None, int]:
    """`cost` and `tokens` capped at what `reservation` holds, but never below the floors."""
    if reservation is None:
        return cost, tokens
    if cost is not None and reservation.usd > 0:
        cost = max(min(cost, reservation.usd), floor_cost if floor_cost is not None else Decimal(0))
    return cost, max(min(tokens, reservation.tokens), floor_tokens)
