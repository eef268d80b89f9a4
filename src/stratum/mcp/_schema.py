"""Output schemas from plans, checked without ever reading a file or opening a URL.

`jsonschema` resolves a `$ref` it does not know by fetching it (`file://` reads a local file,
`http://` makes an outbound GET), and its `pattern` keyword runs the standard `re` engine with
no time bound. A plan is untrusted input, so here:

- any `$ref` / `$dynamicRef` that is not a fragment of the same schema (`#...`) is refused when
  the plan is validated, and the validator gets a registry that can only resolve the JSON
  Schema meta-schemas (it never retrieves anything);
- `pattern` and `patternProperties` match through `stratum.mcp._regex` (time-bounded); a match
  that times out is a violation (fail-closed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, cast

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema_specifications import REGISTRY as _META_ONLY

from stratum.mcp._regex import RegexTimeout, search

__all__ = ("schema_problem", "schema_violations")

_REF_KEYS = ("$ref", "$dynamicRef")
MAX_SCHEMA_NODES = 5_000
"""Most objects and lists in one schema."""


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    del schema
    if not validator.is_type(instance, "string"):
        return
    try:
        matched = search(pattern, instance)
    except RegexTimeout:
        yield ValidationError(f"pattern {pattern[:60]!r} took too long to match; the value is refused (use a simpler pattern)")
        return
    if not matched:
        yield ValidationError(f"{_short(instance)!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any) -> Iterator[ValidationError]:
    del schema
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in cast(Mapping[str, Any], instance).items():
            try:
                matched = search(pattern, key)
            except RegexTimeout:
                yield ValidationError(f"property pattern {pattern[:60]!r} took too long to match; the value is refused")
                return
            if matched:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


_extend: Any = validators.extend  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]  # untyped in jsonschema
_SafeValidator: Any = _extend(Draft202012Validator, {"pattern": _pattern, "patternProperties": _pattern_properties})


def schema_problem(schema: object) -> str | None:
    """None when `schema` is a usable output schema, else the problem (with the fix)."""
    if not isinstance(schema, (Mapping, bool)):
        return "expected a JSON Schema object"
    nodes = 0
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        nodes += 1
        if nodes > MAX_SCHEMA_NODES:
            return f"the schema has over {MAX_SCHEMA_NODES} parts; simplify it"
        if isinstance(node, Mapping):
            mapping = cast(Mapping[str, Any], node)
            for key in _REF_KEYS:
                ref = mapping.get(key)
                if isinstance(ref, str) and not ref.startswith("#"):
                    return (f"{key} {ref[:80]!r} points outside the schema; only references inside it "
                            "(\"#/$defs/...\") are allowed, so a plan can never make the server read a file or a URL")
            stack.extend(mapping.values())
        elif isinstance(node, list):
            stack.extend(cast(list[Any], node))
    try:
        Draft202012Validator.check_schema(cast("Mapping[str, Any] | bool", schema))
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return f"invalid JSON Schema{f' at {where}' if where else ''}: {_short(exc.message)}"
    except RecursionError:
        return "JSON Schema nests too deeply"
    return None


@lru_cache(maxsize=256)
def _validator(encoded: str) -> Any:
    return _SafeValidator(json.loads(encoded), registry=_META_ONLY)


def schema_violations(schema: Mapping[str, Any] | bool, result: Any, *, limit: int = 10) -> list[str]:
    """Every rule `result` breaks, as `schema: <where>: <what> (rule: <keyword>)`."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    out: list[str] = []
    try:
        errors: list[Any] = list(validator.iter_errors(result))
    except Exception as exc:  # an unresolvable local ref and the like: refuse, never crash
        return [f"schema: the output schema could not be applied ({type(exc).__name__}); fix the plan's schema"]
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        where = "result" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        out.append(f"schema: {where}: {_short(error.message)} (rule: {error.validator})")
        if len(out) >= limit:
            out.append("schema: further violations omitted")
            break
    return out


def _short(text: object, size: int = 240) -> str:
    text = str(text)
    return text if len(text) <= size else text[: size - 1] + "…"
