"""Reads the recorded enterprise-account replies in `fixtures/enterprise/` (pydantic-ai's format).

pydantic-ai stores JSON bodies as a `parsed_body` mapping, or as `body: {type: json, content}`
in newer files, and the status as `{code, message}` or a bare int.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import yaml

FIXTURES = Path(__file__).parent / "fixtures" / "enterprise"


@dataclass(frozen=True)
class Recorded:
    method: str
    uri: str
    request_body: dict[str, Any] | None
    status: int
    body: bytes

    def response(self) -> httpx2.Response:
        return httpx2.Response(self.status, content=self.body, headers={"content-type": "application/json"})


def _json_of(part: dict[str, Any]) -> Any:
    if "parsed_body" in part:
        return part["parsed_body"]
    body = part.get("body")
    if isinstance(body, dict):
        if body.get("type") == "json":
            return body["content"]
        body = body.get("string")
    if isinstance(body, bytes):
        body = body.decode()
    return json.loads(body) if body else None


def load(name: str) -> list[Recorded]:
    data = yaml.load((FIXTURES / name).read_text(), Loader=yaml.SafeLoader)
    assert data["version"] == 1
    out: list[Recorded] = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        status = response["status"]
        code = status["code"] if isinstance(status, dict) else int(status)
        body = json.dumps(_json_of(response)).encode()
        out.append(Recorded(request["method"], request["uri"], _json_of(request), code, body))
    return out
