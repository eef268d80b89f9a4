"""Records to JSON-ready dicts and back, the shape every durable sink writes.

A written record is `{"type": "call" | "flow", "v": 1, ...fields}`; money is a decimal string
and times are ISO 8601, so a record read back keeps every field exactly (outputs come back as
their JSON form: a contract instance becomes a dict).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from stratum._budget import BudgetEvent
from stratum.trace._records import AttemptRecord, FlowRecord, TraceRecord, to_jsonable
from stratum.trace._redact import Redaction, scrub_tree

__all__ = ("FORMAT_VERSION", "decode", "encode", "parse_time")

FORMAT_VERSION = 1
"""Version of the written record shape (bumped on incompatible changes)."""

_KEEP = Redaction()


def encode(record: TraceRecord | FlowRecord, redaction: Redaction = _KEEP) -> dict[str, Any]:
    """The JSON-ready form of `record`, redacted as asked and scrubbed of anything key-like."""
    data: dict[str, Any] = to_jsonable(record)
    if isinstance(record, FlowRecord):
        data = {"type": "flow", "v": FORMAT_VERSION, **data}
    else:
        data = {"type": "call", "v": FORMAT_VERSION, **data}
        if redaction.inputs != "none":
            inputs: dict[str, Any] = data["inputs"]
            data["inputs"] = {} if redaction.inputs == "omit" else {k: redaction.apply("hash", v) for k, v in inputs.items()}
            data["inputs_redacted"] = redaction.inputs
        if redaction.outputs != "none":
            data["output"] = redaction.apply(redaction.outputs, data["output"])
            for attempt in data["attempt_records"]:
                attempt["raw_output"] = redaction.apply(redaction.outputs, attempt["raw_output"])
            data["output_redacted"] = redaction.outputs
    return scrub_tree(data)


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time; naive times are taken as UTC."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _event(data: Mapping[str, Any]) -> BudgetEvent:
    axis = data["axis"]

    def amount(v: Any) -> Decimal | int | float:
        if axis == "usd":
            return Decimal(str(v))
        return v if isinstance(v, int | float) else float(v)

    return BudgetEvent(
        axis=axis,
        threshold=float(data["threshold"]),
        fraction=float(data["fraction"]),
        spent=amount(data["spent"]),
        limit=amount(data["limit"]),
        flow_id=data.get("flow_id"),
    )


def _known(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    # Ignore fields a newer writer added, so old readers keep working.
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _attempt(data: Mapping[str, Any]) -> AttemptRecord:
    fields = _known(AttemptRecord, data)
    fields["cost_usd"] = _decimal(fields.get("cost_usd"))
    fields["violations"] = tuple(fields.get("violations") or ())
    return AttemptRecord(**fields)


def decode(data: Mapping[str, Any]) -> TraceRecord | FlowRecord:
    """Rebuild a record written by `encode`.

    Raises:
        ValueError: when `data` is not a written record.
    """
    kind = data.get("type")
    if kind == "flow":
        fields = _known(FlowRecord, data)
        limits = dict(fields.get("limits") or {})
        if limits.get("usd") is not None:
            limits["usd"] = Decimal(str(limits["usd"]))
        fields.update(
            limits=limits,
            started_at=parse_time(fields["started_at"]),
            spent_usd=_decimal(fields.get("spent_usd")),
            record_ids=tuple(fields.get("record_ids") or ()),
            budget_events=tuple(_event(e) for e in fields.get("budget_events") or ()),
        )
        return FlowRecord(**fields)
    if kind == "call":
        fields = _known(TraceRecord, data)
        fields.update(
            inputs=dict(fields.get("inputs") or {}),
            opaque_inputs=tuple(fields.get("opaque_inputs") or ()),
            retry_reasons=tuple(fields.get("retry_reasons") or ()),
            cost_usd=_decimal(fields.get("cost_usd")),
            started_at=parse_time(fields["started_at"]),
            budget_events=tuple(_event(e) for e in fields.get("budget_events") or ()),
            attempt_records=tuple(_attempt(a) for a in fields.get("attempt_records") or ()),
            meta=dict(fields.get("meta") or {}),
        )
        return TraceRecord(**fields)
    raise ValueError(f"not a Stratum trace record (type={kind!r})")
