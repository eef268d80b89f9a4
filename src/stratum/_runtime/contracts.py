"""`@contract`, `opaque[T]`, JSON Schema and content hashes, and output specs for `@infer`.

A contract is a validated pydantic model class. A plain annotated class is rebuilt as one; a
`BaseModel` subclass is checked and used as is. The schema and its 12-hex hash are computed
once, at decoration time.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import json
import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    Literal,
    TypeVar,
    Union,
    dataclass_transform,
    get_args,
    get_origin,
)

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from stratum._media import Media, annotation_has_media
from stratum.exceptions import StratumCompileError

__all__ = (
    "ContractInfo",
    "OutputSpec",
    "contract",
    "contract_info",
    "is_opaque",
    "opaque",
    "output_spec",
    "schema_hash",
)

T = TypeVar("T")
C = TypeVar("C")


class _OpaqueMarker:
    """Metadata marking an `Annotated` type as opaque data (sent as a JSON attachment)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "opaque"


OPAQUE = _OpaqueMarker()
"""The one marker instance; `opaque[T]` is `Annotated[T, OPAQUE]`."""

opaque = Annotated[T, OPAQUE]
"""`opaque[T]` is `T` to type checkers; the prompt compiler sends such values as JSON data, never inline."""


def is_opaque(annotation: Any) -> bool:
    """True when `annotation` is `opaque[...]` (possibly inside another `Annotated`)."""
    if get_origin(annotation) is Annotated:
        return any(isinstance(m, _OpaqueMarker) for m in annotation.__metadata__) or is_opaque(
            get_args(annotation)[0]
        )
    return False


