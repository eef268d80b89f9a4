"""Every ContextVar Stratum uses. Private: reached only through the context managers here.

Child tasks copy the context, so concurrent calls inside one flow all see the same flow run
and the same envelope objects; those objects do their own locking.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from stratum._runtime.budget import Envelope
    from stratum._runtime.config import Settings
    from stratum._runtime.flows import FlowRun
    from stratum._runtime.routing import Routing
    from stratum.providers._intercept import Interceptor
    from stratum.providers._registry import ProviderRegistry
    from stratum.trace import MemorySink, TraceSink

T = TypeVar("T")

_settings: ContextVar[Settings | None] = ContextVar("stratum.settings", default=None)
_flow: ContextVar[FlowRun | None] = ContextVar("stratum.flow", default=None)
_envelope: ContextVar[Envelope | None] = ContextVar("stratum.envelope", default=None)
_routing: ContextVar[Routing | None] = ContextVar("stratum.routing", default=None)
_interceptors: ContextVar[tuple[Interceptor, ...] | None] = ContextVar(
    "stratum.interceptors", default=None
)
_trace_store: ContextVar[MemorySink | None] = ContextVar("stratum.trace_store", default=None)
_trace_sinks: ContextVar[tuple[TraceSink, ...]] = ContextVar("stratum.trace_sinks", default=())
_parent_record: ContextVar[str | None] = ContextVar("stratum.parent_record", default=None)
_cache_path: ContextVar[Path | None] = ContextVar("stratum.cache_path", default=None)
_provider_registry: ContextVar[ProviderRegistry | None] = ContextVar("stratum.provider_registry", default=None)


@contextmanager
def _bound(var: ContextVar[T], value: T) -> Generator[T, None, None]:
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)


def settings_var() -> ContextVar[Settings | None]:
    """The settings variable (for `configure`, which manages its own token)."""
    return _settings


def current_settings_or_none() -> Settings | None:
    return _settings.get()


def current_flow() -> FlowRun | None:
    return _flow.get()


def in_flow(run: FlowRun | None) -> AbstractContextManager[FlowRun | None]:
    return _bound(_flow, run)


def current_envelope() -> Envelope | None:
    return _envelope.get()


def in_envelope(envelope: Envelope | None) -> AbstractContextManager[Envelope | None]:
    return _bound(_envelope, envelope)


def current_routing() -> Routing | None:
    return _routing.get()


def routed(routing: Routing | None) -> AbstractContextManager[Routing | None]:
    return _bound(_routing, routing)


def current_interceptors() -> tuple[Interceptor, ...]:
    return _interceptors.get() or ()


def intercepting(
    interceptors: tuple[Interceptor, ...] | None,
) -> AbstractContextManager[tuple[Interceptor, ...] | None]:
    return _bound(_interceptors, interceptors)


def current_trace_store() -> MemorySink | None:
    return _trace_store.get()


def storing_traces(store: MemorySink | None) -> AbstractContextManager[MemorySink | None]:
    return _bound(_trace_store, store)


def current_trace_sinks() -> tuple[TraceSink, ...]:
    """Sinks added for this context only (`stratum.trace.sinks(...)`), on top of configured ones."""
    return _trace_sinks.get()


def sending_traces(sinks: tuple[TraceSink, ...]) -> AbstractContextManager[tuple[TraceSink, ...]]:
    return _bound(_trace_sinks, sinks)


def current_parent_record() -> str | None:
    return _parent_record.get()


def under_record(record_id: str | None) -> AbstractContextManager[str | None]:
    return _bound(_parent_record, record_id)


def current_cache_path() -> Path | None:
    """The SQLite file of `cache="global"` chosen for this scope (`stratum.cache_store`), if any."""
    return _cache_path.get()


def caching_at(path: Path | None) -> AbstractContextManager[Path | None]:
    return _bound(_cache_path, path)


def current_provider_registry() -> ProviderRegistry | None:
    """The built-in provider instances of this scope (None: the process's)."""
    return _provider_registry.get()


def using_providers(registry: ProviderRegistry | None) -> AbstractContextManager[ProviderRegistry | None]:
    return _bound(_provider_registry, registry)


@contextmanager
def fresh_scope(
    *,
    settings: Settings | None,
    routing: Routing | None = None,
    interceptors: tuple[Interceptor, ...] | None = None,
    trace_store: MemorySink | None = None,
    trace_sinks: tuple[TraceSink, ...] = (),
    cache_path: Path | None = None,
    provider_registry: ProviderRegistry | None = None,
) -> Generator[None, None, None]:
    """Set EVERY variable here at once (a test's scope): no flow, envelope or parent record, and
    the given settings, routing, interceptors, trace store and sinks, cache path and providers.
    """
    with ExitStack() as stack:
        stack.enter_context(_bound(_settings, settings))
        stack.enter_context(_bound(_flow, None))
        stack.enter_context(_bound(_envelope, None))
        stack.enter_context(_bound(_routing, routing))
        stack.enter_context(_bound(_interceptors, interceptors))
        stack.enter_context(_bound(_trace_store, trace_store))
        stack.enter_context(_bound(_trace_sinks, trace_sinks))
        stack.enter_context(_bound(_parent_record, None))
        stack.enter_context(_bound(_cache_path, cache_path))
        stack.enter_context(_bound(_provider_registry, provider_registry))
        yield
