"""Partial results of a streamed call: the output so far, validated as far as it goes.

The text that has arrived is parsed with pydantic-core's partial JSON mode (`from_json(...,
allow_partial="trailing-strings")`, jiter underneath): an unfinished document yields what is
complete, plus the string being written. That value is then validated against the result type:

- a contract whose required fields have all arrived validates as usual (a string still being
  written counts as its text so far);
- otherwise the fields that have arrived are validated with pydantic's partial validation of
  a `TypedDict` of the contract's fields (all optional), which drops the field still being
  written when it is not valid yet (such as half a `Literal`), and the partial is built with
  `model_construct`: fields that validated are set, fields not arrived (or not valid yet) are
  `None` or their default, and `model_fields_set` names the ones set. A nested contract still
  being written is itself a partial. When a field before the last one is invalid, each field
  is validated on its own instead;
- `list[...]` and other values are validated with pydantic's partial validation, which drops
  an unfinished last item.

A piece that leaves the parsed document unchanged (half a key, a number still being written)
costs one parse and no validation; a partial equal to the previous one is not repeated.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import from_json
from typing_extensions import NotRequired, TypedDict

from stratum._runtime.contracts import OutputSpec

__all__ = ("NOTHING", "PartialParser")

NOTHING: Any = object()
"""Returned by `PartialParser.parse` when the text so far holds no valid partial yet."""

_NUMBER_CHARS = frozenset("0123456789.-+eE")


def _without_trailing_number(text: str) -> str:
    """`text` minus a number still being written at its end (`12` may become `123`)."""
    end = len(text)
    while end and text[end - 1] in _NUMBER_CHARS:
        end -= 1
    if end == len(text):
        return text
    before = text[:end].rstrip()
    if not before or before[-1] in ":,[":
        return text[:end]
    return text


def _annotation(info: Any) -> Any:
    annotation: Any = info.annotation
    if info.metadata:
        annotation = typing.Annotated[annotation, *info.metadata]
    return annotation


@functools.lru_cache(maxsize=1024)
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    return TypeAdapter(_annotation(model.model_fields[name]))


def _model_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


_IMMUTABLE = (type(None), bool, int, float, str, bytes, Decimal, Enum)
_set = object.__setattr__


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to validate and build the partials of one contract (made once per contract)."""

    model: type[BaseModel]
    required: frozenset[str]
    """The JSON keys of the required fields: all present, the contract itself may validate."""
    names: tuple[tuple[str, str], ...]
    """(JSON key, field name) of every field."""
    fields: TypeAdapter[dict[str, Any]]
    """A `TypedDict` of every field by its JSON key, none required: validated partially."""
    nested: tuple[tuple[str, str, type[BaseModel]], ...]
    """(JSON key, field name, contract) of the fields that are contracts themselves."""
    template: dict[str, Any] | None
    """Every field's value before it arrives (`None`, or its default), when building an
    instance is only setting its attributes; None when `model_construct` must build it."""

    def values(self, data: dict[str, Any]) -> dict[str, Any]:
        """The fields of `data` valid so far, by field name."""
        try:
            checked = self.fields.validate_python(data, experimental_allow_partial="trailing-strings")
        except ValidationError:  # a field before the last one is invalid: each on its own
            return _each_field(self.model, data)
        values = {name: checked[key] for key, name in self.names if key in checked}
        for key, name, inner in self.nested:
            raw = data.get(key)
            if key not in checked and isinstance(raw, dict):  # the contract still being written
                values[name] = _partial_model(inner, typing.cast(dict[str, Any], raw))
        return values

    def build(self, values: dict[str, Any]) -> BaseModel:
        """An instance with `values` set, the fields not arrived `None` or their default."""
        template = self.template
        model = self.model
        if template is None:
            filled = dict(values)
            for name, info in model.model_fields.items():
                if name not in filled and info.is_required():
                    filled[name] = None
            return model.model_construct(_fields_set=set(values), **filled)
        # what model_construct does for such a model, without its per-field work
        instance = model.__new__(model)
        filled = template.copy()
        filled.update(values)
        _set(instance, "__dict__", filled)
        _set(instance, "__pydantic_fields_set__", set(values))
        _set(instance, "__pydantic_extra__", None)
        _set(instance, "__pydantic_private__", None)
        return instance


