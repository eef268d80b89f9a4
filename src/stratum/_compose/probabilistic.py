"""`Probabilistic[T]`: the result of an `@infer(stable=False)` call."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Generic, TypeVar

from stratum._util.jsonable import canonical_key
from stratum.exceptions import StabilityAssertionError

__all__ = ("Probabilistic",)

T = TypeVar("T")


class Probabilistic(Generic[T]):
    """One or more samples of a non-deterministic result.

    In production there is one sample; in test mode (`configure(test_mode=True)`) the call is
    sampled `sample_n` times. Agreement compares the `agree_on` field (or the declared key
    fields) of each sample, not the whole value.
    """

    __slots__ = ("_fields", "_rng", "_samples")

    def __init__(self, samples: Sequence[T], *, key_fields: Sequence[str] = (), seed: int | None = None) -> None:
        if not samples:
            raise ValueError("Probabilistic needs at least one sample")
        self._samples: list[T] = list(samples)
        self._fields: tuple[str, ...] = tuple(key_fields)
        self._rng = random.Random(seed)

    @property
    def samples(self) -> list[T]:
        """Every sample, in the order they were drawn."""
        return list(self._samples)

    def _groups(self) -> tuple[str, int]:
        counts = Counter(canonical_key(s, self._fields) for s in self._samples)
        key, count = counts.most_common(1)[0]
        return key, count

    def most_likely(self) -> T:
        """The modal sample (the first drawn among ties). Never raises."""
        key, _ = self._groups()
        return next(s for s in self._samples if canonical_key(s, self._fields) == key)

    def sample(self) -> T:
        """A random sample (the only one in production)."""
        return self._rng.choice(self._samples)

    def agreement(self) -> float:
        """Fraction of samples that match the modal value on the key fields."""
        _, count = self._groups()
        return count / len(self._samples)

    def assert_stable(self, threshold: float = 0.9) -> T:
        """Return the modal value, or raise `StabilityAssertionError` below `threshold` agreement."""
        agreement = self.agreement()
        if agreement < threshold:
            raise StabilityAssertionError(
                f"only {agreement:.0%} of {len(self._samples)} samples agree (threshold {threshold:.0%}); "
                "tighten the intent or ensure, or accept the variance with most_likely()",
                agreement=agreement,
                threshold=threshold,
            )
        return self.most_likely()

    def __repr__(self) -> str:
        return f"Probabilistic({len(self._samples)} samples, agreement={self.agreement():.2f})"
