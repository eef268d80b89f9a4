"""Progress of long jobs (`parallel`, `.batch`, flows): a callback, and a bar in a terminal.

A `Tracker` counts finished items and reads the innermost budget for what was spent since it
started and what is left. Every step calls the user's callback with a `Progress` snapshot. The
bar is drawn with `rich` (the optional extra `stratum[progress]`) on stderr, and only when
stderr is a terminal and no test is running, unless `progress=True` asks for it explicitly.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any

from stratum.exceptions import ConfigurationError

__all__ = ("Progress", "ProgressOption", "Tracker", "tracker")


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of a long job.

    Attributes:
        label: what runs (`"parallel"`, `"classify.batch"`, a flow's name).
        total: how many items the job has (None for a flow: not known in advance).
        done: items that finished successfully.
        failed: items that failed.
        spent_usd: USD spent in the innermost budget since the job started (None: no budget).
        remaining_usd: USD left in the innermost budget (None: no `usd` limit).
        spent_tokens: tokens spent in the innermost budget since the job started.
        remaining_tokens: tokens left (None: no `tokens` limit).
        elapsed_s: seconds since the job started.
    """

    label: str
    total: int | None
    done: int
    failed: int
    spent_usd: Decimal | None
    remaining_usd: Decimal | None
    spent_tokens: int | None
    remaining_tokens: int | None
    elapsed_s: float


ProgressOption = Callable[[Progress], Any] | bool | None
"""`None`: a bar only in a terminal, outside tests; `False`: nothing; `True`: a bar (needs
`rich`); a callable: called with a `Progress` after every finished item (and no bar)."""


def _want_bar(option: ProgressOption) -> bool:
    if option is True:
        return True
    if option is not None:
        return False
    from stratum._runtime.config import current_settings

    if current_settings().test_mode or "PYTEST_CURRENT_TEST" in os.environ:
        return False
    try:
        if not sys.stderr.isatty():
            return False
        import rich  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except (ImportError, AttributeError, ValueError):
        return False
    return True


class Tracker:
    """Counts a job's finished items and reports each step."""

    def __init__(self, label: str, total: int | None, option: ProgressOption) -> None:
        from stratum._runtime.budget import current_budget

        if option is not None and not isinstance(option, bool) and not callable(option):
            raise ConfigurationError(
                f"progress={option!r}: pass a callable taking a stratum.Progress, True for a bar, or False"
            )
        self.label = label
        self.total = total
        self.done = 0
        self.failed = 0
        self._callback = option if callable(option) else None
        self._env = current_budget()
        self._spent_usd0 = self._env.spent_usd if self._env is not None else Decimal(0)
        self._spent_tokens0 = self._env.spent_tokens if self._env is not None else 0
        self._started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None
        if _want_bar(option):
            try:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn
            except ImportError:
                raise ConfigurationError(
                    "progress=True draws a bar with rich: pip install 'stratum[progress]'"
                ) from None
            from rich.console import Console

            self._bar = Bar(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[money]}"),
                TimeElapsedColumn(), console=Console(stderr=True), transient=False,
            )
            self._task = self._bar.add_task(label, total=total, money="")

    def __enter__(self) -> Tracker:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def snapshot(self) -> Progress:
        """Where the job stands now."""
        env = self._env
        return Progress(
            label=self.label,
            total=self.total,
            done=self.done,
            failed=self.failed,
            spent_usd=None if env is None else env.spent_usd - self._spent_usd0,
            remaining_usd=None if env is None else env.remaining_usd,
            spent_tokens=None if env is None else env.spent_tokens - self._spent_tokens0,
            remaining_tokens=None if env is None else env.remaining_tokens,
            elapsed_s=time.monotonic() - self._started,
        )

    def step(self, ok: bool) -> None:
        """One item finished (successfully or not)."""
        if ok:
            self.done += 1
        else:
            self.failed += 1
        if self._callback is None and self._bar is None:
            return
        snap = self.snapshot()
        if self._bar is not None:
            money = "" if snap.spent_usd is None else f"${snap.spent_usd:.4f}"
            if snap.remaining_usd is not None:
                money += f" (${snap.remaining_usd:.4f} left)"
            if snap.failed:
                money += f" {snap.failed} failed"
            self._bar.update(self._task, completed=snap.done + snap.failed, money=money)
        if self._callback is not None:
            self._callback(snap)


def tracker(label: str, total: int | None, option: ProgressOption) -> Tracker | None:
    """A tracker when anything would be reported (a callback or a bar), else None (no cost)."""
    if option is False or (option is None and not _want_bar(None)):
        return None
    return Tracker(label, total, option)
