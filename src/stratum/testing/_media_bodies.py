"""Inline media in request bodies, replaced by their hash before a cassette stores or matches them.

A request with an image or a PDF carries its bytes as base64 (a `data:` URL, or a `data`
field next to a media type). A cassette keeps `sha256` and the byte count instead: files stay
small, no user content is copied into the repository, and a request with the same file still
matches, because live bodies get the same replacement before matching.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any, cast

__all__ = ("hash_media", "hash_media_in_body")

_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,([A-Za-z0-9+/=\s]*)\Z")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}\Z")
_MIN_BASE64 = 256
"""Shorter strings are left alone: no real media file is this small, and text may look like base64."""


def _digest(payload: str) -> tuple[str, int] | None:
    try:
        raw = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        return None
    return hashlib.sha256(raw).hexdigest(), len(raw)


def _replace(value: str) -> str:
    if value.startswith("data:"):
        match = _DATA_URL.match(value)
        if match is not None:
            digest = _digest(match.group(2))
            if digest is not None:
                return f"data:{match.group(1)};sha256={digest[0]};bytes={digest[1]}"
        return value
    if len(value) >= _MIN_BASE64 and _BASE64.match(value):
        digest = _digest(value)
        if digest is not None:
            return f"media:sha256={digest[0]};bytes={digest[1]}"
    return value


def hash_media(node: Any) -> Any:
    """`node` (parsed JSON) with every inline base64 payload replaced by its hash."""
    if isinstance(node, str):
        return _replace(node)
    if isinstance(node, list):
        return [hash_media(item) for item in cast(list[Any], node)]
    if isinstance(node, dict):
        return {key: hash_media(value) for key, value in cast(dict[str, Any], node).items()}
    return node


def hash_media_in_body(body: bytes) -> bytes:
    """A JSON request body with its inline media hashed; other bodies unchanged."""
    if b";base64," not in body and len(body) < _MIN_BASE64:
        return body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body
    hashed = hash_media(data)
    if hashed == data:
        return body
    return json.dumps(hashed, ensure_ascii=False, separators=(",", ":")).encode()
