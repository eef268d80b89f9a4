"""`@infer` with media inputs end to end: a real loopback HTTP server per dialect, the wire parts,
token reservations, trace hashing, compile-time errors and clear provider errors."""

from __future__ import annotations

import json
from typing import Literal

import pytest

import stratum
from stratum import Audio, Budget, Document, Image, configure, contract, infer, trace
from stratum.exceptions import BudgetExceeded, StratumCompileError, UnsupportedInputError
from stratum.pricing import Price
from stratum.providers import Anthropic, Gemini, OpenAI
from tests.inputs import replies
from tests.inputs.conftest import Loopback
from tests.inputs.media_files import pdf, png, wav

pytestmark = pytest.mark.anyio

KEY = "sk-test-media-0123456789abcdef"


@contract
class Damage:
    severity: Literal["none", "minor", "major"]
    summary: str


ANSWER = json.dumps({"severity": "minor", "summary": "a dent"})


async def test_an_image_goes_to_anthropic_as_an_image_block_and_the_trace_keeps_its_hash(loopback: Loopback) -> None:
    loopback.reply = lambda path, body: replies.anthropic(ANSWER)
    photo_bytes = png(800, 600)

    @infer("Assess the damage in the photo.", model="claude:claude-sonnet-4-5")
    def assess(photo: Image, policy: str) -> Damage: ...

    with configure(providers={"claude": Anthropic(api_key=KEY, base_url=loopback.url)}):
        result = await assess(Image.from_bytes(photo_bytes), policy="home")
    assert result == Damage(severity="minor", summary="a dent")
    (path, body), = loopback.requests
    assert path == "/messages"
    text, caption, image = body["messages"][0]["content"]
    assert text["type"] == "text" and "photo: [image image/png" in text["text"] and "policy: home" in text["text"]
    assert caption == {"type": "text", "text": "photo (image, image/png):"}
    assert image["type"] == "image" and image["source"]["media_type"] == "image/png"
    record = trace.records()[-1]
    photo = Image.from_bytes(photo_bytes)
    # the reservation counted the image by Anthropic's rule (800×600/750 = 640 tokens)
    estimated = record.attempt_records[0].estimated_input_tokens
    assert estimated is not None and estimated > 640
    written = record.to_dict()["inputs"]["photo"]
    assert written == {"type": "image", "media_type": "image/png", "sha256": photo.sha256, "bytes": len(photo_bytes)}
    assert image["source"]["data"] not in json.dumps(record.to_dict())


async def test_the_prompt_hash_follows_the_image(loopback: Loopback) -> None:
    loopback.reply = lambda path, body: replies.anthropic(ANSWER)

    @infer("Assess the damage in the photo.", model="claude:claude-sonnet-4-5")
    def assess(photo: Image) -> Damage: ...

    with configure(providers={"claude": Anthropic(api_key=KEY, base_url=loopback.url)}):
        await assess(Image.from_bytes(png(10, 10)))
        await assess(Image.from_bytes(png(10, 10)))
        await assess(Image.from_bytes(png(10, 11)))
    first, same, other = (r.compiled_prompt_hash for r in trace.records())
    assert first == same != other


async def test_a_pdf_goes_to_openai_chat_as_a_file_part(loopback: Loopback) -> None:
    loopback.reply = lambda path, body: replies.chat('{"value": 3}')

    @infer("How many pages does the report have?", model="oai:gpt-4o")
    def pages(report: Document) -> int: ...

    with configure(providers={"oai": OpenAI(api_key=KEY, base_url=loopback.url)}):
        assert await pages(Document.from_bytes(pdf(3))) == 3
    messages = loopback.bodies[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "user"]
    caption, file = messages[2]["content"]
    assert caption == {"type": "text", "text": "report (document, application/pdf):"}
    assert file["type"] == "file" and file["file"]["file_data"].startswith("data:application/pdf;base64,JVBER")
    # 3 pages × (3000 + a page image at gpt-4o's tile rule) reserved
    estimated = trace.records()[-1].attempt_records[0].estimated_input_tokens
    assert estimated is not None and estimated > 3 * 3000


