"""`race`: the first awaitable to finish without raising wins; the others are cancelled."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from stratum._compose.parallel import run_branches

__all__ = ("race",)

T = TypeVar("T")


async def race(*aws: Awaitable[T]) -> T:
    """Return the first awaitable to finish without raising; cancel the others.

    If every awaitable raises, the last error is re-raised. Cancelled branches release their
    budget reservations and leave `cancelled` trace records.

    Example:
        ```python
        answer = await stratum.race(fast_model_answer(q=q), careful_model_answer(q=q))
        ```
    """
    return await run_branches(aws, "any", None, "race")
