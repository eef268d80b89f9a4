"""Media inputs encoded as each dialect's content parts, and clear errors where a dialect cannot."""

from __future__ import annotations

import base64

import pytest

from stratum._media import Audio, Document, Image
from stratum.exceptions import UnsupportedInputError
from stratum.providers._media_parts import anthropic_parts, gemini_parts, openai_chat_parts, openai_responses_parts
from tests.inputs.media_files import pdf, png, wav

PNG = png(2, 2)
B64 = base64.b64encode(PNG).decode()


def test_images_in_every_dialect() -> None:
    image = Image.from_bytes(PNG)
    assert openai_chat_parts(image, "photo:")[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64}"}}
    assert openai_responses_parts(image, "photo:")[1] == {
        "type": "input_image",
        "image_url": f"data:image/png;base64,{B64}",
        "detail": "auto",
    }
    assert anthropic_parts(image, "photo:")[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": B64},
    }
    assert gemini_parts(image, "photo:") == [{"text": "photo:"}, {"inlineData": {"mimeType": "image/png", "data": B64}}]


def test_image_urls() -> None:
    image = Image.from_url("https://example.com/a.png")
    assert openai_chat_parts(image, "c")[1]["image_url"] == {"url": "https://example.com/a.png"}
    assert openai_responses_parts(image, "c")[1]["image_url"] == "https://example.com/a.png"
    assert anthropic_parts(image, "c")[1]["source"] == {"type": "url", "url": "https://example.com/a.png"}
    assert gemini_parts(image, "c")[1] == {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}}


def test_pdfs() -> None:
    data = pdf(1)
    doc = Document.from_bytes(data)
    b64 = base64.b64encode(data).decode()
    assert openai_chat_parts(doc, "c")[1] == {
        "type": "file",
        "file": {"filename": f"document-{doc.sha256[:12]}.pdf", "file_data": f"data:application/pdf;base64,{b64}"},
    }
    assert openai_responses_parts(doc, "c")[1]["file_data"] == f"data:application/pdf;base64,{b64}"
    assert anthropic_parts(doc, "c")[1] == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": b64},
    }
    url = Document.from_url("https://example.com/r.pdf")
    assert openai_responses_parts(url, "c")[1] == {"type": "input_file", "file_url": "https://example.com/r.pdf"}
    assert anthropic_parts(url, "c")[1]["source"] == {"type": "url", "url": "https://example.com/r.pdf"}
    with pytest.raises(UnsupportedInputError, match=r"inline data only.*api='responses'") as info:
        openai_chat_parts(url, "c")
    assert info.value.provider == "OpenAI Chat Completions"


def test_text_documents_go_as_text() -> None:
    doc = Document.from_bytes(b"line one", "text/plain")
    (part,) = openai_chat_parts(doc, "notes:")
    assert part == {"type": "text", "text": "notes:\n<document>\nline one\n</document>"}
    assert anthropic_parts(doc, "notes:")[1]["source"] == {"type": "text", "media_type": "text/plain", "data": "line one"}


def test_audio() -> None:
    clip = Audio.from_bytes(wav(0.01))
    part = openai_chat_parts(clip, "c")[1]
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
    assert gemini_parts(clip, "c")[1]["inlineData"]["mimeType"] == "audio/wav"
    with pytest.raises(UnsupportedInputError, match="Claude takes no audio input; transcribe it first"):
        anthropic_parts(clip, "c")
    with pytest.raises(UnsupportedInputError, match="Responses API takes no audio input; use OpenAI\\(api='chat'\\)"):
        openai_responses_parts(clip, "c")
    with pytest.raises(UnsupportedInputError, match="WAV or MP3"):
        openai_chat_parts(Audio.from_bytes(b"fLaC" + b"\x00" * 40), "c")


def test_image_formats_a_dialect_cannot_take() -> None:
    heic = Image.from_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 20)
    assert heic.media_type == "image/heic"
    with pytest.raises(UnsupportedInputError, match="Anthropic cannot take this image \\(image/heic\\)"):
        anthropic_parts(heic, "c")
    with pytest.raises(UnsupportedInputError, match="convert the image to PNG or JPEG"):
        openai_chat_parts(heic, "c")
    assert gemini_parts(heic, "c")[1]["inlineData"]["mimeType"] == "image/heic"
