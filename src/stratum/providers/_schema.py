"""OpenAI strict structured outputs: make a contract's JSON Schema strict when it can be.

Strict mode needs every object closed (`additionalProperties: false`) with every property in
`required`. Optional fields therefore become required-but-nullable; when the model answers
`null` for a field we made nullable, `drop_added_nulls` removes it again so the contract's
default applies. Schemas strict mode cannot express (open maps, `patternProperties`...) are
sent non-strict, unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

__all__ = ("StrictSchema", "drop_added_nulls", "to_strict")

# Keywords strict mode rejects or ignores; dropping them keeps the schema's meaning for us
# because the contract re-validates the output anyway.
_DROP = frozenset({"default", "discriminator", "$schema"})


@dataclass(frozen=True, slots=True)
class StrictSchema:
    """The result of `to_strict`."""

    schema: Mapping[str, Any]
    strict: bool
    nullable_added: bool
    """True when some optional field was made nullable (outputs need `drop_added_nulls`)."""


class _NotStrict(Exception):
    pass


_ADDED = "x-stratum-added-null"


def _null_allowed(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    options = schema.get("anyOf") or schema.get("oneOf") or ()
    return any(isinstance(o, Mapping) and _null_allowed(cast(Mapping[str, Any], o)) for o in cast(list[Any], options))


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if _null_allowed(schema):
        return schema
    kind = schema.get("type")
    if isinstance(kind, str) and "enum" not in schema and "const" not in schema:
        return {**schema, "type": [kind, "null"], _ADDED: True}
    return {"anyOf": [schema, {"type": "null"}], _ADDED: True}


def _walk(node: Any) -> Any:
    if isinstance(node, list):
        return [_walk(item) for item in cast(list[Any], node)]
    if not isinstance(node, Mapping):
        return node
    src = cast(Mapping[str, Any], node)
    if "patternProperties" in src:
        raise _NotStrict
    out: dict[str, Any] = {}
    for key, value in src.items():
        if key in _DROP:
            continue
        if key == "items" and isinstance(value, Mapping) and not value:
            raise _NotStrict  # `list` / `list[Any]`: items of any type, which strict mode cannot say
        if key == "oneOf":
            out["anyOf"] = _walk(value)
        elif key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            out[key] = {name: _walk(sub) for name, sub in cast(Mapping[str, Any], value).items()}
        else:
            out[key] = _walk(value)
    if "$ref" in out and len(out) > 1:
        # strict mode forbids siblings next to $ref (pydantic puts descriptions there)
        out = {"$ref": out["$ref"]}
    is_object = out.get("type") == "object" or "properties" in out
    if is_object:
        extra = out.get("additionalProperties")
        if extra not in (None, False):
            raise _NotStrict
        props = cast(dict[str, Any], out.get("properties") or {})
        required = set(cast(list[str], out.get("required") or []))
        out["properties"] = {
            name: sub if name in required else _nullable(cast(dict[str, Any], sub)) for name, sub in props.items()
        }
        out["required"] = list(props)
        out["additionalProperties"] = False
    return out


def _strip_markers(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip_markers(item) for item in cast(list[Any], node)]
    if isinstance(node, Mapping):
        return {k: _strip_markers(v) for k, v in cast(Mapping[str, Any], node).items() if k != _ADDED}
    return node


def to_strict(schema: Mapping[str, Any]) -> StrictSchema:
    """Transform `schema` for OpenAI strict mode, or return it as is with `strict=False`."""
    try:
        marked = _walk(schema)
    except _NotStrict:
        return StrictSchema(schema, strict=False, nullable_added=False)
    added = _ADDED in json.dumps(marked)
    return StrictSchema(_MarkedSchema(marked, _strip_markers(marked)), strict=True, nullable_added=added)


class _MarkedSchema(dict[str, Any]):
    """The strict schema to send, remembering which fields were made nullable (not sent)."""

    def __init__(self, marked: dict[str, Any], clean: dict[str, Any]) -> None:
        super().__init__(clean)
        self.marked = marked


def drop_added_nulls(text: str, strict: StrictSchema) -> str:
    """Remove `null` values the model gave for fields only strict mode made nullable."""
    if not strict.nullable_added or not isinstance(strict.schema, _MarkedSchema):
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return text
    marked = strict.schema.marked
    defs = cast(Mapping[str, Any], marked.get("$defs") or marked.get("definitions") or {})
    changed = _drop(data, marked, defs, 0)
    return json.dumps(data, ensure_ascii=False) if changed else text


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and "/" in ref:
        target = defs.get(ref.rsplit("/", 1)[1])
        if isinstance(target, Mapping):
            return cast(Mapping[str, Any], target)
    return schema


def _drop(value: Any, schema: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> bool:
    if depth > 32:
        return False
    schema = _resolve(schema, defs)
    changed = False
    if isinstance(value, dict):
        props = cast(Mapping[str, Any], schema.get("properties") or {})
        data = cast(dict[str, Any], value)
        for name in list(data):
            sub = props.get(name)
            if not isinstance(sub, Mapping):
                continue
            sub_schema = cast(Mapping[str, Any], sub)
            if data[name] is None and sub_schema.get(_ADDED):
                del data[name]
                changed = True
            else:
                for option in _options(sub_schema):
                    changed = _drop(data[name], option, defs, depth + 1) or changed
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in cast(list[Any], value):
                changed = _drop(item, cast(Mapping[str, Any], items), defs, depth + 1) or changed
    return changed


def _options(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    options = schema.get("anyOf")
    if isinstance(options, list):
        return [cast(Mapping[str, Any], o) for o in cast(list[Any], options) if isinstance(o, Mapping)]
    return [schema]
