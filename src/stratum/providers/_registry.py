"""Model strings -> (provider object, model name).

`"provider:model"` splits on the first `:`. A string without `:` whose part before the first
`/` is a known provider is read LiteLLM-style (`"groq/llama-3.3-70b"`). Names configured with
`configure(providers=...)` win over the built-ins; built-ins are made on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stratum._config import current_settings
from stratum._model import Provider
from stratum.exceptions import ConfigurationError

__all__ = ("ResolvedModel", "builtin_factories", "resolve_model", "split_model_string")


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


def split_model_string(model: str) -> tuple[str, str]:
    """Split `"provider:model"` (or LiteLLM-style `"provider/model"`) into its parts."""
    provider, sep, name = model.partition(":")
    if sep and provider and name:
        return provider, name
    head, slash, rest = model.partition("/")
    if not sep and slash and rest:
        known = set(current_settings().providers) | set(builtin_factories())
        if head in known:
            return head, rest
    raise ConfigurationError(
        f"model string {model!r} has no provider; write 'provider:model', "
        "e.g. 'openai:gpt-4.1-mini', 'anthropic:claude-sonnet-4-5' or 'ollama:llama3.2'"
    )


def resolve_model(model: str | Provider) -> ResolvedModel:
    """Resolve a model string or a provider object."""
    if not isinstance(model, str):
        name = getattr(model, "model_name", None) or model.name
        return ResolvedModel(model, model.name, name, model.name if name == model.name else f"{model.name}:{name}")
    settings = current_settings()
    cached = settings.resolved_models.get(model)
    if cached is not None:
        return cached
    provider_name, name = split_model_string(model)
    provider = settings.providers.get(provider_name) or settings.builtin_providers.get(provider_name)
    if provider is None:
        factories = builtin_factories()
        factory = factories.get(provider_name)
        if factory is None:
            known = sorted({*settings.providers, *factories})
            raise ConfigurationError(
                f"unknown provider {provider_name!r} in model string {model!r}; known providers: "
                f"{', '.join(known) or 'none'}. Register yours with "
                f"stratum.configure(providers={{{provider_name!r}: OpenAICompatible(base_url=...)}})"
            )
        provider = factory()
        settings.builtin_providers[provider_name] = provider
    resolved = ResolvedModel(provider, provider_name, name, f"{provider_name}:{name}")
    settings.resolved_models[model] = resolved
    return resolved
