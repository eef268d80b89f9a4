"""Call an `@infer` function (or any async callable) from a composition primitive.

Like a plain call it honours `stub`/`use_model` routing and `given` checks, and it can add
what a plain call cannot: extra prompt sections, extra OPAQUE data (sent as the JSON
attachment through the normal prompt compiler, never inline), and trace `meta`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from stratum._compose import run_composed
from stratum._decorators import InferFunction
from stratum._executor import check_given
from stratum._infer_spec import InferSpec
from stratum._invoke import run_stub
from stratum._routing import route_for

__all__ = ("attach", "call_infer", "invoke")


def attach(spec: InferSpec, bound: Mapping[str, Any], extra: Mapping[str, Any]) -> tuple[InferSpec, dict[str, Any]]:
    """`spec` and `bound` with `extra` added as opaque inputs (renamed if a parameter has the name)."""
    if not extra:
        return spec, dict(bound)
    full = dict(bound)
    names: set[str] = set()
    for name, value in extra.items():
        key = name
        while key in full:
            key = f"_{key}"
        full[key] = value
        names.add(key)
    return replace(spec, opaque_params=spec.opaque_params | names), full


async def call_infer(
    fn: InferFunction[..., Any],
    bound: Mapping[str, Any],
    *,
    override: Any = None,
    extra_sections: tuple[str, ...] = (),
    extra_opaque: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Any:
    """One call of `fn` with routing, `given` checks, and the extras; `override` is a fallback model."""
    stub, routed = route_for(fn)
    if stub is not None:
        return await run_stub(fn.spec, stub, bound)
    check_given(fn.spec, bound)
    spec, full = attach(fn.spec, bound, extra_opaque or {})
    return await run_composed(
        spec, full, routed if routed is not None else override, extra_sections=extra_sections, meta=meta
    )


async def invoke(
    fn: Any,
    kwargs: Mapping[str, Any],
    *,
    extra_sections: tuple[str, ...] = (),
    extra_opaque: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Any:
    """Call `fn(**kwargs)`; `@infer` functions also get the extras (plain callables cannot)."""
    if isinstance(fn, InferFunction):
        infer_fn: InferFunction[..., Any] = fn  # pyright: ignore[reportUnknownVariableType]
        bound = infer_fn.spec.bind((), kwargs)
        custom = getattr(infer_fn, "_invoke_with", None)
        if custom is not None:  # @refine: its own loop, same extras
            return await custom(bound, extra_sections=extra_sections, extra_opaque=extra_opaque, meta=meta)
        return await call_infer(infer_fn, bound, extra_sections=extra_sections, extra_opaque=extra_opaque, meta=meta)
    result = fn(**kwargs)
    return await result if inspect.isawaitable(result) else result
