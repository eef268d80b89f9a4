"""`ScriptedModel` and `Reply`: a model that answers from a script, through the whole loop."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import BaseModel

from stratum._model import CallSpec, Completion, FinishReason, Usage
from stratum.exceptions import ScriptExhaustedError
from stratum.pricing._estimate import estimate_text_tokens
from stratum.pricing._price import FREE, Price

__all__ = ("ModelRequest", "Reply", "ScriptedModel", "UsageLike")

ModelRequest = CallSpec
"""What a model received: `.instructions`, `.attachments`, `.messages`, `.max_tokens`, `.attempt`."""

UsageLike = Usage | tuple[int, int]


def _usage(value: UsageLike | None) -> Usage | None:
    if value is None or isinstance(value, Usage):
        return value
    return Usage(input_tokens=value[0], output_tokens=value[1])


@dataclass(frozen=True, slots=True, init=False)
class Reply:
    """One scripted answer with its own usage, latency and finish reason."""

    output: Any
    usage: Usage | None
    latency_ms: float | None
    finish_reason: FinishReason
    refusal: str | None
    model: str | None

    def __init__(
        self,
        output: Any,
        *,
        usage: UsageLike | None = None,
        latency_ms: float | None = None,
        finish_reason: FinishReason = "stop",
        refusal: str | None = None,
        model: str | None = None,
    ) -> None:
        object.__setattr__(self, "output", output)
        object.__setattr__(self, "usage", _usage(usage))
        object.__setattr__(self, "latency_ms", latency_ms)
        object.__setattr__(self, "finish_reason", finish_reason)
        object.__setattr__(self, "refusal", refusal)
        object.__setattr__(self, "model", model)


def render_output(output: Any) -> str:
    """The raw text a model would send for `output`."""
    if isinstance(output, str):
        return output
    if isinstance(output, BaseModel):
        return output.model_dump_json()
    return json.dumps(output, default=str)


class ScriptedModel:
    """A model object that answers from a script, going through the whole attempt loop.

    Each response is a dict, a contract instance, a `str` (the raw text), an exception
    instance to raise, or a `Reply`. Without an explicit usage, tokens are estimated from the
    request and the answer. Without a `price`, calls cost nothing, so flows with `usd` budgets
    run unchanged.

    Example:
        ```python
        model = ScriptedModel([{"label": "positive", "confidence": 0.42, "reasoning": "…"},
                               Reply({"label": "positive", "confidence": 0.93, "reasoning": "…"},
                                     usage=(120, 30))])
        with use_model(model):
            await classify(text="Love it")
        assert model.requests[1].attempt == 1
        ```
    """

    name = "scripted"
    model_name = "scripted"
    schema_overhead_tokens = 0
    """A scripted model adds no hidden prompt to structured-output requests."""
    __test__ = False

    def __init__(
        self,
        responses: Iterable[Any],
        *,
        usage: UsageLike | None = None,
        latency_ms: float = 0,
        price: Price | None = None,
    ) -> None:
        self._responses: list[Any] = list(responses)
        self._usage = _usage(usage)
        self._latency_ms = latency_ms
        self.price: Price = price if price is not None else FREE
        self.requests: list[ModelRequest] = []

    @property
    def remaining(self) -> int:
        """How many scripted responses are left."""
        return len(self._responses) - len(self.requests)

    async def complete(self, call: CallSpec, /) -> Completion:
        """Answer `call` with the next scripted response."""
        index = len(self.requests)
        self.requests.append(call)
        if index >= len(self._responses):
            raise ScriptExhaustedError(
                f"ScriptedModel has {len(self._responses)} response(s) but {call.function or 'a call'} "
                f"asked for response #{index + 1} (attempt {call.attempt}); add responses to the script"
            )
        item = self._responses[index]
        reply = item if isinstance(item, Reply) else Reply(item)
        latency = reply.latency_ms if reply.latency_ms is not None else self._latency_ms
        if latency:
            await anyio.sleep(latency / 1000)
        if isinstance(reply.output, BaseException):
            raise reply.output
        text = render_output(reply.output)
        usage = reply.usage or self._usage or Usage(
            input_tokens=sum(estimate_text_tokens(m.content) for m in call.messages),
            output_tokens=max(estimate_text_tokens(text), 1),
        )
        finish: FinishReason = reply.finish_reason
        if call.max_tokens is not None and usage.output_tokens > call.max_tokens:
            # A real provider never returns more than max_tokens: cut the answer off there.
            keep = max(len(text) * call.max_tokens // usage.output_tokens, 0)
            text = text[:keep]
            usage = Usage(usage.input_tokens, call.max_tokens, usage.cached_input_tokens, usage.cache_write_tokens, min(usage.reasoning_tokens, call.max_tokens))
            finish = "length"
        return Completion(
            text=text,
            finish_reason=finish,
            usage=usage,
            model=reply.model or self.model_name,
            refusal=reply.refusal if finish == "refusal" else None,
        )

    def __repr__(self) -> str:
        return f"ScriptedModel({len(self._responses)} responses, {len(self.requests)} used)"
