"""The only way into an `@infer` call: route → stub or `given` → compose or attempt → record.

`start` is what calling an `@infer` function does; `call` is the same path with what composition
primitives add (a fallback model, extra prompt sections, extra OPAQUE data sent as the JSON
attachment through the normal prompt compiler, never inline, and trace `meta`). Both read the
routing (`stub`, `use_model`) when the function is called, like every setting.

What runs once a call is routed and its inputs checked is the function's own `run` step: the
attempt loop, the composition options of its declaration (cache, quorum, sampling), or for
`@refine` its convergence loop.
"""

from __future__ import annotations

import inspect
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from stratum._runtime.attempts import run_attempts
from stratum._runtime.checks import run_given
from stratum._runtime.contracts import validation_violations
from stratum._runtime.recording import recording
from stratum._runtime.routing import StubRoute, route_for
from stratum._runtime.spec import InferSpec
from stratum.exceptions import ConfigurationError, ParseFailure, PreconditionFailed, ScriptExhaustedError

if TYPE_CHECKING:
    from stratum._compose.outcomes import Failure, Success
    from stratum._compose.progress import ProgressOption
    from stratum._runtime.batch import BatchRetry
    from stratum._runtime.decorators import InferFunction
    from stratum._runtime.streaming import InferStream

__all__ = ("attach", "batch", "call", "check_given", "open_stream", "run_stub", "start")


def start(fn: InferFunction[..., Any], bound: dict[str, Any]) -> Coroutine[Any, Any, Any]:
    """The coroutine of one plain call of `fn` with its bound arguments.

    A call with no stub, no `given` and no composition is the attempt loop itself (the hot path).
    """
    stub, model = route_for(fn)
    if stub is None and fn.is_plain:
        return run_attempts(fn.spec, bound, model)
    return call(fn, bound)


async def call(
    fn: InferFunction[..., Any],
    bound: Mapping[str, Any],
    *,
    model: Any = None,
    extra_sections: tuple[str, ...] = (),
    extra_opaque: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Any:
    """One call of `fn`: routing, stubs, `given`, then its run step; `model` is a fallback model."""
    stub, routed = route_for(fn)
    if stub is not None:
        return await run_stub(fn.spec, stub, bound)
    check_given(fn.spec, bound)
    spec, full = attach(fn.spec, bound, extra_opaque or {})
    return await fn.run(spec, full, routed if routed is not None else model, extra_sections, meta)


def open_stream(fn: InferFunction[..., Any], bound: dict[str, Any]) -> InferStream[Any]:
    """A streamed call of `fn`: routing, stubs and `given` as for a plain call (see `streaming`)."""
    from stratum._runtime.decorators import InferFunction
    from stratum._runtime.streaming import InferStream

    stub, model = route_for(fn)
    if stub is not None:
        return InferStream(fn.spec, bound, stub=stub)
    own_run: Any = getattr(type(fn), "run")  # @refine and other subclasses run their own loop
    if fn.spec.composed or own_run is not vars(InferFunction)["run"]:
        raise ConfigurationError(
            f"{fn.spec.qualname}: cache=, quorum=, stable=False and @refine combine several calls into one "
            "result and cannot stream; call the function without .stream()"
        )
    check_given(fn.spec, bound)
    return InferStream(fn.spec, bound, model=model)


async def batch(
    fn: InferFunction[..., Any],
    inputs: Sequence[Mapping[str, Any]],
    *,
    retry: BatchRetry = "batch",
    poll_interval: float = 5.0,
    progress: ProgressOption = None,
) -> list[Success[Any] | Failure]:
    """Many calls of `fn`: the provider's batch API when it has one, else each call online.

    Each item is routed, checked and recorded like a call (see `stratum._runtime.batch`).
    """
    from stratum._compose.progress import tracker
    from stratum._runtime.batch import batch_calls

    report = tracker(f"{fn.spec.qualname}.batch", len(inputs), progress)
    if report is None:
        return await batch_calls(fn, inputs, retry=retry, poll_interval=poll_interval)
    with report:
        return await batch_calls(fn, inputs, retry=retry, poll_interval=poll_interval, progress=report.step)


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


def check_given(spec: InferSpec, bound: Mapping[str, Any]) -> None:
    """Raise `PreconditionFailed` (and record it) when a `given` check fails; no model is called."""
    for check in spec.givens:
        message = run_given(check, bound)
        if message is None:
            continue
        with recording(spec.qualname, bound=bound, opaque=spec.opaque_params, contract_hash=spec.output.hash):
            raise PreconditionFailed(
                f"{spec.qualname}: precondition failed: {message}; no model was called. "
                "Fix the inputs or relax the given check",
                function=spec.qualname,
                condition=check.source,
            )


def _scripted_value(spec: InferSpec, stub: StubRoute) -> Any:
    if stub.sequence is None:
        return stub.returns
    index = len(stub.calls) - 1
    if index >= len(stub.sequence):
        raise ScriptExhaustedError(
            f"stub for {spec.qualname} has {len(stub.sequence)} return value(s) and was called "
            f"{index + 1} times; add values to returns=[...] or use impl="
        )
    return stub.sequence[index]


async def run_stub(spec: InferSpec, stub: StubRoute, bound: Mapping[str, Any]) -> Any:
    """Answer a stubbed call without any model; the value is still validated and traced."""
    stub.calls.append(dict(bound))
    with recording(
        spec.qualname, bound=bound, model="stub", opaque=spec.opaque_params, contract_hash=spec.output.hash
    ) as rec:
        if stub.impl is not None:
            value = stub.impl(**bound)
            if inspect.isawaitable(value):
                value = await value
        else:
            value = _scripted_value(spec, stub)
        if isinstance(value, BaseException):
            raise value
        try:
            rec.output = spec.output.adapter.validate_python(value)
        except ValidationError as exc:
            violations = validation_violations(exc)
            raise ParseFailure(
                f"stub for {spec.qualname} returned a value that does not match {spec.output.name}: "
                f"{'; '.join(violations)}; fix the stub's returns=/impl=",
                function=spec.qualname,
                raw_output=repr(value),
                violations=violations,
                retry_history=(),
            ) from None
        return rec.output
