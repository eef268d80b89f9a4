"""Fallback chains: `@infer(model=["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"])`.

The first model runs the whole attempt loop. When it ends with a provider fault (after the
provider's own fault retries: an HTTP error, a timeout, an unreadable reply), the next model
runs the attempt loop afresh, under the *same* envelope: the same deadline, the same usd and
tokens left, each attempt priced at the rate of the model that served it. Refusals and content
filters are answers, not faults, and a failed `ensure`, a parse failure or a budget stop is the
call's result: none of them moves on. The record lists every model string tried
(`models_tried`) and each attempt names its model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from stratum._runtime.config import current_settings
from stratum.exceptions import (
    ConfigurationError,
    ContentFilterError,
    ProviderError,
    RefusalError,
    StratumCompileError,
)

if TYPE_CHECKING:
    from stratum._runtime.budget import Envelope
    from stratum.providers._registry import ResolvedModel
    from stratum._runtime.recording import Recording
    from stratum._runtime.spec import InferSpec

__all__ = ("check_chain", "falls_back", "model_chain", "run_chain")


class _Loop(Protocol):
    env: Envelope | None

    async def run(self) -> Any: ...


def check_chain(model: Any, where: str) -> Any:
    """Validate `@infer(model=[...])` at decoration; a one-model list is that model."""
    if not isinstance(model, (list, tuple)):
        return model
    chain = cast(Sequence[Any], model)
    if not chain:
        raise StratumCompileError(
            f"{where}: model=[] names no model; pass model=['openai:gpt-4.1-mini', 'anthropic:claude-haiku-4-5'] "
            "(tried in order) or a single model"
        )
    for item in chain:
        if item is None or isinstance(item, (list, tuple, Mapping)) or not (isinstance(item, str) or hasattr(item, "complete")):
            raise StratumCompileError(
                f"{where}: every model of a fallback chain is a model string or a provider object, got {item!r}"
            )
    return chain[0] if len(chain) == 1 else tuple(chain)


def model_chain(spec: InferSpec, model: Any) -> tuple[Any, ...] | None:
    """The models to try in order when the chosen model is a chain, else None."""
    chosen = model if model is not None else spec.model
    if isinstance(chosen, str):  # the common case: one model string
        return None
    if chosen is None:
        chosen = current_settings().default_model
    if isinstance(chosen, (list, tuple)):
        return tuple(check_chain(chosen, spec.qualname)) if len(chosen) > 1 else None  # pyright: ignore[reportUnknownArgumentType]
    return None


def falls_back(error: BaseException) -> bool:
    """Whether the next model of a chain should be tried after `error`."""
    return isinstance(error, ProviderError) and not isinstance(error, (RefusalError, ContentFilterError))


async def run_chain(
    chain: tuple[Any, ...],
    rec: Recording,
    start: Callable[[ResolvedModel, Envelope | None, bool], _Loop],
) -> Any:
    """Run the attempt loop on each model in turn until one answers or fails for good.

    `start(resolved, env, shared)` makes the attempt loop of one model; with `shared` it uses
    `env` (the first model's envelope) instead of opening its own.
    """
    from stratum.providers._registry import resolve_model  # the providers load at the first call

    tally = rec.tally
    assert tally is not None
    tried: list[str] = []
    env: Envelope | None = None
    fault: ProviderError | None = None
    last = len(chain) - 1
    for index, choice in enumerate(chain):
        try:
            resolved = resolve_model(choice)
        except ConfigurationError as exc:
            if fault is None:
                raise
            raise ConfigurationError(
                f"{rec.function}: {tried[-1]} failed ({type(fault).__name__}) and the next model of the "
                f"fallback chain cannot be used: {exc}"
            ) from fault
        tried.append(resolved.label)
        rec.model, rec.provider, rec.models_tried = resolved.label, resolved.provider_name, tuple(tried)
        loop = start(resolved, env, index > 0)
        env = loop.env
        first = len(tally.attempts)
        try:
            return await _labelled(loop.run(), tally.attempts, first, resolved.label)
        except ProviderError as exc:
            if index == last or not falls_back(exc):
                raise
            fault = exc
    raise AssertionError("unreachable: the last model returns or raises")  # pragma: no cover


async def _labelled(running: Awaitable[Any], attempts: list[Any], first: int, label: str) -> Any:
    """Await one model's loop, then name the model on the attempt records it added."""
    try:
        return await running
    finally:
        attempts[first:] = [dataclasses.replace(a, model=label) for a in attempts[first:]]
