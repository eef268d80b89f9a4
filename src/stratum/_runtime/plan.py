"""What a call needs to know about its model, worked out once and reused while nothing changes.

Resolving a model string (the provider, the model name, its label), finding its price (the
`configure(prices=...)` override, the provider's own, the bundled catalog) and reading the
provider's declarations are the same for every call of a function as long as the settings, the
provider registry of the scope and the chosen model are the same objects. Settings are never
mutated (`configure` replaces them), so those three identities are the whole key.

Each `@infer` function keeps its last plan in a `PlanSlot`; a call whose key matches reuses it,
any other call works it out again (and keeps that one). The slot holds the settings and the
registry weakly: a plan never keeps configured trace sinks or a test's providers alive.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stratum._runtime import context as _context
from stratum._runtime.config import current_settings
from stratum.exceptions import ConfigurationError
from stratum.pricing._estimate import SCHEMA_OVERHEAD_TOKENS
from stratum.pricing._resolve import resolve_price
from stratum.providers._registry import ResolvedModel, resolve_model

if TYPE_CHECKING:
    from stratum.pricing import Price

__all__ = ("ModelPlan", "PlanSlot")


@dataclass(frozen=True, slots=True)
class ModelPlan:
    """The resolved model of a call, its price, and what its provider declares."""

    resolved: ResolvedModel
    price: Price | None
    """The price a call is metered at (None: unknown)."""
    schema_overhead: int
    """Hidden tokens the provider may add to a structured-output request (for estimates)."""
    enforces_deadline: bool
    """The provider bounds every request phase by `call.timeout` itself (no extra scope needed)."""
    prompt_cache: bool
    """`configure(prompt_cache=...)`: mark the stable prefix cacheable unless `@infer` says."""

    @classmethod
    def of(cls, resolved: ResolvedModel) -> ModelPlan:
        """Work out the plan of an already resolved model (fallback chains resolve their own)."""
        provider = resolved.provider
        return cls(
            resolved,
            resolve_price(resolved.label, provider, resolved.provider_name, resolved.model),
            getattr(provider, "schema_overhead_tokens", SCHEMA_OVERHEAD_TOKENS),
            getattr(provider, "enforces_deadline", False),
            current_settings().prompt_cache,
        )


class PlanSlot:
    """One function's last plan and what it was worked out for (settings, registry, model)."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[weakref.ref[Any], weakref.ref[Any] | None, Any, ModelPlan] | None = None

    def get(self, qualname: str, declared: Any, routed: Any) -> ModelPlan:
        """The plan for a call: the `routed` model, else the `declared` one, else the default.

        Raises:
            ConfigurationError: when no model is chosen anywhere, or the model string is bad.
        """
        settings = current_settings()
        registry = _context.current_provider_registry()
        chosen = routed if routed is not None else declared
        if chosen is None:
            chosen = settings.default_model
        last = self._last  # one read: another thread may replace it meanwhile
        if (
            last is not None
            and last[0]() is settings
            and (registry is None if last[1] is None else last[1]() is registry)
            and last[2] == chosen
        ):
            return last[3]
        if chosen is None:
            raise ConfigurationError(
                f"{qualname}: no model to call; pass @infer(model='openai:gpt-4.1-mini'), set "
                "stratum.configure(default_model=...), or test offline with stratum.testing.use_model(...)"
            )
        plan = ModelPlan.of(resolve_model(chosen))
        self._last = (weakref.ref(settings), None if registry is None else weakref.ref(registry), chosen, plan)
        return plan
