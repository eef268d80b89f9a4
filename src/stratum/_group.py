"""Parent trace records for composed calls (parallel, race, quorum, debate, refine, sampling).

A group record is written once the group ends; every record made inside it carries its
`record_id` as `parent_id`. It holds no tokens or cost of its own (its members do), so summing
`cost_usd` over `trace.records()` never counts a composed call twice.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from stratum import _context
from stratum._executor import record_call, status_of
from stratum._flows import new_id
from stratum.trace._records import Status

__all__ = ("COMPOSE_MODEL", "Group", "group")

COMPOSE_MODEL = "compose"
"""The `model` and `provider` of group records that are not one model's call (parallel, race, debate)."""


@dataclass(slots=True)
class Group:
    """The open parent record of a composed call; fill `output` and `meta` before it ends."""

    record_id: str
    output: Any = None
    meta: dict[str, Any] = field(default_factory=dict[str, Any])


@contextmanager
def group(
    function: str,
    *,
    meta: Mapping[str, Any],
    bound: Mapping[str, Any] | None = None,
    opaque: frozenset[str] = frozenset(),
    model: str = COMPOSE_MODEL,
    provider: str = COMPOSE_MODEL,
    contract_hash: str = "",
) -> Generator[Group, None, None]:
    """Open a parent record: records made inside the block link to it by `parent_id`."""
    started_at, started = dt.datetime.now(dt.UTC), time.monotonic()
    handle = Group(new_id(), meta=dict(meta))
    status: Status = "failed"
    error: BaseException | None = None
    try:
        with _context.under_record(handle.record_id):
            yield handle
        status = "ok"
    except BaseException as exc:
        error = exc
        status = status_of(exc)
        raise
    finally:
        record_call(
            record_id=handle.record_id,
            function=function,
            model=model,
            provider=provider,
            bound=bound or {},
            opaque=opaque,
            output=handle.output,
            status=status,
            error=error,
            contract_hash=contract_hash,
            started_at=started_at,
            started=started,
            meta=handle.meta,
        )
