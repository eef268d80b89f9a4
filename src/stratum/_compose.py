"""Composition options of one `@infer` declaration: cache, quorum, sampling (`stable=False`).

Order, outermost first: sampling (test mode only) → cache → quorum → the attempt loop. Each
layer draws from the current envelope; when the declaration has its own `budget`, quorum
members and samples share ONE envelope built from it (one reservation pool for the whole call).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel

from stratum import _context
from stratum._budget import Envelope
from stratum._cache import cache_key, global_get, global_put, is_missing
from stratum._compiler import _jsonable  # pyright: ignore[reportPrivateUsage]
from stratum._config import current_settings
from stratum._ensure import run_ensure
from stratum._executor import execute, record_call, resolve_for
from stratum._group import Group, group
from stratum._infer_spec import InferSpec
from stratum._parallel import Failure, Success
from stratum._probabilistic import Probabilistic
from stratum.exceptions import (
    ConsensusFailure,
    ContentFilterError,
    ParseFailure,
    PostconditionFailed,
    RefusalError,
    StratumError,
)

__all__ = ("agreement_key", "gather", "labels", "pooled", "run_composed")

T = TypeVar("T")

_MEMBER_FAILURES = (PostconditionFailed, ParseFailure, RefusalError, ContentFilterError)
"""Errors that make a quorum member disagree instead of failing the whole call."""


def agreement_key(value: Any, field: str | None) -> str:
    """Canonical JSON of `value`'s `field` (or of the whole value when `field` is None)."""
    picked: Any = value
    if field is not None:
        if isinstance(value, BaseModel):
            picked = getattr(value, field, value)
        elif isinstance(value, Mapping):
            picked = value.get(field, value)  # pyright: ignore[reportUnknownMemberType,reportUnknownVariableType]
    return json.dumps(_jsonable(picked), sort_keys=True, default=str)


async def gather(
    thunks: Sequence[Callable[[], Awaitable[T]]], *, fatal: Callable[[Exception], bool]
) -> list[Success[T] | Failure]:
    """Run every thunk concurrently; a `fatal` failure cancels the rest and is re-raised as itself."""
    outcomes: list[Success[T] | Failure | None] = [None] * len(thunks)
    stop: list[Exception] = []
    async with anyio.create_task_group() as tg:

        async def one(index: int, thunk: Callable[[], Awaitable[T]]) -> None:
            try:
                outcomes[index] = Success(await thunk())
            except Exception as exc:  # noqa: BLE001 - cancellation (BaseException) must pass
                outcomes[index] = Failure(exc)
                if fatal(exc) and not stop:
                    stop.append(exc)
                    tg.cancel_scope.cancel()

        for index, thunk in enumerate(thunks):
            tg.start_soon(one, index, thunk)
    if stop:
        raise stop[0]
    return [o for o in outcomes if o is not None]


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


def labels(spec: InferSpec, override: Any) -> tuple[str, str]:
    try:
        resolved = resolve_for(spec, override)
    except StratumError:
        return "", ""
    return resolved.label, resolved.provider_name


def spec_group(spec: InferSpec, bound: Mapping[str, Any], override: Any, meta: Mapping[str, Any]) -> AbstractContextManager[Group]:
    """The parent record of one composed call of `spec` (members link to it by `parent_id`)."""
    label, provider = labels(spec, override)
    return group(
        spec.qualname,
        meta=meta,
        bound=bound,
        opaque=spec.opaque_params,
        model=label,
        provider=provider,
        contract_hash=spec.output.hash,
    )


async def _quorum(
    spec: InferSpec, bound: Mapping[str, Any], override: Any, extra_sections: tuple[str, ...], meta: Mapping[str, Any]
) -> Any:
    size, need, field = spec.quorum or 0, spec.threshold or 0, spec.agree_on
    info = {**meta, "kind": "quorum", "quorum": size, "threshold": need, "agree_on": field}
    with (
        spec_group(spec, bound, override, info) as parent,
        pooled(spec) as member,
    ):
        thunks = [
            (lambda i=i: execute(member, bound, override=override, extra_sections=extra_sections, meta={"kind": "quorum", "member": i}))
            for i in range(size)
        ]
        outcomes = await gather(thunks, fatal=lambda exc: not isinstance(exc, _MEMBER_FAILURES))
        votes: dict[str, list[int]] = {}
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, Success):
                votes.setdefault(agreement_key(outcome.value, field), []).append(index)
        parent.meta["votes"] = {key: len(members) for key, members in votes.items()}
        no_votes: list[int] = []
        agreeing = max(votes.values(), key=len, default=no_votes)
        if len(agreeing) < need:
            shown = ", ".join(f"{k}×{len(v)}" for k, v in votes.items()) or "no valid output"
            raise ConsensusFailure(
                f"{spec.qualname}: quorum of {size} did not reach {need} agreeing on {field!r} ({shown}); "
                "inspect .outputs, lower threshold=, or make the intent less ambiguous",
                outputs=[o.value if isinstance(o, Success) else o.error for o in outcomes],
            )

        def confidence(index: int) -> float:
            value = getattr(outcomes[index], "value", None)
            score = getattr(value, "confidence", None)
            return float(score) if isinstance(score, int | float) and not isinstance(score, bool) else float("-inf")

        # Highest confidence among the agreeing members; the first of them on a tie (or without one).
        winner = max(agreeing, key=lambda i: (confidence(i), -i))
        parent.meta["winner"] = winner
        parent.meta["agreed"] = len(agreeing)
        value = outcomes[winner]
        assert isinstance(value, Success)
        parent.output = value.value
        return value.value


async def _once(
    spec: InferSpec, bound: Mapping[str, Any], override: Any, extra_sections: tuple[str, ...], meta: Mapping[str, Any]
) -> Any:
    if spec.quorum is not None:
        return await _quorum(spec, bound, override, extra_sections, meta)
    return await execute(spec, bound, override=override, extra_sections=extra_sections, meta=meta)


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
            record_call(
                function=spec.qualname,
                model=resolved.label,
                provider=resolved.provider_name,
                bound=bound,
                opaque=spec.opaque_params,
                output=found,
                status="ok",
                prompt_hash=prompt.hash,
                contract_hash=spec.output.hash,
                cache_hit=True,
                meta={**meta, "cache": scope},
            )
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
        spec_group(spec, bound, override, {**meta, "kind": "sample", "samples": n, "agree_on": spec.agree_on}) as parent,
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
