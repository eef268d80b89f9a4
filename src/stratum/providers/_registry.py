"""Model strings -> (provider object, model name).

Parsing lives in `stratum._util.model_strings`: `"provider:model"` splits on the first `:`; a
string without `:` whose part before the first `/` is a known provider is read LiteLLM-style
(`"groq/llama-3.3-70b"`). Names configured with
`configure(providers=...)` win over the built-ins; built-ins are made on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stratum._runtime import context as _context
from stratum._runtime.config import current_settings
from stratum._runtime.model import Provider
from stratum._util.model_strings import split_model_string as split
from stratum.exceptions import ConfigurationError

__all__ = (
    "ProviderRegistry",
    "ResolvedModel",
    "builtin_factories",
    "known_providers",
    "provider_named",
    "resolve_model",
    "split_model_string",
)


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A provider and the model name to ask it for; `label` is `"provider:model"` for traces."""

    provider: Provider
    provider_name: str
    model: str
    label: str


def builtin_factories() -> Mapping[str, Callable[[], Provider]]:
    """The built-in provider names and how to make each (imported lazily: they pull in httpx2)."""
    from stratum.providers._presets import BUILTIN_FACTORIES

    return BUILTIN_FACTORIES


def known_providers() -> frozenset[str]:
    """Every provider name a model string may use here: configured ones and the built-ins."""
    return frozenset(current_settings().providers) | frozenset(builtin_factories())


def _guess_provider(model: str) -> str | None:
    from stratum.pricing._catalog import guess_provider

    return guess_provider(model)


def split_model_string(model: str) -> tuple[str, str]:
    """Split `"provider:model"` (or LiteLLM-style `"provider/model"`) into its parts.

    Raises:
        ConfigurationError: naming what is missing (the provider or the model).
    """
    if ":" in model:  # the common case needs no provider list
        return split(model, (), guess=None)
    return split(model, known_providers(), guess=_guess_provider)


class ProviderRegistry:
    """Built-in providers made on first use (one pooled HTTP client each) and the model strings
    resolved to them. One per process, or one per scope (the pytest plugin gives each test its own)."""

    __slots__ = ("__weakref__", "_builtins", "_resolved")

    def __init__(self) -> None:
        self._builtins: dict[str, Provider] = {}
        self._resolved: dict[str, ResolvedModel] = {}

    def resolve(self, model: str, configured: Mapping[str, Provider]) -> ResolvedModel:
        """Resolve `model` with `configured` providers winning over the built-ins."""
        if not configured:
            cached = self._resolved.get(model)
            if cached is not None:
                return cached
        provider_name, name = split_model_string(model)
        provider = configured.get(provider_name)
        if provider is not None:
            return ResolvedModel(provider, provider_name, name, f"{provider_name}:{name}")
        resolved = self._resolved.get(model)
        if resolved is None:
            resolved = ResolvedModel(self._builtin(provider_name, model, configured), provider_name, name, f"{provider_name}:{name}")
            self._resolved[model] = resolved
        return resolved

    def made(self, provider_name: str) -> Provider | None:
        """The built-in provider of that name if it was made already (this never makes one)."""
        return self._builtins.get(provider_name)

    def _builtin(self, provider_name: str, model: str, configured: Mapping[str, Provider]) -> Provider:
        provider = self._builtins.get(provider_name)
        if provider is None:
            factories = builtin_factories()
            factory = factories.get(provider_name)
            if factory is None:
                known = sorted({*configured, *factories})
                raise ConfigurationError(
                    f"unknown provider {provider_name!r} in model string {model!r}; known providers: "
                    f"{', '.join(known) or 'none'}. Register yours with "
                    f"stratum.configure(providers={{{provider_name!r}: OpenAICompatible(base_url=...)}})"
                )
            provider = self._builtins[provider_name] = factory()
        return provider


@functools.cache
def _process_registry() -> ProviderRegistry:
    return ProviderRegistry()


def provider_named(provider_name: str) -> Provider | None:
    """The provider a model string's prefix names here, if it exists already (none is made)."""
    configured = current_settings().providers.get(provider_name)
    if configured is not None:
        return configured
    return (_context.current_provider_registry() or _process_registry()).made(provider_name)


def resolve_model(model: str | Provider) -> ResolvedModel:
    """Resolve a model string or a provider object."""
    if not isinstance(model, str):
        name = getattr(model, "model_name", None) or model.name
        return ResolvedModel(model, model.name, name, model.name if name == model.name else f"{model.name}:{name}")
    registry = _context.current_provider_registry() or _process_registry()
    return registry.resolve(model, current_settings().providers)