async def test_an_image_url_goes_to_openai_responses(loopback: Loopback) -> None:
    loopback.reply = lambda path, body: replies.responses(ANSWER)

    @infer("Assess the damage in the photo.", model="oai:gpt-4.1")
    def assess(photo: Image) -> Damage: ...

    with configure(providers={"oai": OpenAI(api_key=KEY, base_url=loopback.url, api="responses")}):
        await assess(Image.from_url("https://example.com/claims/77.jpg"))
    (path, body), = loopback.requests
    assert path == "/responses"
    parts = body["input"][0]["content"]
    assert parts[-1] == {"type": "input_image", "image_url": "https://example.com/claims/77.jpg", "detail": "auto"}


async def test_audio_goes_to_gemini_inline(loopback: Loopback) -> None:
    loopback.reply = lambda path, body: replies.gemini('{"value": ["hello"]}')

    @infer("Transcribe the clip.", model="g:gemini-2.5-flash")
    def transcribe(clip: Audio) -> list[str]: ...

    with configure(providers={"g": Gemini(api_key=KEY, base_url=loopback.url)}):
        await transcribe(Audio.from_bytes(wav(2.0)))
    parts = loopback.bodies[0]["contents"][0]["parts"]
    assert parts[-2] == {"text": "clip (audio, audio/wav):"}
    assert parts[-1]["inlineData"]["mimeType"] == "audio/wav"
    estimated = trace.records()[-1].attempt_records[0].estimated_input_tokens
    assert estimated is not None and estimated >= 64  # 2 s × 32 tokens/s


async def test_a_provider_that_cannot_take_the_input_fails_before_sending(loopback: Loopback) -> None:
    @infer("Transcribe the clip.", model="claude:claude-sonnet-4-5")
    def transcribe(clip: Audio) -> str: ...

    with configure(providers={"claude": Anthropic(api_key=KEY, base_url=loopback.url)}):
        with pytest.raises(UnsupportedInputError, match="Anthropic cannot take this audio.*transcribe it first") as info:
            await transcribe(Audio.from_bytes(wav(0.5)))
    assert info.value.provider == "Anthropic" and info.value.media_type == "audio/wav"
    assert loopback.requests == []
    record = trace.records()[-1]
    assert record.status == "failed" and record.error is not None and "UnsupportedInputError" in record.error


async def test_a_contract_with_media_fields_as_an_input(loopback: Loopback) -> None:
    loopback.reply = lambda path, body: replies.anthropic(ANSWER)

    @contract
    class Claim:
        photos: list[Image]
        receipt: Document | None = None
        note: str

    @infer("Assess the claim.", model="claude:claude-sonnet-4-5")
    def assess(claim: Claim) -> Damage: ...

    claim = Claim(photos=[Image.from_bytes(png(5, 5)), Image.from_bytes(png(6, 6))], receipt=Document.from_bytes(b"total: 12 EUR", "text/plain"), note="hail")
    with configure(providers={"claude": Anthropic(api_key=KEY, base_url=loopback.url)}):
        await assess(claim)
    blocks = loopback.bodies[0]["messages"][0]["content"]
    inline = json.loads(blocks[0]["text"].split("claim: ", 1)[1])
    assert inline["note"] == "hail" and inline["photos"][0]["sha256"] == claim.photos[0].sha256
    assert [b["type"] for b in blocks[1:]] == ["text", "image", "text", "image", "text", "document"]
    assert blocks[1]["text"] == "claim.photos[0] (image, image/png):"
    assert blocks[6]["source"] == {"type": "text", "media_type": "text/plain", "data": "total: 12 EUR"}


