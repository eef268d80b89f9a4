"""Composition options of one `@infer` declaration: cache, quorum, sampling (`stable=False`).

Order, outermost first: sampling (test mode only) → cache → quorum → the attempt loop. Each
layer draws from the current envelope; when the declaration has its own `budget`, quorum
members and samples share ONE envelope built from it (one reservation pool for the whole call).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from stratum._compose.cache import cache_key, global_get, global_put, is_missing
from stratum._compose.members import pooled, spec_parent
from stratum._compose.outcomes import Success, gather
from stratum._compose.probabilistic import Probabilistic
from stratum._compose.quorum import run_quorum
from stratum._runtime import context as _context
from stratum._runtime.attempts import resolve_for, run_attempts
from stratum._runtime.checks import run_ensure
from stratum._runtime.config import current_settings
from stratum._runtime.recording import recording
from stratum._runtime.spec import InferSpec
from stratum.exceptions import StratumError

__all__ = ("run_composed",)


async def _once(
    spec: InferSpec, bound: Mapping[str, Any], override: Any, extra_sections: tuple[str, ...], meta: Mapping[str, Any]
) -> Any:
    if spec.quorum is not None:
        return await run_quorum(spec, bound, override, extra_sections, meta)
    return await run_attempts(spec, bound, override, extra_sections=extra_sections, meta=meta)


async def _cached(
    spec: InferSpec, bound: Mapping[str, Any], override: Any, extra_sections: tuple[str, ...], meta: Mapping[str, Any]
) -> Any:
    scope = spec.cache
    flow = _context.current_flow()
    if scope == "none" or (scope == "session" and flow is None):
        return await _once(spec, bound, override, extra_sections, meta)
    try:
        resolved = resolve_for(spec, override)
    except StratumError:
        return await _once(spec, bound, override, extra_sections, meta)  # the executor reports it
    prompt = spec.compile(bound, extra_sections)
    key = cache_key(spec, bound, model=resolved.label, prompt_hash=prompt.hash)
    found: Any
    if scope == "session":
        assert flow is not None
        hit = key in flow.session_cache
        found = flow.session_cache.get(key)
    else:
        found = await global_get(spec, key)
        hit = not is_missing(found)
    stale = False
    if hit:
        # A cached value must still satisfy today's ensure checks; one that fails is recomputed.
        if not any(run_ensure(check, found, bound) is not None for check in spec.ensures):
            with recording(
                spec.qualname,
                bound=bound,
                model=resolved.label,
                provider=resolved.provider_name,
                opaque=spec.opaque_params,
                contract_hash=spec.output.hash,
                meta={**meta, "cache": scope},
            ) as rec:
                rec.prompt_hash, rec.cache_hit, rec.output = prompt.hash, True, found
            return found
        stale = True
    value = await _once(spec, bound, override, extra_sections, {**meta, "cache": scope, **({"cache_stale": True} if stale else {})})
    if scope == "session":
        assert flow is not None
        flow.session_cache[key] = value
    else:
        await global_put(spec, key, value)
    return value


async def _sampled(
    spec: InferSpec, bound: Mapping[str, Any], override: Any, extra_sections: tuple[str, ...], meta: Mapping[str, Any], n: int
) -> list[Any]:
    with (
        spec_parent(spec, bound, override, {**meta, "kind": "sample", "samples": n, "agree_on": spec.agree_on}) as parent,
        pooled(spec) as member,
    ):
        # Samples skip the cache: n copies of one cached answer would measure nothing.
        uncached = replace(member, cache="none")
        thunks = [
            (lambda i=i: _once(uncached, bound, override, extra_sections, {"kind": "sample", "sample": i}))
            for i in range(n)
        ]
        outcomes = await gather(thunks, fatal=lambda exc: True)
        values = [o.value for o in outcomes if isinstance(o, Success)]
        parent.output = values
        return values


async def run_composed(
    spec: InferSpec,
    bound: Mapping[str, Any],
    override: Any,
    *,
    extra_sections: tuple[str, ...] = (),
    meta: Mapping[str, Any] | None = None,
) -> Any:
    """Run a call whose declaration uses cache=, quorum= or stable=False (or any plain call)."""
    info: Mapping[str, Any] = meta or {}
    if spec.stable:
        return await _cached(spec, bound, override, extra_sections, info)
    settings = current_settings()
    fields = (spec.agree_on,) if spec.agree_on else ()
    if settings.test_mode and settings.sample_n > 1:
        samples = await _sampled(spec, bound, override, extra_sections, info, settings.sample_n)
        return Probabilistic(samples, key_fields=fields)
    return Probabilistic([await _cached(spec, bound, override, extra_sections, info)], key_fields=fields)
