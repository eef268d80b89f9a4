"""From a bound call to a result: stubs, then composition (cache, quorum, sampling), then the loop."""

from __future__ import annotations

import datetime as dt
import inspect
import time
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from stratum._contracts import _violations  # pyright: ignore[reportPrivateUsage]
from stratum._executor import execute, record_call, status_of
from stratum._infer_spec import InferSpec
from stratum._routing import StubRoute
from stratum.trace._records import Status
from stratum.exceptions import ParseFailure, ScriptExhaustedError

__all__ = ("dispatch", "run_stub")


async def dispatch(spec: InferSpec, bound: Mapping[str, Any], override: Any) -> Any:
    """Run one call, applying the declaration's composition options."""
    if spec.cache != "none" or spec.quorum is not None or not spec.stable:
        from stratum._compose import run_composed

        return await run_composed(spec, bound, override)
    return await execute(spec, bound, override=override)


def _stub_value(spec: InferSpec, stub: StubRoute, bound: Mapping[str, Any]) -> Any:
    if stub.sequence is not None:
        index = len(stub.calls) - 1
        if index >= len(stub.sequence):
            raise ScriptExhaustedError(
                f"stub for {spec.qualname} has {len(stub.sequence)} return value(s) and was called "
                f"{index + 1} times; add values to returns=[...] or use impl="
            )
        return stub.sequence[index]
    return stub.returns


async def run_stub(spec: InferSpec, stub: StubRoute, bound: Mapping[str, Any]) -> Any:
    """Answer a stubbed call without any model; the value is still validated and traced."""
    started_at, started = dt.datetime.now(dt.UTC), time.monotonic()
    output: Any = None
    stub.calls.append(dict(bound))
    status: Status = "failed"
    error: BaseException | None = None
    try:
        if stub.impl is not None:
            value = stub.impl(**bound)
            if inspect.isawaitable(value):
                value = await value
        else:
            value = _stub_value(spec, stub, bound)
        if isinstance(value, BaseException):
            raise value
        try:
            result = spec.output.adapter.validate_python(value)
        except ValidationError as exc:
            raise ParseFailure(
                f"stub for {spec.qualname} returned a value that does not match {spec.output.name}: "
                f"{'; '.join(_violations(exc))}; fix the stub's returns=/impl=",
                function=spec.qualname,
                raw_output=repr(value),
                violations=_violations(exc),
                retry_history=(),
            ) from None
        output = result
        status = "ok"
        return result
    except BaseException as exc:
        error = exc
        status = status_of(exc)  # a cancelled stub is recorded as cancelled, like a model call
        raise
    finally:
        record_call(
            function=spec.qualname,
            model="stub",
            bound=bound,
            opaque=spec.opaque_params,
            output=output,
            status=status,
            error=error,
            contract_hash=spec.output.hash,
            started_at=started_at,
            started=started,
        )
