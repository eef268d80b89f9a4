"""Provider batch APIs: OpenAI Batch (`/v1/files` + `/v1/batches`) and Anthropic Message Batches.

A batch is submitted once, polled until it ends, and read back as one outcome per request,
matched by `custom_id`. Each request is the same JSON body the provider's dialect sends
online, so a batch result decodes into the same `Completion` as an online call. Providers
charge half price for batched tokens (`batch_price`).

Every HTTP request goes through `send_intercepted` (network guard, cassettes) and retries
transient faults like an online call does.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, cast

import httpx2

from stratum._runtime.model import CallSpec, Completion, Provider
from stratum.exceptions import BudgetExceeded, ProviderError
from stratum.providers._dialect import as_str, get_dict
from stratum.providers._faults import is_transport_error, map_status, map_transport, scrub, should_retry
from stratum.providers._http import _HTTPProvider  # pyright: ignore[reportPrivateUsage]
from stratum.providers._intercept import Exchange, send_intercepted

if TYPE_CHECKING:
    from stratum.pricing import Price

__all__ = (
    "BATCH_DISCOUNT",
    "BatchAPI",
    "BatchOutcome",
    "BatchRequest",
    "BatchStatus",
    "batch_api",
    "batch_price",
    "run_batch",
)

BATCH_DISCOUNT = Decimal("0.5")
"""OpenAI and Anthropic both bill batched requests at half the online price."""


def batch_price(price: Price | None) -> Price | None:
    """`price` at the batch discount (every rate halved)."""
    if price is None:
        return None
    from stratum.pricing import Price

    def half(rate: Decimal | None) -> Decimal | None:
        return None if rate is None else rate * BATCH_DISCOUNT

    return Price(
        price.input_per_mtok * BATCH_DISCOUNT,
        price.output_per_mtok * BATCH_DISCOUNT,
        cached_input_per_mtok=half(price.cached_input_per_mtok),
        cache_write_per_mtok=half(price.cache_write_per_mtok),
    )


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One request of a batch: its `custom_id` (`[A-Za-z0-9_-]{1,64}`) and the call to make."""

    custom_id: str
    call: CallSpec


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What the provider answered for one request: a completion, or the error it reported."""

    custom_id: str
    completion: Completion | None
    error: ProviderError | None


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """Where a batch stands: `done` once it will change no more; `failure` when it failed whole."""

    batch_id: str
    status: str
    done: bool
    failure: str | None = None


class BatchAPI(Protocol):
    """A provider's batch endpoint."""

    name: str

    async def submit(self, requests: Sequence[BatchRequest]) -> str:
        """Submit the requests; return the batch id."""
        ...

    async def status(self, batch_id: str) -> BatchStatus:
        """Where the batch stands."""
        ...

    async def results(self, batch_id: str, requests: Mapping[str, BatchRequest]) -> dict[str, BatchOutcome]:
        """The outcome of every request that has one (requests without a result are absent)."""
        ...

    async def cancel(self, batch_id: str) -> None:
        """Ask the provider to stop the batch (best effort)."""
        ...


def batch_api(provider: Provider) -> BatchAPI | None:
    """The batch API of a built-in OpenAI or Anthropic provider, or None for any other provider."""
    if not isinstance(provider, _HTTPProvider):
        return None
    dialect = provider._dialect.name  # pyright: ignore[reportPrivateUsage]
    if dialect in ("openai-chat", "openai-responses"):
        return _OpenAIBatch(provider)
    if dialect == "anthropic":
        return _AnthropicBatch(provider)
    return None


