"""Identifiers for trace records and flow runs."""

from __future__ import annotations

import os

__all__ = ("new_id",)


def new_id() -> str:
    """A fresh 32-hex identifier (random, like a UUID4's bits)."""
    return os.urandom(16).hex()
