"""Regexes from plans, with a time bound on every match.

Plans come from an agent, so a guardrail or a schema `pattern` is untrusted: `^(a+)+$` style
patterns backtrack for minutes on the standard `re` engine. The `regex` package matches with a
`timeout=` (it raises `TimeoutError` mid-match) and `concurrent=True` releases the GIL while it
works, so a slow pattern neither hangs the server nor stops it answering other calls.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import regex

__all__ = ("MATCH_TIMEOUT_S", "RegexTimeout", "compile_error", "search")

MATCH_TIMEOUT_S = 0.25
"""Wall-clock bound on one match; a match that runs longer counts as a failure (fail-closed)."""
MAX_PATTERN_CHARS = 1_000
"""Longest accepted pattern."""


class RegexTimeout(Exception):
    """A match ran past `MATCH_TIMEOUT_S`."""


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    return regex.compile(pattern)


def compile_error(pattern: object) -> str | None:
    """None when `pattern` is a usable regex, else why not."""
    if not isinstance(pattern, str) or not pattern:
        return "a pattern is a non-empty string"
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"pattern is {len(pattern)} characters, over the {MAX_PATTERN_CHARS} limit"
    try:
        _compiled(pattern)
    except (regex.error, RecursionError, OverflowError) as exc:
        return f"not a valid regex ({exc})"
    return None


def search(pattern: str, text: str, *, timeout: float = MATCH_TIMEOUT_S) -> bool:
    """True when `pattern` matches somewhere in `text`.

    Raises:
        RegexTimeout: the match ran past `timeout` seconds.
    """
    try:
        return _compiled(pattern).search(text, timeout=timeout, concurrent=True) is not None
    except TimeoutError:
        raise RegexTimeout(f"pattern {pattern[:60]!r} took over {timeout}s") from None
