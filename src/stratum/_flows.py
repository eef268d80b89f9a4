"""One run of a `@flow`: its id, envelope, records and session cache."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from typing import Any

from stratum._budget import Budget, Envelope

__all__ = ("FlowRun", "new_id")


def new_id() -> str:
    """A fresh 32-hex identifier for records and flow runs (random, like a UUID4's bits)."""
    return os.urandom(16).hex()


@dataclass(slots=True, kw_only=True)
class FlowRun:
    """The live state of one flow run (shared by every task inside it)."""

    name: str
    parent: FlowRun | None
    envelope: Envelope
    budget: Budget | None
    flow_id: str = field(default_factory=new_id)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    started: float = field(default_factory=time.monotonic)
    record_ids: list[str] = field(default_factory=list[str])
    session_cache: dict[Any, Any] = field(default_factory=dict[Any, Any])
    review_ids: list[str] = field(default_factory=list[str])
