"""Python values -> JSON-ready values, and the canonical JSON used to compare results."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel

__all__ = ("canonical_key", "to_jsonable")


def _unchanged(value: Any) -> Any:
    return value


def to_jsonable(value: Any, fallback: Callable[[Any], Any] = _unchanged) -> Any:
    """`value` as JSON-ready data: models and dataclasses dumped, Decimals as strings, dates in ISO
    format, enums as their values, containers as lists and string-keyed dicts.

    Anything else goes through `fallback` (unchanged by default, for `json.dumps(default=str)`;
    the trace passes `repr` so every record serializes).
    """
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), fallback) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, Enum):
        return to_jsonable(value.value, fallback)
    if isinstance(value, Mapping):
        items = typing.cast(Mapping[Any, Any], value).items()
        return {str(k): to_jsonable(v, fallback) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v, fallback) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return fallback(value)


def canonical_key(value: Any, fields: Sequence[str] = ()) -> str:
    """Canonical JSON of `value` restricted to `fields` (all of it when empty): equal means agreeing.

    A field missing from a model or mapping leaves the whole value as the key.
    """
    picked: Any = value
    if fields:
        if isinstance(value, BaseModel):
            data = value.model_dump(mode="json")
            if all(f in data for f in fields):
                picked = data[fields[0]] if len(fields) == 1 else {f: data[f] for f in fields}
        elif isinstance(value, Mapping):
            mapping = typing.cast(Mapping[str, Any], value)
            if all(f in mapping for f in fields):
                picked = mapping[fields[0]] if len(fields) == 1 else {f: mapping[f] for f in fields}
    return json.dumps(to_jsonable(picked), sort_keys=True, default=str)
