"""The Stratum pytest plugin (auto-loaded through the `pytest11` entry point).

For every test:

- real provider requests raise `NetworkBlockedError` (loopback stays allowed); opt out with
  `@pytest.mark.stratum_allow_network`;
- `@pytest.mark.stratum_cassette` (optional path, `record_mode=`, `allow_unplayed=`) replays
  a cassette; the default path is `<test file's folder>/cassettes/<test module>/<test name>.yaml`
  (so `tests/test_app.py::test_x` uses `tests/cassettes/test_app/test_x.yaml`); a relative
  path is taken from the test file's folder. `--stratum-record-mode` (none|once|new|all)
  overrides every marker; while a cassette records, the network is open for that test;
- the `stratum_records` fixture is the live list of trace records made during the test;
- Stratum's context (settings from `configure`, model routing, interceptors, the trace store,
  built-in provider clients) is reset, so nothing a test sets leaks into the next one.

The context is entered *inside* the test function: the anyio plugin runs every async test in
one long-lived runner task, so a context variable set around the test from outside would not
reach it, and one set inside a test would leak into the next.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable, Generator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stratum._runtime import context as _context
from stratum._runtime.config import Settings, current_settings
from stratum._runtime.routing import Routing
from stratum.providers._intercept import Interceptor
from stratum.providers._registry import ProviderRegistry
from stratum.testing._cassette import Cassette
from stratum.testing._network import block_network
from stratum.testing._records import LiveStore
from stratum.trace import MemorySink, TraceRecord, TraceSink

__all__ = ("stratum_cassette", "stratum_records")

_RECORD_MODES = ("none", "once", "new", "all")
_KEY_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GROQ_API_KEY",
    "OPENROUTER_API_KEY",
    "DEEPSEEK_API_KEY",
    "TOGETHER_API_KEY",
)
PLACEHOLDER_KEY = "stratum-cassette-replay"
"""The key a replaying test gets for providers whose key is unset (CI has no real keys)."""
_STORE = pytest.StashKey[LiveStore]()
_CASSETTE = pytest.StashKey["Cassette | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add `--stratum-record-mode`."""
    group = parser.getgroup("stratum", "Stratum (LLM testing)")
    group.addoption(
        "--stratum-record-mode",
        choices=_RECORD_MODES,
        default=None,
        help="record mode for every @pytest.mark.stratum_cassette test: none (replay only, the default), "
        "once (record missing cassettes), new (record unmatched requests), all (re-record everything)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers (so `--strict-markers` accepts them)."""
    config.addinivalue_line(
        "markers",
        "stratum_cassette(path=None, *, record_mode=None, allow_unplayed=True): replay provider HTTP traffic "
        "from a cassette (default tests/cassettes/<module>/<test>.yaml next to the test file)",
    )
    config.addinivalue_line(
        "markers", "stratum_allow_network: let this test make real provider requests (blocked by default)"
    )


def _store(item: pytest.Item) -> LiveStore:
    store = item.stash.get(_STORE, None)
    if store is None:
        store = item.stash[_STORE] = LiveStore()
    return store


def default_cassette_path(item: pytest.Item) -> Path:
    """`<test file's folder>/cassettes/<module>/<test name>.yaml`."""
    module = Path(str(item.path))
    name = re.sub(r"[^\w.\[\]=,+-]", "_", item.name)
    return module.parent / "cassettes" / module.stem / f"{name}.yaml"


def _cassette(item: pytest.Item) -> Cassette | None:
    if _CASSETTE in item.stash:
        return item.stash[_CASSETTE]
    marker = item.get_closest_marker("stratum_cassette")
    found: Cassette | None = None
    if marker is not None:
        raw = marker.args[0] if marker.args else marker.kwargs.get("path")
        if raw is None:
            path = default_cassette_path(item)
        else:
            path = Path(str(raw))
            path = path if path.is_absolute() else Path(str(item.path)).parent / path
        option: str | None = item.config.getoption("--stratum-record-mode", None)
        mode = option or marker.kwargs.get("record_mode") or "none"
        found = Cassette(
            path,
            record_mode=str(mode),
            allow_unplayed=bool(marker.kwargs.get("allow_unplayed", True)),
            allow_playback_repeats=bool(marker.kwargs.get("allow_playback_repeats", False)),
        )
    item.stash[_CASSETTE] = found
    return found


@pytest.fixture
def stratum_records(request: pytest.FixtureRequest) -> list[TraceRecord]:
    """The live list of trace records made during the test (it grows as calls finish)."""
    return _store(request.node).live


@pytest.fixture
def stratum_cassette(request: pytest.FixtureRequest) -> Cassette | None:
    """The test's cassette (from `@pytest.mark.stratum_cassette`), or None without the marker."""
    return _cassette(request.node)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Stratum's context as the fixtures left it, re-entered inside the test."""

    settings: Settings
    routing: Routing | None
    interceptors: tuple[Interceptor, ...]
    trace_store: MemorySink | None
    trace_sinks: tuple[TraceSink, ...]
    cache_path: Path | None


def _network_open(item: pytest.Item, found: Cassette | None) -> bool:
    if item.get_closest_marker("stratum_allow_network") is not None:
        return True
    if found is None:
        return False
    mode = found.record_mode
    return mode in ("new", "all") or (mode == "once" and not found.path.exists())


@contextmanager
def _test_scope(item: pytest.Item, snapshot: _Snapshot) -> Generator[None, None, None]:
    found = _cassette(item)
    store = _store(item)
    store.forward = snapshot.trace_store
    with ExitStack() as stack:
        # Every Stratum variable is set here; a fresh provider registry, because built-in
        # providers read their keys from the environment the test may change.
        stack.enter_context(
            _context.fresh_scope(
                settings=snapshot.settings,
                routing=snapshot.routing,
                interceptors=snapshot.interceptors,
                trace_store=store,
                trace_sinks=snapshot.trace_sinks,
                cache_path=snapshot.cache_path,
                provider_registry=ProviderRegistry(),
            )
        )
        if not _network_open(item, found):
            stack.enter_context(block_network())
        if found is not None:
            stack.enter_context(found)
        yield


def _wrap(fn: Callable[..., Any], scope: Callable[[], Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with scope():
                return await fn(*args, **kwargs)

        return run_async

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with scope():
            return fn(*args, **kwargs)

    return run


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Run the test inside a fresh Stratum scope (entered in the test's own task)."""
    if not isinstance(item, pytest.Function):
        return (yield)
    snapshot = _Snapshot(
        current_settings(),
        _context.current_routing(),
        _context.current_interceptors(),
        _context.current_trace_store(),
        _context.current_trace_sinks(),
        _context.current_cache_path(),
    )

    def scope() -> Any:
        return _test_scope(item, snapshot)

    original = item.obj
    found = _cassette(item)
    if found is not None and not _network_open(item, found):
        # Replays need no key, but the built-in providers refuse to start without one.
        with pytest.MonkeyPatch.context() as patch:
            for var in _KEY_VARS:
                if not os.environ.get(var):
                    patch.setenv(var, PLACEHOLDER_KEY)
            return (yield from _run(item, original, scope))
    return (yield from _run(item, original, scope))


def _run(item: pytest.Function, original: Any, scope: Callable[[], Any]) -> Generator[None, Any, Any]:
    if hasattr(original, "hypothesis") or not callable(original):
        # Hypothesis owns the call: enter the scope around it (fine for sync tests and
        # pytest-asyncio; under the anyio plugin such async tests see the outer context).
        with scope():
            return (yield)
    item.obj = _wrap(original, scope)
    try:
        return (yield)
    finally:
        item.obj = original