class _Endpoint:
    """HTTP plumbing over a built-in provider's client: auth, interception, fault retries."""

    def __init__(self, provider: _HTTPProvider) -> None:
        self.provider = provider
        self.name = provider.name
        self._dialect = provider._dialect  # pyright: ignore[reportPrivateUsage]
        self._secret = provider._secret  # pyright: ignore[reportPrivateUsage]
        self._headers = dict(provider._headers)  # pyright: ignore[reportPrivateUsage]

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.provider.base_url}/{path}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> httpx2.Response:
        """Send one request; transient faults are retried; an error status raises ProviderError."""
        state = await self.provider._state()  # pyright: ignore[reportPrivateUsage]
        client = state.clients[0]
        headers = dict(self._headers)
        if body is not None:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        elif content_type is not None:
            headers["content-type"] = content_type
        else:
            headers.pop("content-type", None)
        exchange = Exchange(provider=self.name, dialect=self._dialect.name, call=None)
        retry = 0
        while True:
            request = client.build_request(method, self.url(path), content=content, headers=headers)
            try:
                response = await send_intercepted(request, exchange, client.send)
            except Exception as exc:
                if not is_transport_error(exc):
                    raise
                if retry >= self.provider.max_retries:
                    raise map_transport(exc, provider=self.name, model="", secret=self._secret, retries=retry) from exc
                await self.provider._sleep(self.provider._backoff(retry))  # pyright: ignore[reportPrivateUsage]
                retry += 1
                continue
            status: int = response.status_code
            if 200 <= status < 300:
                return response
            if retry >= self.provider.max_retries or not should_retry(status, response.headers):
                raise map_status(
                    status,
                    response.content.decode(errors="replace"),
                    response.headers,
                    provider=self.name,
                    model="",
                    secret=self._secret,
                    retries=retry,
                    usage=None,
                )
            await self.provider._sleep(self.provider._backoff(retry))  # pyright: ignore[reportPrivateUsage]
            retry += 1

    async def json(self, method: str, path: str, body: Any = None) -> Mapping[str, Any]:
        response = await self.request(method, path, body=body)
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderError(
                f"{self.name} batch API answered {path} with a body that is not a JSON object: "
                f"{scrub(response.content[:200].decode(errors='replace'), self._secret)!r}; check base_url",
                provider=self.name,
                model="",
            )
        return cast(dict[str, Any], data)

    def decode(self, request: BatchRequest, body: Any, request_id: str | None) -> BatchOutcome:
        if not isinstance(body, dict):
            return self.failed(request.custom_id, "the result has no response body")
        headers = {"x-request-id": request_id, "request-id": request_id} if request_id else {}
        completion = self._dialect.decode(request.call, cast(dict[str, Any], body), headers)
        return BatchOutcome(request.custom_id, completion, None)

    def failed(self, custom_id: str, why: str, status: int | None = None, body: Any = None) -> BatchOutcome:
        if status is not None:
            error: ProviderError = map_status(
                status,
                json.dumps(body) if body is not None else "",
                {},
                provider=self.name,
                model="",
                secret=self._secret,
                retries=0,
                usage=None,
            )
        else:
            error = ProviderError(
                f"{self.name} batch request {custom_id}: {scrub(why, self._secret)}; it can be retried",
                provider=self.name,
                model="",
            )
        return BatchOutcome(custom_id, None, error)


