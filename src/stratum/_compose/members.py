"""How the members of a composed call run: under one envelope, below one parent record, and
through the same door as any call (`stratum._runtime.call`)."""

from __future__ import annotations

import inspect
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from stratum._runtime import call as _call
from stratum._runtime import context as _context
from stratum._runtime.attempts import resolve_for
from stratum._runtime.budget import Envelope
from stratum._runtime.decorators import InferFunction
from stratum._runtime.recording import Recording, parent_recording
from stratum._runtime.spec import InferSpec
from stratum.exceptions import StratumError

__all__ = ("call_member", "pooled", "spec_parent")


@contextmanager
def pooled(spec: InferSpec) -> Generator[InferSpec, None, None]:
    """One envelope for a whole composed call: members run under it with no budget of their own."""
    if spec.budget is None:
        yield spec
        return
    parent = _context.current_envelope()
    env = Envelope(spec.budget, parent, flow_id=parent.flow_id if parent is not None else None)
    with _context.in_envelope(env):
        yield replace(spec, budget=None)


def spec_parent(spec: InferSpec, bound: Mapping[str, Any], model: Any, meta: Mapping[str, Any]) -> Recording:
    """The parent record of one composed call of `spec` (members link to it by `parent_id`)."""
    try:
        resolved = resolve_for(spec, model)
        label, provider = resolved.label, resolved.provider_name
    except StratumError:  # the members' own records say what is wrong
        label = provider = ""
    return parent_recording(
        spec.qualname,
        meta=meta,
        bound=bound,
        opaque=spec.opaque_params,
        model=label,
        provider=provider,
        contract_hash=spec.output.hash,
    )


async def call_member(
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
        return await _call.call(infer_fn, bound, extra_sections=extra_sections, extra_opaque=extra_opaque, meta=meta)
    result = fn(**kwargs)
    return await result if inspect.isawaitable(result) else result
