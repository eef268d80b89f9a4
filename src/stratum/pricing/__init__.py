"""Prices and token estimates: what a call costs and what it may cost at worst.

Public: `Price`, `price_of`, `cost`, `estimate`, `Estimate`.
"""

from __future__ import annotations

from stratum.pricing._estimate import Estimate, estimate
from stratum.pricing._price import Price
from stratum.pricing._resolve import cost, price_of

__all__ = ("Estimate", "Price", "cost", "estimate", "price_of")

for _obj in (Estimate, Price):
    _obj.__module__ = __name__
