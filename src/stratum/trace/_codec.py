"""Records to JSON-ready dicts and back, the shape every durable sink writes.

A written record is `{"type": "call" | "flow", "v": 1, ...fields}`; money is a decimal string
and times are ISO 8601, so a record read back keeps every field exactly (outputs come back as
their JSON form: a contract instance becomes a dict).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from stratum._runtime.budget import BudgetEvent
from stratum.trace._records import AttemptRecord, FlowRecord, TraceRecord, to_jsonable
from stratum.trace._redact import Redaction, scrub

__all__ = ("FORMAT_VERSION", "decode", "dumps", "encode", "parse_time")

FORMAT_VERSION = 1
"""Version of the written record shape (bumped on incompatible changes)."""

_KEEP = Redaction()
_ATTEMPT_FIELDS = tuple(f.name for f in dataclasses.fields(AttemptRecord))


def _attempt_dict(a: AttemptRecord) -> dict[str, Any]:
    data = {name: getattr(a, name) for name in _ATTEMPT_FIELDS}
    data["cost_usd"] = None if a.cost_usd is None else str(a.cost_usd)
    data["violations"] = list(a.violations)
    data["tool_calls"] = list(a.tool_calls)
    return data


def _event_dict(e: BudgetEvent) -> dict[str, Any]:
    return {
        "axis": e.axis,
        "threshold": e.threshold,
        "fraction": e.fraction,
        "spent": str(e.spent) if isinstance(e.spent, Decimal) else e.spent,
        "limit": str(e.limit) if isinstance(e.limit, Decimal) else e.limit,
        "flow_id": e.flow_id,
    }


def _call_dict(r: TraceRecord) -> dict[str, Any]:
    # Field by field rather than the generic `to_jsonable` walk: this runs once per record on
    # the writer thread, which shares the GIL with the calls being traced.
    return {
        "type": "call",
        "v": FORMAT_VERSION,
        "record_id": r.record_id,
        "function": r.function,
        "model": r.model,
        "provider": r.provider,
        "flow_id": r.flow_id,
        "parent_id": r.parent_id,
        "inputs": {str(k): to_jsonable(v) for k, v in r.inputs.items()},
        "opaque_inputs": list(r.opaque_inputs),
        "output": to_jsonable(r.output),
        "status": r.status,
        "error": r.error,
        "attempts": r.attempts,
        "retry_reasons": list(r.retry_reasons),
        "compiled_prompt_hash": r.compiled_prompt_hash,
        "contract_hash": r.contract_hash,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cached_input_tokens": r.cached_input_tokens,
        "cache_write_tokens": r.cache_write_tokens,
        "reasoning_tokens": r.reasoning_tokens,
        "cost_usd": None if r.cost_usd is None else str(r.cost_usd),
        "duration_ms": r.duration_ms,
        "cache_hit": r.cache_hit,
        "started_at": r.started_at.isoformat(),
        "budget_events": [_event_dict(e) for e in r.budget_events],
        "attempt_records": [_attempt_dict(a) for a in r.attempt_records],
        "review_id": r.review_id,
        "meta": to_jsonable(r.meta) if r.meta else {},
        "cache_savings_usd": None if r.cache_savings_usd is None else str(r.cache_savings_usd),
        "stopped": r.stopped,
        "usage_estimated": r.usage_estimated,
        "models_tried": list(r.models_tried),
    }


def encode(record: TraceRecord | FlowRecord, redaction: Redaction = _KEEP) -> dict[str, Any]:
    """The JSON-ready form of `record`, with inputs/outputs redacted as asked (not yet scrubbed)."""
    if isinstance(record, FlowRecord):
        return {"type": "flow", "v": FORMAT_VERSION, **to_jsonable(record)}
    data = _call_dict(record)
    if redaction.inputs != "none":
        inputs: dict[str, Any] = data["inputs"]
        data["inputs"] = {} if redaction.inputs == "omit" else {k: redaction.apply("hash", v) for k, v in inputs.items()}
        data["inputs_redacted"] = redaction.inputs
    if redaction.outputs != "none":
        data["output"] = redaction.apply(redaction.outputs, data["output"])
        for attempt in data["attempt_records"]:
            attempt["raw_output"] = redaction.apply(redaction.outputs, attempt["raw_output"])
        data["output_redacted"] = redaction.outputs
    return data


def dumps(record: TraceRecord | FlowRecord, redaction: Redaction = _KEEP) -> str:
    """`record` as one line of compact JSON, redacted, with anything key-like scrubbed.

    Scrubbing the serialized text in one pass is safe: the key patterns never match a quote
    or a backslash, so a replacement stays inside its JSON string.
    """
    return scrub(json.dumps(encode(record, redaction), ensure_ascii=False, separators=(",", ":"), default=str))


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
    fields["tool_calls"] = tuple(fields.get("tool_calls") or ())
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
            cache_savings_usd=_decimal(fields.get("cache_savings_usd")),
            started_at=parse_time(fields["started_at"]),
            budget_events=tuple(_event(e) for e in fields.get("budget_events") or ()),
            attempt_records=tuple(_attempt(a) for a in fields.get("attempt_records") or ()),
            meta=dict(fields.get("meta") or {}),
            models_tried=tuple(fields.get("models_tried") or ()),
        )
        return TraceRecord(**fields)
    raise ValueError(f"not a Stratum trace record (type={kind!r})")