def _lines(content: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for line in content.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(cast(dict[str, Any], row))
    return rows


class _OpenAIBatch(_Endpoint):
    """OpenAI Batch: upload a JSONL file (`purpose=batch`), create a batch, read the output file."""

    def _endpoint(self, call: CallSpec) -> str:
        root = urllib.parse.urlsplit(self.provider.base_url).path.rstrip("/")
        return f"{root}/{self._dialect.path(call)}"

    async def submit(self, requests: Sequence[BatchRequest]) -> str:
        endpoint = self._endpoint(requests[0].call)
        lines = [
            json.dumps(
                {"custom_id": r.custom_id, "method": "POST", "url": endpoint, "body": self._dialect.encode(r.call)},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            for r in requests
        ]
        form = httpx2.Request(
            "POST",
            "http://upload.invalid/",
            data={"purpose": "batch"},
            files={"file": ("batch.jsonl", ("\n".join(lines) + "\n").encode(), "application/jsonl")},
        )
        payload = form.read()
        uploaded = await self.request("POST", "files", content=payload, content_type=form.headers["content-type"])
        file_id = as_str(json.loads(uploaded.content), "id")
        if file_id is None:
            raise ProviderError(f"{self.name} did not return a file id for the batch upload; check base_url",
                                provider=self.name, model="")
        created = await self.json(
            "POST", "batches", {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h"}
        )
        batch_id = as_str(created, "id")
        if batch_id is None:
            raise ProviderError(f"{self.name} did not return a batch id; check base_url", provider=self.name, model="")
        return batch_id

    async def status(self, batch_id: str) -> BatchStatus:
        data = await self.json("GET", f"batches/{batch_id}")
        status = as_str(data, "status") or "unknown"
        failure: str | None = None
        if status == "failed":
            rows: list[Any] = list(get_dict(data, "errors").get("data") or [])
            errors = [as_str(e, "message") or "" for e in rows]
            failure = "; ".join(e for e in errors if e) or "the batch failed validation"
        return BatchStatus(batch_id, status, status in ("completed", "failed", "expired", "cancelled"), failure)

    async def results(self, batch_id: str, requests: Mapping[str, BatchRequest]) -> dict[str, BatchOutcome]:
        data = await self.json("GET", f"batches/{batch_id}")
        out: dict[str, BatchOutcome] = {}
        for field in ("output_file_id", "error_file_id"):
            file_id = as_str(data, field)
            if file_id is None:
                continue
            content = (await self.request("GET", f"files/{file_id}/content")).content
            for row in _lines(content):
                custom_id = as_str(row, "custom_id")
                request = requests.get(custom_id or "")
                if request is None or custom_id is None:
                    continue
                response = get_dict(row, "response")
                code = response.get("status_code")
                if response and code == 200:
                    out[custom_id] = self.decode(request, response.get("body"), as_str(response, "request_id"))
                elif response and isinstance(code, int):
                    out[custom_id] = self.failed(custom_id, "", code, response.get("body"))
                else:
                    error = get_dict(row, "error")
                    why = as_str(error, "message") or as_str(error, "code") or "no result"
                    out[custom_id] = self.failed(custom_id, why)
        return out

    async def cancel(self, batch_id: str) -> None:
        await self.request("POST", f"batches/{batch_id}/cancel", body={})


class _AnthropicBatch(_Endpoint):
    """Anthropic Message Batches: one JSON request, poll `processing_status`, read `results_url`."""

    async def submit(self, requests: Sequence[BatchRequest]) -> str:
        body = {"requests": [{"custom_id": r.custom_id, "params": self._dialect.encode(r.call)} for r in requests]}
        created = await self.json("POST", "messages/batches", body)
        batch_id = as_str(created, "id")
        if batch_id is None:
            raise ProviderError(f"{self.name} did not return a batch id; check base_url", provider=self.name, model="")
        return batch_id

    async def status(self, batch_id: str) -> BatchStatus:
        data = await self.json("GET", f"messages/batches/{batch_id}")
        status = as_str(data, "processing_status") or "unknown"
        return BatchStatus(batch_id, status, status == "ended")

    async def results(self, batch_id: str, requests: Mapping[str, BatchRequest]) -> dict[str, BatchOutcome]:
        data = await self.json("GET", f"messages/batches/{batch_id}")
        url = as_str(data, "results_url") or f"messages/batches/{batch_id}/results"
        content = (await self.request("GET", url)).content
        out: dict[str, BatchOutcome] = {}
        for row in _lines(content):
            custom_id = as_str(row, "custom_id")
            request = requests.get(custom_id or "")
            if request is None or custom_id is None:
                continue
            result = get_dict(row, "result")
            kind = as_str(result, "type")
            if kind == "succeeded":
                message = get_dict(result, "message")
                out[custom_id] = self.decode(request, dict(message), as_str(message, "id"))
            elif kind == "errored":
                inner = get_dict(get_dict(result, "error"), "error")
                why = f"{as_str(inner, 'type') or 'error'}: {as_str(inner, 'message') or 'no detail'}"
                out[custom_id] = self.failed(custom_id, why)
            else:
                out[custom_id] = self.failed(custom_id, f"the request was {kind or 'not processed'}")
        return out

    async def cancel(self, batch_id: str) -> None:
        await self.request("POST", f"messages/batches/{batch_id}/cancel", body={})


async def run_batch(
    api: BatchAPI,
    requests: Sequence[BatchRequest],
    *,
    poll_interval: float = 1.0,
    max_poll_interval: float = 60.0,
    deadline: float | None = None,
    on_submitted: Any = None,
) -> tuple[str, dict[str, BatchOutcome]]:
    """Submit `requests`, poll with doubling intervals until the batch ends, read every outcome.

    `deadline` is a `time.monotonic()` value: past it the batch is cancelled and
    `BudgetExceeded(axis="ms")` raised. Cancelling the caller cancels the batch too (best effort).

    Returns:
        The batch id and the outcome per `custom_id` (requests the provider left without a
        result come back as failed outcomes).
    """
    import anyio

    if not requests:
        return "", {}
    by_id = {r.custom_id: r for r in requests}
    batch_id = await api.submit(requests)
    if on_submitted is not None:
        on_submitted(batch_id)
    wait = poll_interval
    finished = False
    try:
        while True:
            state = await api.status(batch_id)
            if state.done:
                break
            if deadline is not None and time.monotonic() + wait >= deadline:
                raise BudgetExceeded(
                    f"{api.name} batch {batch_id} had not ended before the time budget ran out "
                    f"(status {state.status!r}); it was cancelled. Raise Budget(ms=...) or run fewer items",
                    axis="ms",
                    limit=0.0,
                    spent=0.0,
                )
            await anyio.sleep(wait)
            wait = min(wait * 2, max_poll_interval)
        finished = True
    finally:
        if not finished:
            with anyio.CancelScope(shield=True):
                try:
                    await api.cancel(batch_id)
                except ProviderError:
                    pass
    outcomes = await api.results(batch_id, by_id)
    for custom_id in by_id:
        if custom_id not in outcomes:
            why = state.failure or f"the batch ended ({state.status}) without a result for it"
            outcomes[custom_id] = BatchOutcome(
                custom_id,
                None,
                ProviderError(f"{api.name} batch request {custom_id}: {why}; it can be retried",
                              provider=api.name, model=""),
            )
    return batch_id, outcomes