async def test_a_usd_budget_counts_the_image_before_sending(loopback: Loopback) -> None:
    """A budget the text alone fits in, but not with the image: refused before anything is sent."""
    loopback.reply = lambda path, body: replies.anthropic(ANSWER, input_tokens=60)

    @infer("Assess the damage in the photo.", model="claude:claude-sonnet-4-5", max_tokens=50, budget=Budget(usd="0.004"))
    def assess(photo: Image | None) -> Damage: ...

    price = Price(input_per_mtok=3, output_per_mtok=15)
    with configure(providers={"claude": Anthropic(api_key=KEY, base_url=loopback.url)}, prices={"claude:claude-sonnet-4-5": price}):
        await assess(None)  # the text alone fits
        with pytest.raises(BudgetExceeded) as info:
            await assess(Image.from_bytes(png(2000, 2000)))  # ~4784 image tokens do not
    assert info.value.axis == "usd"
    assert len(loopback.requests) == 1


def test_a_bytes_parameter_is_a_compile_error_naming_the_fix() -> None:
    with pytest.raises(StratumCompileError, match=r"parameter 'photo' is typed bytes.*stratum.Image, stratum.Document or stratum.Audio.*Image.from_bytes\(data, 'image/png'\)"):

        @infer("Describe the photo.")
        def describe(photo: bytes) -> str: ...

    with pytest.raises(StratumCompileError, match="'scans' is typed bytes"):

        @infer("Describe the scans.")
        def describe_all(scans: list[bytes] | None) -> str: ...


def test_media_in_a_result_is_a_compile_error() -> None:
    @contract
    class Picture:
        image: Image

    with pytest.raises(StratumCompileError, match="inputs only"):

        @infer("Draw a cat.")
        def draw() -> Picture: ...


async def test_scripted_models_see_media_messages_and_keep_working() -> None:
    from stratum.testing import ScriptedModel, use_model

    model = ScriptedModel([{"severity": "none", "summary": "fine"}])

    @infer("Assess the damage in the photo.")
    def assess(photo: Image) -> Damage: ...

    with use_model(model):
        assert (await assess(Image.from_bytes(png(3, 3)))).severity == "none"
    request = model.requests[0]
    media = [m for m in request.messages if m.kind == "media"]
    assert len(media) == 1 and media[0].media == Image.from_bytes(png(3, 3))
    assert "photo: [image image/png" in request.instructions and "(image, image/png):" not in request.instructions


async def test_a_bare_list_contract_is_sent_non_strict_to_openai(loopback: Loopback) -> None:
    loopback.reply = lambda path, body: replies.chat('{"title": "T", "key_points": ["a", 2]}')

    @contract
    class Digest:
        title: str
        key_points: list

    @infer("Digest the text.", model="oai:gpt-4o")
    def digest(text: str) -> Digest: ...

    with configure(providers={"oai": OpenAI(api_key=KEY, base_url=loopback.url)}):
        result = await digest("...")
    assert result.key_points == ["a", 2]
    fmt = loopback.bodies[0]["response_format"]["json_schema"]
    assert fmt["strict"] is False and fmt["schema"]["properties"]["key_points"]["items"] == {}


async def test_a_cassette_stores_the_image_hash_and_replays_it(loopback: Loopback, tmp_path: object) -> None:
    from pathlib import Path

    from stratum.testing import cassette

    path = Path(str(tmp_path)) / "photo.yaml"
    loopback.reply = lambda p, body: replies.anthropic(ANSWER)
    photo = Image.from_bytes(png(300, 200))

    @infer("Assess the damage in the photo.", model="claude:claude-sonnet-4-5")
    def assess(photo: Image) -> Damage: ...

    with configure(providers={"claude": Anthropic(api_key=KEY, base_url=loopback.url)}):
        with cassette(path, record_mode="all"):
            await assess(photo)
        text = path.read_text()
        assert f"sha256={photo.sha256};bytes={photo.size}" in text
        assert photo.base64()[:200] not in text and KEY not in text
        with cassette(path):  # replay: the live request (with the bytes) matches the hashed one
            assert (await assess(Image.from_bytes(png(300, 200)))).severity == "minor"
    assert len(loopback.requests) == 1
