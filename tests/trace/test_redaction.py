"""Redaction per sink, and API keys never written anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_otlp import Receiver
from trace_flows import FAKE_KEY, classify, run_triage

import stratum
from stratum.exceptions import AuthenticationError
from stratum.testing import ScriptedModel, use_model
from stratum.trace import JsonlSink, Redaction, SqliteSink, load
from stratum.trace._redact import scrub

pytestmark = pytest.mark.anyio

KEYS = [
    FAKE_KEY,
    "sk-proj-abcdEFGHijklMNOPqrstUVWX0123456789",
    "sk-or-v1-0123456789abcdef0123456789abcdef",
    "AIzaSyA-FAKEFAKEFAKEFAKEFAKEFAKE12345",
    "gsk_FAKEFAKEFAKEFAKEFAKE1234",
]


@pytest.mark.parametrize("key", KEYS)
def test_scrubber_catches_every_key_shape(key: str) -> None:
    assert key not in scrub(f"error: invalid key {key} (check it)")
    assert "Bearer" in scrub(f"Authorization: Bearer {key}") and key not in scrub(f"Authorization: Bearer {key}")
    assert scrub("label=positive, confidence=0.9, sketch-of-a-plan") == "label=positive, confidence=0.9, sketch-of-a-plan"


def test_bad_mode_is_a_configuration_error() -> None:
    with pytest.raises(stratum.ConfigurationError, match="'none', 'omit' or 'hash'"):
        Redaction(inputs="blur")  # type: ignore[arg-type]


async def _leaky_calls() -> None:
    """A key planted in an input, in raw model output, and in a provider error message."""
    model = ScriptedModel(
        [
            {"label": "positive", "confidence": 0.9},
            AuthenticationError(f"401 from provider: Incorrect API key provided: {KEY_IN_ERROR}", status_code=401, body=f"Bearer {KEY_IN_ERROR}"),
        ]
    )

    @stratum.flow
    async def leaky() -> None:
        await classify(text=f"my key is {KEY_IN_INPUT}, header Bearer {KEY_IN_INPUT}")
        with pytest.raises(AuthenticationError):
            await classify(text="second")

    with use_model(model):
        await leaky()


KEY_IN_INPUT = "sk-proj-INPUTINPUTINPUTINPUT0123456789"
KEY_IN_ERROR = "sk-ant-api03-ERRORERRORERRORERROR0123456789"


async def test_no_sink_ever_writes_an_api_key(tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        from stratum.trace import OtlpExporter

        jsonl = JsonlSink(tmp_path / "t.jsonl")
        db = SqliteSink(tmp_path / "t.db")
        otlp = OtlpExporter(receiver.url, redact="none")  # even with content export on
        with stratum.configure(trace_sinks=[jsonl, db, otlp]):
            await _leaky_calls()
        for sink in (jsonl, db, otlp):
            sink.close()
        records = stratum.trace.records()
        assert KEY_IN_ERROR in (records[-1].error or "")  # the planted key really was in the record
        written = [
            (tmp_path / "t.jsonl").read_bytes(),
            *(p.read_bytes() for p in tmp_path.glob("t.db*")),
            json.dumps(receiver.requests).encode(),
        ]
        assert all(w for w in written[:1]) and receiver.requests
        for blob in written:
            for key in (KEY_IN_INPUT, KEY_IN_ERROR):
                assert key.encode() not in blob
        _, loaded = load(tmp_path / "t.jsonl")
        assert "[REDACTED]" in (loaded[-1].error or "")
        assert loaded[-1].error.startswith("AuthenticationError: 401 from provider")  # the rest survives
    finally:
        receiver.close()


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
async def test_inputs_and_outputs_omitted_or_hashed(kind: str, tmp_path: Path) -> None:
    def sink(name: str, redact: Redaction | str) -> JsonlSink | SqliteSink:
        path = tmp_path / (name + (".jsonl" if kind == "jsonl" else ".db"))
        return JsonlSink(path, redact=redact) if kind == "jsonl" else SqliteSink(path, redact=redact)  # type: ignore[arg-type]

    keep, omit, hashed, mixed = sink("keep", "none"), sink("omit", "omit"), sink("hash", "hash"), sink("mixed", Redaction(inputs="hash", outputs="none"))
    with stratum.configure(trace_sinks=[keep, omit, hashed, mixed]):
        await run_triage("secret text")
        await run_triage("secret text")
    for s in (keep, omit, hashed, mixed):
        s.close()
    kept = load(keep.path)[1]
    assert kept[0].inputs == {"text": "secret text"} and kept[0].output == {"label": "positive", "confidence": 0.9}
    assert kept[0].attempt_records[0].raw_output is not None

    omitted = load(omit.path)[1]
    assert all(r.inputs == {} and r.output is None for r in omitted)
    assert all(a.raw_output is None for r in omitted for a in r.attempt_records)
    for path in tmp_path.glob("omit*"):
        assert b"secret text" not in path.read_bytes() and b"Happy customer" not in path.read_bytes()

    digests = load(hashed.path)[1]
    assert digests[0].inputs["text"].startswith("sha256:")
    assert digests[0].inputs == digests[2].inputs  # same input, same digest: still matchable across runs
    assert isinstance(digests[1].output, str) and digests[1].output.startswith("sha256:")

    both = load(mixed.path)[1]
    assert both[0].inputs["text"].startswith("sha256:") and both[1].output == "Happy customer."
    # The audit needs none of the content: it reads the same whatever the redaction.
    flows_keep, _ = load(keep.path)
    flows_omit, _ = load(omit.path)
    assert stratum.trace.render_audit(flows_omit, omitted, format="json") == stratum.trace.render_audit(flows_keep, kept, format="json")
