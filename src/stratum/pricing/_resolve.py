"""Find the price of a model: configured overrides, the provider's own price, the catalog."""

from __future__ import annotations

from decimal import Decimal

from stratum._runtime.config import current_settings
from stratum._runtime.model import Usage
from stratum.pricing._catalog import catalog_price
from stratum.pricing._price import Price

__all__ = ("cost", "price_of", "resolve_price")


def _split(model: str) -> tuple[str, str]:
    provider, sep, name = model.partition(":")
    if not sep:
        return "", model
    return provider, name


def price_of(model: str) -> Price | None:
    """The price of `"provider:model"`, or None when no price is known.

    Order: a `configure(prices=...)` override for the exact string, the genai-prices catalog,
    then a per-provider default configured as `"provider:*"` (e.g. `"ollama:*": Price(0, 0)`).

    Example:
        ```python
        price_of("openai:gpt-4o-2024-08-06").input_per_mtok   # Decimal('2.5')
        ```
    """
    prices = current_settings().prices
    override = prices.get(model)
    if override is not None:
        return override
    provider, name = _split(model)
    found = catalog_price(provider, name)
    if found is not None:
        return found
    return prices.get(f"{provider}:*") if provider else None


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
    """The price used to meter a call.

    Order: an override for the model string used in `@infer` (`label`), the provider object's
    own `price`, then the catalog for the model id the provider returned, then the one asked for.
    """
    prices = current_settings().prices
    override = prices.get(label)
    if override is not None:
        return override
    own: Price | None = getattr(provider, "price", None)  # a provider may declare its own price
    if own is not None:
        return own
    default = prices.get(f"{provider_name}:*")
    # A provider registered under a name of the user's (`configure(providers={"work": OpenAI()})`)
    # still prices as what it is: try its own name after the one in the model string.
    own_name: str = getattr(provider, "name", provider_name)
    for catalog_name in (provider_name, own_name) if own_name != provider_name else (provider_name,):
        for model in (returned_model, model_name):
            if model:
                found = catalog_price(catalog_name, model)
                if found is not None:
                    return found
    return default
