"""Read and write stock vcrpy cassettes (format version 1) with vcrpy's own serializer.

vcrpy is an optional dependency (`pip install 'stratum[testing]'`); it is imported only when
a cassette is used, so the pytest plugin loads without it. vcrpy ships no type information,
so this module is the one place that touches it, behind typed functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from stratum.exceptions import ConfigurationError

__all__ = ("RecordedRequest", "RecordedResponse", "load_cassette", "dump_cassette")


@dataclass(slots=True)
class RecordedRequest:
    """A request as vcrpy stores it."""

    method: str
    uri: str
    body: bytes | None
    headers: dict[str, list[str]]


@dataclass(slots=True)
class RecordedResponse:
    """A response as vcrpy stores it (`status`, `headers`, `body.string`)."""

    status: int
    message: str
    headers: dict[str, list[str]]
    body: bytes


def _vcr() -> tuple[Any, Any, Any]:
    try:
        from vcr import serialize  # pyright: ignore[reportMissingTypeStubs]
        from vcr.request import Request  # pyright: ignore[reportMissingTypeStubs]
        from vcr.serializers import yamlserializer  # pyright: ignore[reportMissingTypeStubs]
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "cassettes need vcrpy (the stock cassette format); install it with "
            "pip install 'stratum[testing]' or pip install 'vcrpy>=8.2.1'"
        ) from exc
    return serialize, Request, yamlserializer


def _headers(raw: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, values in cast(Mapping[str, Any], raw or {}).items():
        if isinstance(values, list | tuple):
            out[str(name)] = [str(v) for v in cast(list[Any], values)]
        else:
            out[str(name)] = [str(values)]
    return out


def _bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def load_cassette(path: Path) -> list[tuple[RecordedRequest, RecordedResponse]]:
    """The interactions of a stock vcrpy cassette file, in order."""
    serialize, _, yamlserializer = _vcr()
    loaded = cast(tuple[Any, ...], serialize.deserialize(path.read_text(encoding="utf-8"), yamlserializer))
    requests, responses = cast(list[Any], loaded[0]), cast(list[Any], loaded[1])
    out: list[tuple[RecordedRequest, RecordedResponse]] = []
    for request, response in zip(requests, responses, strict=True):
        body: Any = request.body
        if body is not None and not isinstance(body, bytes):
            body = body.read() if hasattr(body, "read") else _bytes(body)
        # vcrpy folds repeated request headers into one value; keep the cassette's lists.
        headers = _headers({k: v for k, v in cast(Mapping[str, Any], request.headers).items()})
        resp = cast(dict[str, Any], response)
        status = cast(Mapping[str, Any], resp.get("status", {}))
        out.append(
            (
                RecordedRequest(str(request.method), str(request.uri), cast(bytes | None, body), headers),
                RecordedResponse(
                    status=int(status.get("code", 200)),
                    message=str(status.get("message") or ""),
                    headers=_headers(resp.get("headers")),
                    body=_bytes(cast(Mapping[str, Any], resp.get("body") or {}).get("string")),
                ),
            )
        )
    return out


def dump_cassette(path: Path, interactions: list[tuple[RecordedRequest, RecordedResponse]]) -> None:
    """Write `interactions` as a stock vcrpy cassette (version 1), creating parent folders."""
    serialize, request_cls, yamlserializer = _vcr()
    requests: list[Any] = []
    responses: list[dict[str, Any]] = []
    for request, response in interactions:
        vcr_request = request_cls(request.method, request.uri, request.body, {})
        # Assign the multi-value mapping afterwards: vcrpy's headers setter keeps one value.
        vcr_request.headers = {k: v[0] if len(v) == 1 else v for k, v in request.headers.items()}
        requests.append(vcr_request)
        responses.append(
            {
                "status": {"code": response.status, "message": response.message},
                "headers": response.headers,
                "body": {"string": response.body},
            }
        )
    text = cast(str, serialize.serialize({"requests": requests, "responses": responses}, yamlserializer))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
