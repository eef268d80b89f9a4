"""Strings that match a simple regular expression (for JSON Schema `pattern`).

Walks the tree of the standard library's own regex parser, so the dialect is exactly Python's.
Handles literals, classes and ranges, `.`, `\\d\\w\\s`, repeats, groups, alternation and
anchors; lookarounds and backreferences are not supported (the result is checked, and a
clear error says so). Length bounds are met by choosing repeat counts, retrying a few times.
"""

from __future__ import annotations

import importlib
import random
import re
from typing import Any

# The standard library's own regex parser (private modules since 3.11; the public
# `sre_parse` alias warns), typed as Any: typeshed does not describe its constants.
_c: Any = importlib.import_module("re._constants")
_p: Any = importlib.import_module("re._parser")

__all__ = ("generate_from_pattern",)

_DIGITS = "0123456789"
_WORD = "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + _DIGITS + "_"
_SPACE = " "
_PRINTABLE = "abcdefghijklmnopqrstuvwxyz0123456789"
_UNBOUNDED_EXTRA = 4
"""How many repeats past the minimum an open-ended `*`/`+`/`{n,}` may take."""


def generate_from_pattern(pattern: str, rng: random.Random, *, min_len: int = 0, max_len: int = 64) -> str:
    """A string matched by `re.search(pattern, s)` with `min_len <= len(s) <= max_len`.

    Raises:
        ValueError: the pattern uses a construct this generator does not support, or no
            string within the length bounds was found.
    """
    compiled = re.compile(pattern)
    tree = _p.parse(pattern)
    for attempt in range(200):
        # Later attempts lean towards the bound that failed.
        bias = 0 if attempt < 20 else (1 if attempt % 2 else -1)
        text = _emit(tree, rng, bias)
        if min_len <= len(text) <= max_len and compiled.search(text):
            return text
    raise ValueError(
        f"could not generate a string of length {min_len}..{max_len} matching {pattern!r}; "
        "give SchemaModel a simpler pattern or script this call with ScriptedModel"
    )


def _emit(items: Any, rng: random.Random, bias: int) -> str:
    return "".join(_one(op, av, rng, bias) for op, av in items)


def _one(op: Any, av: Any, rng: random.Random, bias: int) -> str:
    if op is _c.LITERAL:
        return chr(av)
    if op is _c.NOT_LITERAL:
        return next(ch for ch in _PRINTABLE if ord(ch) != av)
    if op is _c.ANY:
        return rng.choice(_PRINTABLE)
    if op is _c.IN:
        return _in_class(av, rng)
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
        low, high, sub = av
        top = low + _UNBOUNDED_EXTRA if high is _c.MAXREPEAT else high
        if bias > 0:
            count = top
        elif bias < 0:
            count = low
        else:
            count = rng.randint(low, max(low, min(top, low + 3)))
        return "".join(_emit(sub, rng, bias) for _ in range(count))
    if op is _c.SUBPATTERN:
        sub = av[-1]
        return _emit(sub, rng, bias)
    if op is _c.BRANCH:
        return _emit(rng.choice(av[1]), rng, bias)
    if op is _c.AT:
        return ""
    if op is _c.CATEGORY:
        return _category(av, rng)
    if op is getattr(_c, "ATOMIC_GROUP", None):
        return _emit(av, rng, bias)
    raise ValueError(
        f"regex construct {op} is not supported by SchemaModel's pattern generator; "
        "script this call with ScriptedModel or stub(...)"
    )


def _category(cat: Any, rng: random.Random) -> str:
    if cat is _c.CATEGORY_DIGIT:
        return rng.choice(_DIGITS)
    if cat is _c.CATEGORY_WORD:
        return rng.choice(_WORD)
    if cat is _c.CATEGORY_SPACE:
        return _SPACE
    if cat is _c.CATEGORY_NOT_DIGIT:
        return rng.choice("abcxyz")
    if cat is _c.CATEGORY_NOT_WORD:
        return rng.choice("-.,")
    if cat is _c.CATEGORY_NOT_SPACE:
        return rng.choice(_PRINTABLE)
    return rng.choice(_PRINTABLE)


def _in_class(items: Any, rng: random.Random) -> str:
    negate = any(op is _c.NEGATE for op, _ in items)
    pool: list[str] = []
    for op, av in items:
        if op is _c.LITERAL:
            pool.append(chr(av))
        elif op is _c.RANGE:
            low, high = av
            pool.extend(chr(c) for c in range(low, min(high, low + 200) + 1))
        elif op is _c.CATEGORY:
            pool.append(_category(av, rng))
    if negate:
        excluded = set(pool)
        candidates = [ch for ch in _PRINTABLE + "-_ " if ch not in excluded]
        return rng.choice(candidates) if candidates else "~"
    return rng.choice(pool) if pool else rng.choice(_PRINTABLE)
