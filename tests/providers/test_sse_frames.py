"""The SSE framing of the stream reader reads what `httpx2.EventSource` reads, however the
bytes are split: every line ending, comments, named events, multi-line data, fields that do
not count, an unfinished event at the end, and characters split across chunks."""

from __future__ import annotations

import random

import httpx2
import pytest

from stratum.providers._sse_frames import SSEFrames

BODIES = [
    b'data: {"a": 1}\n\ndata: {"b": 2}\n\ndata: [DONE]\n\n',
    b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n: a comment\n\nevent: ping\ndata: {}\n\n",
    b"data: one\r\ndata: two\r\n\r\ndata: three\r\rdata: four\r\r",
    b"id: 7\n\nretry: 100\n\nretry: soon\n\nevent: only-a-name\n\n\n\n\ndata:no-space\n\n",
    b"data:  two spaces\nunknown: x\ndata\n\n:comment only\n\n",
    "data: {\"text\": \"héllo wörld ✓ 🎉\"}\n\ndata: ünïcode\n\n".encode(),
    b"data: unfinished at the end\n",
    b"data: a\n\ndata: b",
    b"id: with\0nul\n\n",
    b"data: ended by a lone CR, no blank line\r",
]


def _reference(body: bytes) -> list[tuple[str, str]]:
    if body.endswith(b"\r"):
        # At the end of the body httpx2 reads a final lone CR as two line ends and dispatches an
        # unfinished event; the event-stream rules drop it (as both do after a final LF). A LF
        # after it reads the same under the rules and makes httpx2 follow them.
        body += b"\n"
    request = httpx2.Request("GET", "http://127.0.0.1/")
    response = httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body, request=request)
    return [(sse.event, sse.data) for sse in httpx2.EventSource(response)]


def _ours(chunks: list[bytes]) -> list[tuple[str, str]]:
    frames = SSEFrames(1024 * 1024)
    return [event for chunk in chunks for event in frames.feed(chunk)] + frames.end()


@pytest.mark.parametrize("body", BODIES)
def test_every_split_of_a_body_reads_as_event_source_reads_it(body: bytes) -> None:
    expected = _reference(body)
    assert _ours([body]) == expected
    for cut in range(1, len(body)):  # every two-chunk split, including inside CRLF and a character
        assert _ours([body[:cut], body[cut:]]) == expected, cut
    assert _ours([body[i : i + 1] for i in range(len(body))]) == expected  # byte by byte


def test_random_streams_in_random_chunks_read_as_event_source_reads_them() -> None:
    rng = random.Random(14)
    lines = [b"data: x", b"data: {\"k\": \"v\"}", b"event: e", b": c", b"id: 1", b"retry: 5", b"", b"data:", b"data: \xc3\xa9"]
    ends = [b"\n", b"\r\n", b"\r"]
    for _ in range(300):
        body = b"".join(rng.choice(lines) + rng.choice(ends) for _ in range(rng.randint(1, 30)))
        cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(0, 6)))) if len(body) > 1 else []
        chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)])]
        assert _ours(chunks) == _reference(body), body


def test_an_event_over_the_limit_is_refused_not_held() -> None:
    frames = SSEFrames(100)
    with pytest.raises(httpx2.SSEError, match="100 byte limit"):
        for _ in range(10):
            frames.feed(b"data: " + b"x" * 30)
    with pytest.raises(httpx2.SSEError):
        SSEFrames(100).feed(b"data: " + b"y" * 200 + b"\n\n")
    assert SSEFrames(100).feed(b"data: " + b"z" * 50 + b"\n\n") == [("message", "z" * 50)]
