"""Find the media inputs inside a call's arguments (parameters, contract fields, lists, dicts)."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel

from stratum._media._types import Media, is_media_type

__all__ = ("annotation_has_media", "find_media", "replace_media")


def annotation_has_media(tp: Any, *, untyped: bool = True, _seen: frozenset[int] = frozenset()) -> bool:
    """True when a value of type `tp` may hold a media input (decided once, at decoration time).

    With `untyped=False`, `Any` and bare containers do not count: only a type that names
    `Image`, `Document` or `Audio` does.
    """
    if is_media_type(tp):
        return True
    if id(tp) in _seen:
        return False
    seen = _seen | {id(tp)}
    origin = get_origin(tp)
    if origin is Annotated:
        return annotation_has_media(get_args(tp)[0], untyped=untyped, _seen=seen)
    if origin is not None:
        return any(annotation_has_media(arg, untyped=untyped, _seen=seen) for arg in get_args(tp))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return any(annotation_has_media(f.annotation, untyped=untyped, _seen=seen) for f in tp.model_fields.values())
    return untyped and (tp is Any or tp is object or tp is list or tp is dict or tp is tuple)


def find_media(value: Any, path: str, found: list[tuple[str, Media]]) -> None:
    """Append `(path, media)` for every media input inside `value`, in a stable order."""
    if isinstance(value, Media):
        found.append((path, value))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            find_media(getattr(value, name, None), f"{path}.{name}", found)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(typing.cast(list[Any], value)):
            find_media(item, f"{path}[{index}]", found)
    elif isinstance(value, Mapping):
        for key, item in typing.cast(Mapping[Any, Any], value).items():
            find_media(item, f"{path}.{key}", found)


def replace_media(value: Any) -> Any:
    """`value` with every media input replaced by its JSON reference (for text and hashes)."""
    if isinstance(value, Media):
        return value.reference()
    if isinstance(value, BaseModel):
        return {name: replace_media(getattr(value, name, None)) for name in type(value).model_fields}
    if isinstance(value, list | tuple):
        return [replace_media(item) for item in typing.cast(list[Any], value)]
    if isinstance(value, Mapping):
        return {str(k): replace_media(v) for k, v in typing.cast(Mapping[Any, Any], value).items()}
    return value
