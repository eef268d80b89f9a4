"""`InferFunction.batch`: many calls of one `@infer` through a provider's batch API, at half price.

Each input is one call with its own trace record and its own envelope (the function's `usd` /
`tokens` limits apply per item; its `ms` limit does not, a batch takes minutes to hours; the
enclosing flow's deadline bounds the polling). Before submitting, every item reserves its worst
case at the batch price in the envelopes around it, so a batch can never spend past a budget.
Results are validated against the contract and the `ensure` checks like an online call; the
items that failed are retried with only what failed (the last output and its violations), in a
follow-up batch (`retry="batch"`) or online at full price (`retry="online"`), up to the
function's `retries`.

Providers without a batch API (anything but the built-in OpenAI and Anthropic providers, test
models included), stubs and composed functions (cache, quorum, sampling) run the items online,
concurrently, through the normal call path: same results, same records, online price.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import anyio

from stratum._compose.outcomes import Failure, Success
from stratum._runtime import context as _context
from stratum._runtime import reservations
from stratum._runtime.attempts import exhausted_error, judge_completion, resolve_for
from stratum._runtime.budget import Budget, Envelope, Reservation
from stratum._runtime.call import call, check_given
from stratum._runtime.model import CallSpec, Completion, Message, Usage
from stratum._runtime.prompt import Prompt, retry_messages
from stratum._runtime.recording import CallTally, Recording, error_text, recording
from stratum._runtime.routing import route_for
from stratum.exceptions import (
    BudgetExceeded,
    PreconditionFailed,
    ProviderError,
)
from stratum.pricing._estimate import SCHEMA_OVERHEAD_TOKENS, Estimate, estimate_parts
from stratum.pricing._resolve import resolve_price
from stratum.providers._batch import BatchOutcome, BatchRequest, batch_api, batch_price, run_batch
from stratum.trace import AttemptRecord
from stratum.trace._records import AttemptOutcome

if TYPE_CHECKING:
    from stratum._runtime.decorators import InferFunction
    from stratum._runtime.spec import InferSpec
    from stratum.pricing import Price
    from stratum.providers._registry import ResolvedModel

__all__ = ("BatchRetry", "batch_calls")


def _attempt(
    number: int,
    prompt_hash: str,
    outcome: AttemptOutcome,
    *,
    completion: Completion | None = None,
    usage: Usage | None = None,
    cost: Decimal | None = None,
    latency_ms: float = 0.0,
    max_tokens: int | None = None,
    violations: tuple[str, ...] = (),
    error: BaseException | None = None,
) -> AttemptRecord:
    used = usage or Usage()
    return AttemptRecord(
        attempt=number,
        prompt_hash=prompt_hash,
        outcome=outcome,
        input_tokens=used.input_tokens,
        output_tokens=used.output_tokens,
        cached_input_tokens=used.cached_input_tokens,
        cache_write_tokens=used.cache_write_tokens,
        reasoning_tokens=used.reasoning_tokens,
        max_tokens=max_tokens,
        cost_usd=cost,
        latency_ms=latency_ms,
        finish_reason=completion.finish_reason if completion is not None else None,
        raw_output=completion.text if completion is not None else None,
        violations=violations,
        error=error_text(error),
        response_model=completion.model if completion is not None else None,
        request_id=completion.request_id if completion is not None else None,
    )

BatchRetry = Literal["batch", "online"]


class _Item:
    """One input of the batch while it runs."""

    __slots__ = (
        "batch_ids", "bound", "env", "error", "index", "last_parse_failed", "last_text", "messages",
        "attempt_hash", "estimate", "outcome", "prompt", "rec", "recorded", "reservation", "result", "violations",
    )

    estimate: Estimate
    """The current round's token estimate (set before its reservation, updated by it)."""

    def __init__(self, index: int, bound: dict[str, Any], env: Envelope | None, rec: Recording) -> None:
        self.index = index
        self.bound = bound
        self.env = env
        self.rec = rec
        self.outcome = rec.tally = CallTally()
        self.prompt: Prompt | None = None
        self.messages: tuple[Message, ...] = ()
        self.attempt_hash = ""
        self.reservation: Reservation | None = None
        self.result: Success[Any] | Failure | None = None
        self.error: BaseException | None = None
        self.violations: tuple[str, ...] = ()
        self.last_text = ""
        self.last_parse_failed = False
        self.batch_ids: list[str] = []
        self.recorded = False


