"""Decoration-time checks for media inputs: `bytes` parameters, and which calls may carry media."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, get_args, get_origin

from stratum._media import annotation_has_media
from stratum.exceptions import StratumCompileError

__all__ = ("check_input_annotations", "may_hold_media")

_RAW_BYTES = (bytes, bytearray, memoryview)


def _has_raw_bytes(tp: Any) -> bool:
    if tp in _RAW_BYTES:
        return True
    origin = get_origin(tp)
    if origin is Annotated:
        return _has_raw_bytes(get_args(tp)[0])
    return origin is not None and any(_has_raw_bytes(arg) for arg in get_args(tp))


def check_input_annotations(hints: Mapping[str, Any], params: tuple[str, ...], where: str) -> None:
    """Refuse parameters typed `bytes`: without a media type they would go out as their repr.

    Raises:
        StratumCompileError: naming the parameter and the media input types to use instead.
    """
    for name in params:
        if _has_raw_bytes(hints.get(name)):
            raise StratumCompileError(
                f"{where}: parameter {name!r} is typed bytes, which has no media type and would be sent "
                f"as its Python repr; annotate it stratum.Image, stratum.Document or stratum.Audio and pass "
                f"e.g. Image.from_bytes(data, 'image/png') (or decode text to str first)"
            )


def may_hold_media(hints: Mapping[str, Any], params: tuple[str, ...]) -> bool:
    """True when some parameter's type may hold an `Image`, `Document` or `Audio` value."""
    return any(name in hints and annotation_has_media(hints[name]) for name in params)
