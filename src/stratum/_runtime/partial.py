"""Partial results of a streamed call: the output so far, validated as far as it goes.

The text that has arrived is parsed with pydantic-core's partial JSON mode (`from_json(...,
allow_partial="trailing-strings")`, jiter underneath): an unfinished document yields what is
complete, plus the string being written. That value is then validated against the result type:

- a contract whose required fields have all arrived validates as usual (a string still being
  written counts as its text so far);
- otherwise each field that has arrived is validated on its own and the partial is built with
  `model_construct`: fields that validated are set, fields not arrived (or not valid yet, such
  as half a `Literal`) are `None` or their default, and `model_fields_set` names the ones set;
- `list[...]` and other values are validated with pydantic's partial validation, which drops
  an unfinished last item.
"""

from __future__ import annotations

import functools
import typing
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import from_json

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


@functools.lru_cache(maxsize=1024)
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = typing.Annotated[annotation, *info.metadata]
    return TypeAdapter(annotation)


def _model_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _partial_model(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """An instance of `model` holding the fields of `data` that validate on their own."""
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
    present = set(values)
    for name, info in model.model_fields.items():
        if name not in values and info.is_required():
            values[name] = None
    return model.model_construct(_fields_set=present, **values)


class PartialParser:
    """Turns the output text so far into the latest partial result (for one attempt)."""

    __slots__ = ("_last", "_output")

    def __init__(self, output: OutputSpec) -> None:
        self._output = output
        self._last: Any = NOTHING

    def parse(self, text: str) -> Any:
        """The partial result of `text`, or `NOTHING` when it holds none or no change since the last."""
        output = self._output
        stripped = text.lstrip()
        if stripped.startswith("```"):  # a fenced answer: skip the fence line
            stripped = stripped.partition("\n")[2]
        stripped = _without_trailing_number(stripped)
        if not stripped:
            return NOTHING
        try:
            data: Any = from_json(stripped, allow_partial="trailing-strings")
        except ValueError:
            return NOTHING
        value: Any = NOTHING
        if output.kind == "contract":
            try:
                value = output.adapter.validate_python(data, experimental_allow_partial="trailing-strings")
            except ValidationError:
                model = _model_class(output.annotation)
                if model is not None and isinstance(data, dict):
                    value = _partial_model(model, typing.cast(dict[str, Any], data))
                    if not value.model_fields_set:
                        return NOTHING
        else:
            if isinstance(data, dict) and "value" in data:
                data = typing.cast(dict[str, Any], data)["value"]
            try:
                value = output.adapter.validate_python(data, experimental_allow_partial="trailing-strings")
            except ValidationError:
                return NOTHING
        if value is NOTHING or (self._last is not NOTHING and value == self._last):
            return NOTHING
        self._last = value
        return value
