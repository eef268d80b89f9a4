"""Price lookup in the bundled catalog (genai-prices)."""

from __future__ import annotations

from stratum.pricing._price import Price

__all__ = ("catalog_price",)


def catalog_price(provider: str, model: str) -> Price | None:
    """The catalog price of `model` at `provider`, or None when the catalog has no row."""
    del provider, model
    return None