def schema_hash(schema: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical schema JSON (sorted keys, compact), first 12 hex chars."""
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class ContractInfo:
    """What `@contract` computed for a class."""

    model: type[BaseModel]
    schema: Mapping[str, Any]
    hash: str
    opaque_fields: frozenset[str]


_PRIMITIVES: tuple[type, ...] = (str, int, float, bool, bytes, dt.date, dt.datetime, dt.time, decimal.Decimal)


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _check_type(tp: Any, where: str, stack: tuple[type, ...]) -> None:
    """Raise `StratumCompileError` for a type a contract cannot carry."""
    origin = get_origin(tp)
    if origin is Annotated:
        _check_type(get_args(tp)[0], where, stack)
        return
    if tp is None or tp is type(None) or tp in _PRIMITIVES:
        return
    if isinstance(tp, type) and issubclass(tp, enum.Enum | Media):
        return  # an Image, Document or Audio input field validates and serializes itself
    if origin is Literal:
        bad = [a for a in get_args(tp) if not isinstance(a, str | int | bool | type(None))]
        if bad:
            raise StratumCompileError(f"{where}: Literal values must be str, int or bool, got {bad!r}")
        return
    if origin is Union or origin is types.UnionType:
        for arg in get_args(tp):
            _check_type(arg, where, stack)
        return
    if tp is list or tp is dict:
        # Upstream code writes `key_points: list`: taken as list[Any] / dict[str, Any], and the
        # schema (items of any type) is sent non-strict
        return
    if origin is list:
        (item,) = get_args(tp) or (Any,)
        if item is not Any:  # list[Any], like a bare list: items of any JSON type
            _check_type(item, where, stack)
        return
    if origin is dict:
        args = get_args(tp)
        if len(args) != 2 or args[0] is not str:
            raise StratumCompileError(f"{where}: only dict[str, T] is supported, got {tp!r}")
        if args[1] is not Any:  # dict[str, Any], like a bare dict: an open JSON object
            _check_type(args[1], where, stack)
        return
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in stack:
            chain = " -> ".join(t.__name__ for t in (*stack[stack.index(tp) :], tp))
            raise StratumCompileError(
                f"{where}: circular contract reference ({chain}); contracts must form a tree, "
                "so break the cycle with an id field or a separate contract"
            )
        for name, info in tp.model_fields.items():
            _check_type(_field_annotation(info), f"{tp.__name__}.{name}", (*stack, tp))
        return
    if isinstance(tp, type) and tp.__dict__.get("__annotations__"):
        raise StratumCompileError(
            f"{where}: {tp.__name__} is not a contract; decorate it with @contract before using it in another contract"
        )
    raise StratumCompileError(
        f"{where}: unsupported type {_describe(tp)}; use str, int, float, bool, date/datetime, "
        "Literal[...], an Enum, list[T], dict[str, T], T | None or another @contract"
    )


def _field_annotation(info: Any) -> Any:
    annotation = info.annotation
    if info.metadata:
        return Annotated[(annotation, *info.metadata)]
    return annotation


def _opaque_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        name
        for name, info in model.model_fields.items()
        if any(isinstance(m, _OpaqueMarker) for m in info.metadata) or is_opaque(info.annotation)
    )


def caller_namespace(depth: int) -> dict[str, Any]:
    """Globals and locals of the frame `depth` levels up, for resolving string annotations."""
    frame = sys._getframe(depth + 1)  # pyright: ignore[reportPrivateUsage]
    return {**frame.f_globals, **frame.f_locals}


def _hints(cls: type, *, self_name: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        try:
            return typing.get_type_hints(cls, include_extras=True)
        except NameError:
            if namespace is None:
                raise
            # A class defined inside a function (or exec'd code) may name locals of its caller.
            return typing.get_type_hints(cls, globalns=namespace, localns=namespace, include_extras=True)
    except NameError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        if missing == self_name:
            raise StratumCompileError(
                f"@contract {self_name}: circular contract reference ({self_name} refers to itself); "
                "contracts must form a tree, so use an id field or a separate contract"
            ) from None
        raise StratumCompileError(
            f"@contract {self_name}: cannot resolve the annotation {missing!r}; "
            "define (and decorate) nested contracts before the contract that uses them"
        ) from None


def _build_model(cls: type, namespace: dict[str, Any] | None) -> type[BaseModel]:
    hints = _hints(cls, self_name=cls.__name__, namespace=namespace)
    own = cls.__dict__.get("__annotations__", {})
    if not hints or not own and not any(hasattr(b, "__stratum_contract__") for b in cls.__mro__[1:]):
        raise StratumCompileError(
            f"@contract {cls.__name__}: no annotated fields; declare fields like `label: str`"
        )
    for name, tp in hints.items():
        if typing.get_origin(tp) is typing.ClassVar:
            continue
        _check_type(tp, f"{cls.__name__}.{name}", (cls,))  # pyright: ignore[reportArgumentType]
    namespace = {
        key: value
        for key, value in cls.__dict__.items()
        if key not in ("__dict__", "__weakref__", "__annotations__")
    }
    namespace["__annotations__"] = {k: v for k, v in hints.items() if k in own or not hasattr(cls, k)}
    bases = tuple(b for b in cls.__bases__ if b is not object) or (BaseModel,)
    if not any(issubclass(b, BaseModel) for b in bases):
        bases = (*bases, BaseModel)
    model = types.new_class(cls.__name__, bases, {}, lambda ns: ns.update(namespace))
    return typing.cast(type[BaseModel], model)


@dataclass_transform(kw_only_default=True, field_specifiers=(Field,))
def contract(cls: type[C]) -> type[C]:
    """Declare a typed output (or input) shape: a validated model with a JSON Schema and hash.

    Works on plain annotated classes and on `pydantic.BaseModel` subclasses. Nested contracts,
    `Literal`, `Annotated[..., Field(...)]`, `list[...]`, `dict[str, ...]`, `X | None` and
    `opaque[T]` fields are supported.

    Example:
        ```python
        @contract
        class Sentiment:
            label: Literal["positive", "negative", "neutral"]
            confidence: Annotated[float, Field(ge=0, le=1)]
            reasoning: str
        ```

    Raises:
        StratumCompileError: no annotated fields, an unsupported type, or a circular reference.
    """
    if not isinstance(cls, type):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise StratumCompileError(f"@contract decorates classes, got {cls!r}")
    if issubclass(cls, BaseModel):
        if not cls.model_fields:
            raise StratumCompileError(
                f"@contract {cls.__name__}: no annotated fields; declare fields like `label: str`"
            )
        for name, info in cls.model_fields.items():
            _check_type(_field_annotation(info), f"{cls.__name__}.{name}", (cls,))
        model: type[BaseModel] = cls
    else:
        model = _build_model(cls, caller_namespace(1))
    try:
        schema = model.model_json_schema()
    except Exception as exc:  # pydantic raises several kinds here
        raise StratumCompileError(f"@contract {cls.__name__}: cannot build a JSON Schema: {exc}") from exc
    info = ContractInfo(model=model, schema=schema, hash=schema_hash(schema), opaque_fields=_opaque_fields(model))
    model.__stratum_contract__ = info  # type: ignore[attr-defined]
    return typing.cast(type[C], model)


def contract_info(tp: Any) -> ContractInfo | None:
    """The `ContractInfo` of a contract class (or an undecorated BaseModel, computed now)."""
    if not isinstance(tp, type):
        return None
    info = tp.__dict__.get("__stratum_contract__")
    if isinstance(info, ContractInfo):
        return info
    if issubclass(tp, BaseModel):
        schema = tp.model_json_schema()
        return ContractInfo(model=tp, schema=schema, hash=schema_hash(schema), opaque_fields=_opaque_fields(tp))
    return None


# -- output specs ---------------------------------------------------------------------------

OutputKind = Literal["text", "contract", "value"]

_NAME_OK = re.compile(r"[^a-zA-Z0-9_-]")


class OutputError(Exception):
    """The output did not parse or validate; `violations` says how (internal)."""

    def __init__(self, violations: list[str], *, unparsable: bool) -> None:
        super().__init__("; ".join(violations))
        self.violations = violations
        self.unparsable = unparsable


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """How to request, parse and validate the result of an `@infer` function."""

    kind: OutputKind
    annotation: Any
    adapter: TypeAdapter[Any]
    schema: Mapping[str, Any] | None
    """The schema sent as structured output (None for plain text)."""
    hash: str
    name: str
    fields: frozenset[str]
    """Top-level field names of a contract result (for decoration-time `ensure` checks)."""

    def parse(self, text: str) -> Any:
        """Parse and validate `text`; raise `OutputError` with readable violations."""
        if self.kind == "text":
            return text
        if self.kind == "contract":
            try:  # the common case, parsed and validated in one pass by pydantic-core
                return self.adapter.validate_json(text)
            except ValidationError:
                pass  # fences, or a real problem: the lenient path below explains it
        payload = _strip_fences(text)
        try:
            data: Any = json.loads(payload)
        except json.JSONDecodeError as exc:
            snippet = payload[:80] + ("…" if len(payload) > 80 else "")
            raise OutputError(
                [f"output is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): {snippet!r}"],
                unparsable=True,
            ) from None
        if self.kind == "value" and isinstance(data, dict):
            wrapped = typing.cast(dict[str, Any], data)
            if set(wrapped) == {"value"}:
                data = wrapped["value"]
        try:
            return self.adapter.validate_python(data)
        except ValidationError as exc:
            raise OutputError(validation_violations(exc), unparsable=False) from None


def _strip_fences(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        if stripped.rstrip().endswith("```"):
            stripped = stripped.rstrip()[:-3]
    return stripped.strip()


def validation_violations(exc: ValidationError) -> list[str]:
    out: list[str] = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "value"
        actual = err.get("input")
        shown = json.dumps(actual, default=str)[:80] if err["type"] != "missing" else None
        message = f"schema: {loc}: {err['msg']}"
        out.append(message if shown is None else f"{message} (actual: {loc}={shown})")
    return out


def output_spec(annotation: Any, where: str) -> OutputSpec:
    """Build the output spec of an `@infer` return annotation.

    Raises:
        StratumCompileError: the annotation is missing or not a supported result type.
    """
    if annotation is None or annotation is type(None):
        raise StratumCompileError(
            f"{where}: an @infer function needs a return annotation (a @contract class, a primitive or list[...])"
        )
    if annotation_has_media(annotation, untyped=False):
        raise StratumCompileError(
            f"{where}: the result type {_describe(annotation)} holds an Image, Document or Audio, which are "
            "inputs only (a model answers in text); return their description or a reference instead"
        )
    if annotation is str:
        schema: dict[str, Any] = {"type": "string"}
        return OutputSpec("text", str, TypeAdapter(str), None, schema_hash(schema), "text", frozenset())
    info = contract_info(annotation)
    if info is not None:
        _check_type(annotation, where, ())
        name = _NAME_OK.sub("_", annotation.__name__)[:64]
        return OutputSpec(
            "contract", annotation, TypeAdapter(annotation), info.schema, info.hash, name, frozenset(info.model.model_fields)
        )
    _check_type(annotation, where, ())
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    inner = adapter.json_schema()
    defs = inner.pop("$defs", None)
    wrapped: dict[str, Any] = {
        "type": "object",
        "properties": {"value": inner},
        "required": ["value"],
        "additionalProperties": False,
    }
    if defs:
        wrapped["$defs"] = defs
    return OutputSpec("value", annotation, adapter, wrapped, schema_hash(wrapped), "value", frozenset())
