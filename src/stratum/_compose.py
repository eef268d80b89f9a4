"""Composition options of one `@infer` declaration: cache, quorum, sampling (stable=False)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stratum._executor import execute
from stratum._infer_spec import InferSpec
from stratum._probabilistic import Probabilistic

__all__ = ("run_composed",)


async def run_composed(spec: InferSpec, bound: Mapping[str, Any], override: Any) -> Any:
    """Run a call whose declaration uses cache=, quorum= or stable=False."""
    if not spec.stable:
        value = await execute(spec, bound, override=override)
        return Probabilistic([value], key_fields=(spec.agree_on,) if spec.agree_on else ())
    return await execute(spec, bound, override=override)