def _bind_all(spec: InferSpec, inputs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    bound: list[dict[str, Any]] = []
    for index, kwargs in enumerate(inputs):
        if not isinstance(kwargs, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(
                f"{spec.qualname}.batch(inputs): inputs[{index}] is a {type(kwargs).__name__}, not a dict of "
                f"keyword arguments; pass [{{'text': ...}}, ...]"
            )
        try:
            bound.append(spec.bind((), kwargs))
        except TypeError as exc:
            raise TypeError(f"{spec.qualname}.batch(inputs): inputs[{index}]: {exc}") from None
    return bound


async def _online(fn: InferFunction[..., Any], bound: list[dict[str, Any]], progress: Callable[[bool], None] | None) -> list[Success[Any] | Failure]:
    """Every item through the normal call path, concurrently."""
    results: list[Success[Any] | Failure | None] = [None] * len(bound)

    async def one(index: int) -> None:
        try:
            results[index] = Success(await call(fn, bound[index]))
        except Exception as exc:
            results[index] = Failure(exc)
        if progress is not None:
            progress(isinstance(results[index], Success))

    async with anyio.create_task_group() as tg:
        for index in range(len(bound)):
            tg.start_soon(one, index)
    return [r if r is not None else Failure(RuntimeError("not run")) for r in results]


def _item_budget(budget: Budget | None) -> Budget | None:
    """The function's budget without its `ms` axis (a per-call latency cap does not fit a batch)."""
    if budget is None or budget.ms is None:
        return budget
    if budget.usd is None and budget.tokens is None:
        return None
    return Budget(
        usd=budget.usd,
        tokens=budget.tokens,
        on_threshold=budget.on_threshold,
        thresholds=budget.thresholds,
        ledger=budget.ledger,
        key=budget.key,
    )


async def batch_calls(
    fn: InferFunction[..., Any],
    inputs: Sequence[Mapping[str, Any]],
    *,
    retry: BatchRetry = "batch",
    poll_interval: float = 5.0,
    max_poll_interval: float = 60.0,
    progress: Callable[[bool], None] | None = None,
) -> list[Success[Any] | Failure]:
    """Run `fn` over `inputs` (dicts of keyword arguments); results in input order."""
    spec = fn.spec
    if retry not in ("batch", "online"):
        raise ValueError(f"{spec.qualname}.batch(retry={retry!r}): use 'batch' (a follow-up batch) or 'online'")
    bound = _bind_all(spec, inputs)
    if not bound:
        return []
    stub, override = route_for(fn)
    if stub is not None or spec.composed or not _plain(fn):
        return await _online(fn, bound, progress)
    resolved = resolve_for(spec, override)
    api = batch_api(resolved.provider)
    if api is None:
        return await _online(fn, bound, progress)
    return await _Batch(spec, resolved, api, retry, poll_interval, max_poll_interval, progress).run(bound)


def _plain(fn: InferFunction[..., Any]) -> bool:
    """True unless a subclass (`@refine`) runs its own loop around the attempts."""
    from stratum._runtime.decorators import InferFunction

    return getattr(type(fn), "run") is getattr(InferFunction, "run")


class _Batch:
    def __init__(
        self,
        spec: InferSpec,
        resolved: ResolvedModel,
        api: Any,
        retry: BatchRetry,
        poll_interval: float,
        max_poll_interval: float,
        progress: Callable[[bool], None] | None,
    ) -> None:
        self.spec = spec
        self.resolved = resolved
        self.api = api
        self.retry = retry
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.progress = progress
        self.label = resolved.label
        self.price: Price | None = resolve_price(resolved.label, resolved.provider, resolved.provider_name, resolved.model)
        self.batch_price = batch_price(self.price)
        self.schema_overhead: int = getattr(resolved.provider, "schema_overhead_tokens", SCHEMA_OVERHEAD_TOKENS)

    def _finish(self, item: _Item, result: Success[Any] | Failure) -> None:
        item.result = result
        if self.progress is not None:
            self.progress(isinstance(result, Success))

    async def run(self, bound: list[dict[str, Any]]) -> list[Success[Any] | Failure]:
        spec = self.spec
        parent = _context.current_envelope()
        item_budget = _item_budget(spec.budget)
        items: list[_Item] = []
        for index, b in enumerate(bound):
            env = Envelope(item_budget, parent, flow_id=parent.flow_id if parent else None) if item_budget else parent
            rec = recording(
                spec.qualname, bound=b, model=self.label, provider=self.resolved.provider_name,
                opaque=spec.opaque_params, contract_hash=spec.output.hash,
                meta={"batch": {"ids": [], "index": index, "api": self.api.name}},
            )
            items.append(_Item(index, b, env, rec))
        try:
            for item in items:
                try:
                    check_given(spec, item.bound)  # records the failed call itself
                except PreconditionFailed as exc:
                    item.error = exc
                    item.recorded = True
                    self._finish(item, Failure(exc))
                    continue
                item.prompt = spec.compile(item.bound)
                item.messages, item.attempt_hash = item.prompt.messages, item.prompt.hash
                item.rec.prompt_hash = item.prompt.hash
            for attempt in range(spec.retries + 1):
                pending = [item for item in items if item.result is None]
                if not pending:
                    break
                online = attempt > 0 and self.retry == "online"
                await self._round(pending, attempt, online, last=attempt == spec.retries)
            return [item.result if item.result is not None else Failure(RuntimeError("unfinished")) for item in items]
        except BaseException as exc:
            for item in items:
                if item.result is None and item.error is None:
                    item.error = exc
            raise
        finally:
            for item in items:
                await self._release(item)
                if not item.recorded:
                    item.recorded = True
                    self._record(item)

    def _record(self, item: _Item) -> None:
        rec = item.rec
        rec.meta["batch"]["ids"] = list(item.batch_ids)
        if isinstance(item.result, Success):
            rec.output = item.result.value
            rec.__exit__(None, None, None)
            return
        error = item.result.error if isinstance(item.result, Failure) else item.error
        if error is None:
            error = RuntimeError("the batch ended before this item ran")
        rec.__exit__(type(error), error, None)

    async def _round(self, pending: list[_Item], attempt: int, online: bool, *, last: bool) -> None:
        spec, resolved = self.spec, self.resolved
        price = self.price if online else self.batch_price
        requests: list[BatchRequest] = []
        by_id: dict[str, _Item] = {}
        for item in pending:
            item.estimate = estimate_parts(
                resolved.model, item.messages, spec.output.schema, spec.output.hash, spec.max_tokens,
                resolved.provider_name, schema_overhead=self.schema_overhead,
            )
            max_tokens = spec.max_tokens
            if item.env is not None:
                try:  # the estimate's cheap bound, counted exactly only when it does not fit
                    held = reservations.reserve(item.env, item, max_tokens=max_tokens, price=price, model=self.label)
                    if item.env.shared:
                        held = await reservations.reserve_shared(
                            item.env, item, max_tokens=max_tokens, price=price, model=self.label
                        )
                except BudgetExceeded as exc:
                    await self._release(item)
                    item.outcome.attempts.append(_attempt(attempt, item.attempt_hash, "budget", error=exc))
                    self._finish(item, Failure(exc))
                    continue
                except BaseException:
                    await self._release(item)
                    raise
                max_tokens = held.max_tokens
            call = CallSpec(
                model=resolved.model,
                messages=item.messages,
                output_schema=spec.output.schema,
                output_name=spec.output.name,
                max_tokens=max_tokens,
                temperature=spec.temperature,
                function=spec.qualname,
                attempt=attempt,
                prompt_hash=item.prompt.hash if item.prompt else "",
                contract_hash=spec.output.hash,
                attachments=item.prompt.attachments if item.prompt else {},
            )
            custom_id = f"i{item.index}-a{attempt}"
            requests.append(BatchRequest(custom_id, call))
            by_id[custom_id] = item
        if not requests:
            return
        sent = time.monotonic()
        try:
            if online:
                outcomes = await self._send_online(requests)
            else:
                parent = _context.current_envelope()
                left = parent.seconds_left() if parent is not None else None
                deadline = None if left is None else time.monotonic() + left

                def submitted(batch_id: str) -> None:
                    for item in by_id.values():
                        item.batch_ids.append(batch_id)

                _, outcomes = await run_batch(
                    self.api, requests, poll_interval=self.poll_interval, max_poll_interval=self.max_poll_interval,
                    deadline=deadline, on_submitted=submitted,
                )
        except (ProviderError, BudgetExceeded) as exc:
            # The whole batch failed (credentials, deadline, a refused file): every item with it.
            kind: AttemptOutcome = "budget" if isinstance(exc, BudgetExceeded) else "provider_error"
            for item in by_id.values():
                await self._release(item)
                item.outcome.attempts.append(_attempt(attempt, item.attempt_hash, kind, error=exc))
                self._finish(item, Failure(exc))
            return
        latency = (time.monotonic() - sent) * 1000
        for request in requests:
            item = by_id[request.custom_id]
            outcome = outcomes.get(request.custom_id)
            await self._judge(item, request.call, outcome, attempt, price, latency, last=last)

    async def _send_online(self, requests: list[BatchRequest]) -> dict[str, BatchOutcome]:
        outcomes: dict[str, BatchOutcome] = {}
        provider = self.resolved.provider

        async def one(request: BatchRequest) -> None:
            try:
                completion = await provider.complete(request.call)
            except ProviderError as exc:
                outcomes[request.custom_id] = BatchOutcome(request.custom_id, None, exc)
            else:
                outcomes[request.custom_id] = BatchOutcome(request.custom_id, completion, None)

        async with anyio.create_task_group() as tg:
            for request in requests:
                tg.start_soon(one, request)
        return outcomes

    async def _release(self, item: _Item) -> None:
        reservation, item.reservation = item.reservation, None
        if item.env is not None and reservation is not None:
            item.env.release(reservation)
            if reservation.grant_id is not None:
                await item.env.release_shared(reservation)

    async def _settle(self, item: _Item, usage: Usage, cost: Decimal | None) -> None:
        reservation, item.reservation = item.reservation, None
        if item.env is None:
            return
        item.outcome.events.extend(item.env.settle(reservation, usage, cost))
        if reservation is not None and reservation.grant_id is not None:
            with anyio.CancelScope(shield=True):
                item.outcome.events.extend(await item.env.settle_shared(reservation, usage, cost))

    async def _judge(
        self, item: _Item, call: CallSpec, outcome: BatchOutcome | None, attempt: int, price: Price | None,
        latency: float, *, last: bool,
    ) -> None:
        spec = self.spec
        completion: Completion | None = outcome.completion if outcome is not None else None
        if completion is None:
            error = outcome.error if outcome is not None and outcome.error is not None else ProviderError(
                f"{self.api.name} batch returned no result for item {item.index}; it can be retried",
                provider=self.api.name, model=self.resolved.model,
            )
            used: Usage | None = getattr(error, "usage", None)
            cost = price.cost(used) if used is not None and price is not None else None
            if used is not None:
                item.outcome.charge(used, cost)
            await self._settle(item, used or Usage(), cost if used else Decimal(0))
            item.outcome.attempts.append(
                _attempt(attempt, item.attempt_hash, "provider_error", usage=used, cost=cost, latency_ms=latency,
                         max_tokens=call.max_tokens, error=error)
            )
            if last:
                self._finish(item, Failure(error))
            return
        usage = completion.usage
        cost = price.cost(usage) if price is not None else None
        item.outcome.charge(usage, cost)
        await self._settle(item, usage, cost)

        kind, verdict, error = judge_completion(spec, item.bound, completion, call.max_tokens, self.resolved)
        item.outcome.attempts.append(
            _attempt(attempt, item.attempt_hash, kind, completion=completion, usage=usage, cost=cost,
                     latency_ms=latency, max_tokens=call.max_tokens, violations=verdict.violations, error=error)
        )
        if error is not None:
            self._finish(item, Failure(error))
            return
        item.last_text = completion.text
        if not verdict.violations:
            self._finish(item, Success(verdict.value))
            return
        item.violations, item.last_parse_failed = verdict.violations, verdict.parse_failed
        if not last and item.prompt is not None:
            item.messages, item.attempt_hash = retry_messages(item.prompt, completion.text, item.violations)
            return
        self._finish(item, Failure(exhausted_error(spec, verdict, item.outcome.attempts, item.last_text)))
