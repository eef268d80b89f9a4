"""Built-in provider names and how to make each (filled in by the HTTP providers)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from stratum._model import Provider

__all__ = ("BUILTIN_FACTORIES",)

BUILTIN_FACTORIES: Mapping[str, Callable[[], Provider]] = MappingProxyType({})
"""Provider name -> factory, read-only."""