def _template(model: type[BaseModel]) -> dict[str, Any] | None:
    if model.__pydantic_post_init__ or model.model_config.get("extra") == "allow" or model.__pydantic_root_model__:
        return None
    template: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.is_required():
            template[name] = None
        elif info.default_factory is None and isinstance(info.default, _IMMUTABLE):
            template[name] = info.default
        else:  # a default made or copied per instance
            return None
    return template


@functools.lru_cache(maxsize=256)
def _plan(model: type[BaseModel]) -> _Plan:
    keys: dict[str, Any] = {}
    names: list[tuple[str, str]] = []
    nested: list[tuple[str, str, type[BaseModel]]] = []
    required: set[str] = set()
    for name, info in model.model_fields.items():
        key = info.alias or name
        keys[key] = NotRequired[_annotation(info)]
        names.append((key, name))
        if info.is_required():
            required.add(key)
        inner = _model_class(info.annotation)
        if inner is not None:
            nested.append((key, name, inner))
    make: Any = TypedDict  # the functional form, built from the fields (keys need not be names)
    fields: Any = make(f"{model.__name__}Partial", keys)
    adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(fields)
    return _Plan(model, frozenset(required), tuple(names), adapter, tuple(nested), _template(model))


def _each_field(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """The fields of `data` that validate on their own, by field name (the slow path)."""
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in data:
            continue
        raw = data[key]
        try:
            values[name] = _field_adapter(model, name).validate_python(raw, experimental_allow_partial="trailing-strings")
        except ValidationError:
            nested = _model_class(info.annotation)
            if nested is not None and isinstance(raw, dict):
                values[name] = _partial_model(nested, typing.cast(dict[str, Any], raw))
    return values


def _partial_model(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """An instance of `model` holding the fields of `data` valid so far."""
    plan = _plan(model)
    return plan.build(plan.values(data))


class PartialParser:
    """Turns the output text so far into the latest partial result (for one attempt)."""

    __slots__ = ("_adapter", "_contract", "_data", "_last", "_plan", "_values")

    def __init__(self, output: OutputSpec) -> None:
        self._adapter = output.adapter
        self._contract = output.kind == "contract"
        self._last: Any = NOTHING
        self._data: Any = NOTHING
        self._values: dict[str, Any] | None = None
        model = _model_class(output.annotation) if self._contract else None
        self._plan = _plan(model) if model is not None else None

    def parse(self, text: str) -> Any:
        """The partial result of `text`, or `NOTHING` when it holds none or no change since the last."""
        if text[:1].isspace():
            text = text.lstrip()
        if text[:3] == "```":  # a fenced answer: skip the fence line
            text = text.partition("\n")[2]
        if text[-1:] in _NUMBER_CHARS:
            text = _without_trailing_number(text)
        if not text:
            return NOTHING
        try:
            data: Any = from_json(text, allow_partial="trailing-strings")
        except ValueError:
            return NOTHING
        if data == self._data:  # the same document so far (half a key, a number being written)
            return NOTHING
        self._data = data
        value: Any = NOTHING
        if self._contract:
            if type(data) is not dict:
                return NOTHING
            document = typing.cast(dict[str, Any], data)
            plan = self._plan
            if plan is None or plan.required <= document.keys():
                try:
                    value = self._adapter.validate_python(document, experimental_allow_partial="trailing-strings")
                except ValidationError:
                    value = NOTHING
            if value is NOTHING:
                if plan is None:
                    return NOTHING
                values = plan.values(document)
                if not values or values == self._values:
                    return NOTHING
                self._values = values
                value = self._last = plan.build(values)
                return value
            self._values = None
        else:
            if isinstance(data, dict) and "value" in data:
                data = typing.cast(dict[str, Any], data)["value"]
            try:
                value = self._adapter.validate_python(data, experimental_allow_partial="trailing-strings")
            except ValidationError:
                return NOTHING
        if self._last is not NOTHING and value == self._last:
            return NOTHING
        self._last = value
        return value
