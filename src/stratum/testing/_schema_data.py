"""Schema-valid example data from a JSON Schema, deterministic for a given `random.Random`.

Covers what `@contract` schemas contain: `$defs`/`$ref`, `enum`, `const`, numeric bounds
(inclusive and exclusive, `multipleOf`), string lengths, simple `pattern`s, `format`s
(date, date-time, time, email, uri, uuid, duration), arrays (`minItems`/`maxItems`,
`uniqueItems`, `prefixItems`), objects (`properties`, `required`, `additionalProperties`)
and `anyOf`/`oneOf`/`allOf`. Recursion through `$ref` stops at a depth limit by choosing the
null branch, the fewest items and no optional properties.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, cast

from stratum.testing._regex_gen import generate_from_pattern

__all__ = ("SchemaDataError", "generate")

_WORDS = (
    "alpha", "bravo", "cedar", "delta", "ember", "fable", "grove", "harbor", "ivory", "juniper",
    "kettle", "lumen", "meadow", "nectar", "orbit", "prairie", "quartz", "river", "summit", "tundra",
)  # fmt: skip
_MAX_DEPTH = 6
"""Past this nesting depth, recursive schemas take their smallest valid shape."""

Schema = Mapping[str, Any]


class SchemaDataError(ValueError):
    """The schema asks for something this generator cannot satisfy (e.g. a contradiction)."""


def generate(schema: Schema, rng: random.Random) -> Any:
    """Return a value valid against `schema` (a JSON Schema with local `$defs`)."""
    return _Generator(schema, rng).value(schema, 0, "value")


class _Generator:
    def __init__(self, root: Schema, rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def resolve(self, schema: Schema) -> Schema:
        seen = 0
        while "$ref" in schema:
            ref = str(schema["$ref"])
            if not ref.startswith("#"):
                raise SchemaDataError(f"only local $ref are supported, got {ref!r}")
            target: Any = self.root
            for part in (p for p in ref[1:].split("/") if p):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            # Sibling keywords next to a $ref (e.g. a description) are kept.
            merged = {**cast(Schema, target), **{k: v for k, v in schema.items() if k != "$ref"}}
            schema = merged
            seen += 1
            if seen > 50:
                raise SchemaDataError(f"$ref cycle without a schema at {ref!r}")
        return schema

    def value(self, schema: Schema | bool, depth: int, name: str) -> Any:
        if schema is True or schema == {}:
            return self.words(1, name)
        if schema is False:
            raise SchemaDataError("the schema `false` accepts no value")
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(list(schema["enum"]))
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged.update(self.resolve(part))
            return self.value(merged, depth, name)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.choice(schema, schema[key], depth, name)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = cast(list[str], kind)
            return self.choice(schema, [{**schema, "type": t} for t in kinds], depth, name)
        if kind is None:
            kind = _infer_type(schema)
        if kind == "null":
            return None
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "integer":
            return self.integer(schema)
        if kind == "number":
            return self.number(schema)
        if kind == "string":
            return self.string(schema, name)
        if kind == "array":
            return self.array(schema, depth, name)
        if kind == "object":
            return self.object(schema, depth)
        raise SchemaDataError(f"unsupported schema type {kind!r}")

    def choice(self, parent: Schema, options: Sequence[Schema], depth: int, name: str) -> Any:
        branches = [self.resolve(o) for o in options]
        # Keywords next to anyOf (e.g. a pydantic default) don't change the branch's shape.
        non_null = [b for b in branches if b.get("type") != "null"]
        has_null = len(non_null) < len(branches)
        if has_null and (depth >= _MAX_DEPTH or not non_null or self.rng.random() < 0.25):
            return None
        del parent
        return self.value(self.rng.choice(non_null), depth, name)

    def integer(self, schema: Schema) -> int:
        low, high = _bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            if first > last:
                raise SchemaDataError(f"no multiple of {step} in [{low}, {high}]")
            return self.rng.randint(first, last) * step
        if low > high:
            raise SchemaDataError(f"empty integer range [{low}, {high}]")
        return self.rng.randint(int(low), int(high))

    def number(self, schema: Schema) -> float | int:
        low, high = _bounds(schema, integer=False)
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            if first > last:
                raise SchemaDataError(f"no multiple of {step} in [{low}, {high}]")
            return self.rng.randint(first, last) * step
        if low > high:
            raise SchemaDataError(f"empty number range [{low}, {high}]")
        value = round(self.rng.uniform(low, high), 2)
        if not low <= value <= high:  # rounding pushed it out of a narrow range
            value = (low + high) / 2
        return value

    def string(self, schema: Schema, name: str) -> str:
        min_len = int(schema.get("minLength", 0))
        fmt = schema.get("format")
        pattern = schema.get("pattern")
        # Free text defaults to short phrases; a format's value is never cut unless asked.
        default_max = 10_000 if isinstance(fmt, str) and fmt in _FORMATS else max(min_len, 24)
        max_len = int(schema.get("maxLength", default_max))
        text: str
        if isinstance(fmt, str) and fmt in _FORMATS:
            text = _FORMATS[fmt](self.rng)
        elif isinstance(pattern, str):
            text = generate_from_pattern(pattern, self.rng, min_len=min_len, max_len=max_len)
            return text
        else:
            text = self.words(self.rng.randint(1, 3), name)
        if len(text) < min_len:
            text = (text + " " + self.words(min_len, name))[:min_len] if text else "x" * min_len
            text = text[:-1] + "x" if text.endswith(" ") else text
        if len(text) > max_len:
            text = text[:max_len].rstrip() or "x" * max_len
            text = text if len(text) >= min_len else text.ljust(min_len, "x")
        return text

    def words(self, count: int, name: str) -> str:
        del name
        return " ".join(self.rng.choice(_WORDS) for _ in range(max(count, 1)))

    def array(self, schema: Schema, depth: int, name: str) -> list[Any]:
        min_items = int(schema.get("minItems", 0))
        max_items = int(schema.get("maxItems", max(min_items, 3)))
        prefix = cast(Sequence[Schema], schema.get("prefixItems", ()))
        if depth >= _MAX_DEPTH:
            count = min_items
        else:
            count = self.rng.randint(min_items, max(min_items, min(max_items, min_items + 3)))
        items_schema = schema.get("items", {})
        out: list[Any] = []
        unique = bool(schema.get("uniqueItems"))
        tries = 0
        while len(out) < count:
            index = len(out)
            sub = prefix[index] if index < len(prefix) else items_schema
            if items_schema is False and index >= len(prefix):
                break
            item = self.value(sub, depth + 1, name)
            tries += 1
            if unique and any(_same(item, seen) for seen in out):
                if tries > 50 * (count + 1):
                    if len(out) >= min_items:
                        break
                    raise SchemaDataError(f"cannot find {min_items} unique items for {name}")
                continue
            out.append(item)
        return out

    def object(self, schema: Schema, depth: int) -> dict[str, Any]:
        properties = cast(Mapping[str, Any], schema.get("properties", {}))
        required = set(cast(Sequence[str], schema.get("required", ())))
        out: dict[str, Any] = {}
        for key, sub in properties.items():
            if key not in required and (depth >= _MAX_DEPTH or self.rng.random() < 0.2):
                continue
            out[key] = self.value(sub, depth + 1, key)
        extra = schema.get("additionalProperties")
        min_props = int(schema.get("minProperties", 0))
        if isinstance(extra, Mapping) and not properties:
            count = min_props if depth >= _MAX_DEPTH else max(min_props, self.rng.randint(0, 2))
            names = schema.get("propertyNames", {"type": "string"})
            while len(out) < count:
                key = str(self.value(names, depth + 1, "key"))
                if key in out:
                    key = f"{key}_{len(out)}"
                out[key] = self.value(cast(Schema, extra), depth + 1, key)
        return out


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _infer_type(schema: Schema) -> str:
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
        return "string"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return "number"
    return "string"


def _bounds(schema: Schema, *, integer: bool) -> tuple[float, float]:
    low: float = float(schema.get("minimum", -math.inf))
    high: float = float(schema.get("maximum", math.inf))
    ex_low = schema.get("exclusiveMinimum")
    ex_high = schema.get("exclusiveMaximum")
    nudge = 1 if integer else 0.01
    if isinstance(ex_low, int | float) and not isinstance(ex_low, bool):
        low = max(low, ex_low + nudge)
    if isinstance(ex_high, int | float) and not isinstance(ex_high, bool):
        high = min(high, ex_high - nudge)
    if integer:
        low, high = math.ceil(low) if low != -math.inf else low, math.floor(high) if high != math.inf else high
    # Unbounded sides get a readable default span next to the other bound.
    if low == -math.inf and high == math.inf:
        low, high = (0, 100) if integer else (0.0, 1.0)
    elif low == -math.inf:
        low = high - (100 if integer else 1.0)
    elif high == math.inf:
        high = low + (100 if integer else 1.0)
    if not integer and low > high and ex_low is not None and ex_high is not None:
        low = high = (float(ex_low) + float(ex_high)) / 2  # a range narrower than the nudge
    return low, high


def _date(rng: random.Random) -> dt.date:
    return dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 730))


_FORMATS: Mapping[str, Callable[[random.Random], str]] = MappingProxyType[str, Callable[[random.Random], str]]({
    "date": lambda rng: _date(rng).isoformat(),
    "date-time": lambda rng: dt.datetime.combine(
        _date(rng), dt.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)), dt.UTC
    ).isoformat().replace("+00:00", "Z"),
    "time": lambda rng: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
    "duration": lambda rng: f"PT{rng.randint(1, 59)}M",
    "email": lambda rng: f"{rng.choice(_WORDS)}@example.com",
    "uri": lambda rng: f"https://example.com/{rng.choice(_WORDS)}",
    "url": lambda rng: f"https://example.com/{rng.choice(_WORDS)}",
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    "ipv4": lambda rng: f"192.0.2.{rng.randint(1, 254)}",
    "hostname": lambda rng: f"{rng.choice(_WORDS)}.example.com",
})
