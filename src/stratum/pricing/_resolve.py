"""Find the price of a model: one lookup for `price_of`, `cost` and the metering of every call.

Order: a `configure(prices=...)` override for the model string, the provider object's own
`price`, the genai-prices catalog (for the model id the provider returned, then the one asked
for; under the model string's provider name, then the provider object's own name, so a
provider registered as `"work"` still prices as OpenAI), a `"provider:*"` default, and finally
zero for local servers (Ollama, vLLM, llama.cpp, LM Studio: your hardware, no bill).
"""

from __future__ import annotations

from decimal import Decimal

from stratum._runtime.config import current_settings
from stratum._runtime.model import Usage
from stratum._util.model_strings import is_local
from stratum.pricing._catalog import catalog_price
from stratum.pricing._price import FREE, Price

__all__ = ("cost", "price_of", "resolve_price")


def price_of(model: str) -> Price | None:
    """The price of `"provider:model"`, or None when no price is known.

    Resolved exactly as a call with `@infer(model=model)` is metered: an override for the exact
    string, the configured provider's own price, the genai-prices catalog, a `"provider:*"`
    default (e.g. `"openai:*": Price(...)`), and zero for local servers (`"ollama:..."`...).

    Example:
        ```python
        price_of("openai:gpt-4o-2024-08-06").input_per_mtok   # Decimal('2.5')
        ```

    Raises:
        ConfigurationError: `model` is not a model string (e.g. a bare `"gpt-4o"`).
    """
    from stratum.providers._registry import provider_named, split_model_string

    settings = current_settings()
    override = settings.prices.get(model)
    if override is not None:
        return override
    provider_name, name = split_model_string(model)
    return resolve_price(f"{provider_name}:{name}", provider_named(provider_name), provider_name, name)


def cost(usage: Usage, model: str) -> Decimal | None:
    """USD cost of `usage` on `"provider:model"`, or None when its price is unknown.

    Catalog models are priced exactly as genai-prices prices them (prompt-size tiers
    included); `usage.input_tokens` includes cached reads and cache writes.

    Example:
        ```python
        cost(Usage(input_tokens=71, output_tokens=12), "openai:gpt-4o")   # Decimal('0.0002975')
        ```
    """
    price = price_of(model)
    return None if price is None else price.cost(usage)


def resolve_price(
    label: str, provider: object, provider_name: str, model_name: str, returned_model: str | None = None
) -> Price | None:
    """The price used to meter a call (`label` is the `"provider:model"` string it was made with)."""
    prices = current_settings().prices
    override = prices.get(label)
    if override is not None:
        return override
    own: Price | None = getattr(provider, "price", None)  # a provider may declare its own price
    if own is not None:
        return own
    own_name: str = getattr(provider, "name", provider_name)
    names = (provider_name, own_name) if own_name != provider_name else (provider_name,)
    for catalog_name in names:
        for model in (returned_model, model_name):
            if model:
                found = catalog_price(catalog_name, model)
                if found is not None:
                    return found
    default = prices.get(f"{provider_name}:*")
    if default is not None:
        return default
    return FREE if is_local(provider_name) else None
