"""Inline media in request bodies are hashed before a cassette stores or matches them."""

from __future__ import annotations

import base64
import hashlib
import json

from stratum.testing._media_bodies import hash_media_in_body
from stratum.testing._scrub import normalize_body
from tests.inputs.media_files import png


def test_data_urls_and_base64_fields_become_hashes() -> None:
    image = png(64, 64)
    b64 = base64.b64encode(image).decode()
    digest = hashlib.sha256(image).hexdigest()
    body = json.dumps({
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}}]},
            {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(image * 2).decode()}}]},
        ],
        "note": "short text stays",
    }).encode()
    hashed = json.loads(hash_media_in_body(body))
    assert hashed["messages"][0]["content"][0]["image_url"]["url"] == f"data:image/png;sha256={digest};bytes={len(image)}"
    data = hashed["messages"][1]["content"][0]["source"]["data"]
    assert data.startswith("media:sha256=") and data.endswith(f";bytes={2 * len(image)}")
    assert hashed["note"] == "short text stays"
    assert b64 not in hash_media_in_body(body).decode()


def test_bodies_without_media_are_untouched() -> None:
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
    assert hash_media_in_body(body) is body
    assert hash_media_in_body(b"not json;base64,xx") == b"not json;base64,xx"


def test_a_live_body_matches_its_hashed_recording() -> None:
    b64 = base64.b64encode(png(32, 32)).decode()
    live = json.dumps({"input": [{"type": "input_image", "image_url": f"data:image/png;base64,{b64}"}]}).encode()
    assert normalize_body(live) == normalize_body(hash_media_in_body(live))
    other = base64.b64encode(png(33, 32)).decode()
    assert normalize_body(live) != normalize_body(live.replace(b64.encode(), other.encode()))
