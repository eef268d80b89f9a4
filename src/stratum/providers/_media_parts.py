"""Media inputs as each wire dialect's content parts.

Every function takes one `Image` / `Document` / `Audio` and returns the JSON part(s) its
dialect sends, or raises `UnsupportedInputError` naming the provider and the fix when the
dialect cannot take that media type or that way of passing it (bytes or URL).

Shapes (from each provider's API reference):
- OpenAI Chat: `image_url` (data URL or URL), `file` (`file_data` data URL), `input_audio`
  (base64 WAV/MP3).
- OpenAI Responses: `input_image` (`image_url`), `input_file` (`file_data` or `file_url`).
- Anthropic Messages: `image` / `document` blocks with a `base64`, `url` or `text` source.
- Gemini: `inlineData` (`mimeType`, base64 `data`) or `fileData` (`mimeType`, `fileUri`).
Text documents go to OpenAI as text parts, since its file inputs are for PDFs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from stratum._media import Media
from stratum._runtime.model import Message
from stratum.exceptions import UnsupportedInputError

__all__ = (
    "anthropic_content",
    "anthropic_parts",
    "chat_message",
    "gemini_content",
    "gemini_parts",
    "has_media",
    "openai_chat_parts",
    "openai_responses_parts",
    "responses_content",
)

_ANTHROPIC_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_OPENAI_IMAGES = _ANTHROPIC_IMAGES
_OPENAI_AUDIO: Mapping[str, str] = MappingProxyType(
    {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3"}
)


def _unsupported(media: Media, provider: str, why: str, fix: str) -> UnsupportedInputError:
    return UnsupportedInputError(
        f"{provider} cannot take this {media.kind} ({media.media_type}{', by URL' if media.url else ''}): "
        f"{why}; {fix}",
        media_type=media.media_type,
        provider=provider,
    )


def _text_document(media: Media, caption: str) -> dict[str, Any]:
    return {"text": f"{caption}\n<document>\n{media.text()}\n</document>"}


def _filename(media: Media) -> str:
    if media.name:
        return media.name
    extension = {"application/pdf": ".pdf"}.get(media.media_type, "")
    return f"{media.kind}-{media.sha256[:12]}{extension}"


def openai_chat_parts(media: Media, caption: str, provider: str = "OpenAI Chat Completions") -> list[dict[str, Any]]:
    """Content parts of one media input for `/chat/completions` (a caption text part first)."""
    head: dict[str, Any] = {"type": "text", "text": caption}
    if media.kind == "image":
        if media.media_type not in _OPENAI_IMAGES:
            raise _unsupported(media, provider, "it takes PNG, JPEG, GIF and WebP images", "convert the image to PNG or JPEG")
        url = media.url if media.url is not None else media.data_url()
        return [head, {"type": "image_url", "image_url": {"url": url}}]
    if media.kind == "document":
        if media.media_type.startswith("text/"):
            if media.data is None:
                raise _unsupported(media, provider, "text documents are sent inline", "use Document.from_path or from_bytes")
            return [{"type": "text", **_text_document(media, caption)}]
        if media.url is not None:
            raise _unsupported(
                media, provider, "Chat Completions takes files as inline data only",
                "use Document.from_path/from_bytes, or OpenAI(api='responses') which takes file URLs",
            )
        return [head, {"type": "file", "file": {"filename": _filename(media), "file_data": media.data_url()}}]
    fmt = _OPENAI_AUDIO.get(media.media_type)
    if fmt is None or media.url is not None:
        raise _unsupported(
            media, provider, "audio goes inline as WAV or MP3 only",
            "convert the audio to WAV or MP3 and pass it with Audio.from_path/from_bytes (and use an audio model)",
        )
    return [head, {"type": "input_audio", "input_audio": {"data": media.base64(), "format": fmt}}]


def openai_responses_parts(media: Media, caption: str) -> list[dict[str, Any]]:
    """Content parts of one media input for `/responses`."""
    provider = "OpenAI Responses"
    head: dict[str, Any] = {"type": "input_text", "text": caption}
    if media.kind == "image":
        if media.media_type not in _OPENAI_IMAGES:
            raise _unsupported(media, provider, "it takes PNG, JPEG, GIF and WebP images", "convert the image to PNG or JPEG")
        url = media.url if media.url is not None else media.data_url()
        return [head, {"type": "input_image", "image_url": url, "detail": "auto"}]
    if media.kind == "document":
        if media.media_type.startswith("text/"):
            if media.data is None:
                raise _unsupported(media, provider, "text documents are sent inline", "use Document.from_path or from_bytes")
            return [{"type": "input_text", **_text_document(media, caption)}]
        if media.url is not None:
            return [head, {"type": "input_file", "file_url": media.url}]
        return [head, {"type": "input_file", "filename": _filename(media), "file_data": media.data_url()}]
    raise _unsupported(
        media, provider, "the Responses API takes no audio input",
        "use OpenAI(api='chat') with an audio model (gpt-4o-audio-preview...), or Gemini",
    )


def anthropic_parts(media: Media, caption: str) -> list[dict[str, Any]]:
    """Content blocks of one media input for Anthropic's `/v1/messages`."""
    provider = "Anthropic"
    head: dict[str, Any] = {"type": "text", "text": caption}
    if media.kind == "audio":
        raise _unsupported(media, provider, "Claude takes no audio input", "transcribe it first, or send it to Gemini or an OpenAI audio model")
    if media.kind == "image":
        if media.media_type not in _ANTHROPIC_IMAGES:
            raise _unsupported(media, provider, "it takes PNG, JPEG, GIF and WebP images", "convert the image to PNG or JPEG")
        source: dict[str, Any]
        if media.url is not None:
            source = {"type": "url", "url": media.url}
        else:
            source = {"type": "base64", "media_type": media.media_type, "data": media.base64()}
        return [head, {"type": "image", "source": source}]
    if media.media_type.startswith("text/"):
        if media.data is None:
            raise _unsupported(media, provider, "text documents are sent inline", "use Document.from_path or from_bytes")
        source = {"type": "text", "media_type": "text/plain", "data": media.text()}
    elif media.media_type != "application/pdf":
        raise _unsupported(media, provider, "it takes PDF and plain-text documents", "convert the document to PDF")
    elif media.url is not None:
        source = {"type": "url", "url": media.url}
    else:
        source = {"type": "base64", "media_type": "application/pdf", "data": media.base64()}
    block: dict[str, Any] = {"type": "document", "source": source}
    if media.name:
        block["title"] = media.name
    return [head, block]


def gemini_parts(media: Media, caption: str) -> list[dict[str, Any]]:
    """Parts of one media input for Gemini's `generateContent`.

    A URL goes as `fileData.fileUri`: a Files API URI, a `gs://` object, or a public HTTP(S) URL
    on models that fetch them.
    """
    head: dict[str, Any] = {"text": caption}
    if media.url is not None:
        return [head, {"fileData": {"mimeType": media.media_type, "fileUri": media.url}}]
    return [head, {"inlineData": {"mimeType": media.media_type, "data": media.base64()}}]


# -- whole turns: the dialects call these only for calls that carry media ------------------------


def has_media(messages: Sequence[Message]) -> bool:
    """True when some message carries a media input."""
    return any(m.media is not None for m in messages)


def chat_message(message: Message, provider: str = "OpenAI Chat Completions") -> dict[str, Any]:
    """One Chat Completions message: content parts for a media message, plain text otherwise."""
    if message.media is None:
        return {"role": message.role, "content": message.content}
    return {"role": message.role, "content": openai_chat_parts(message.media, message.content, provider)}


def responses_content(group: Sequence[Message]) -> list[dict[str, Any]]:
    """The content parts of one Responses user turn."""
    parts: list[dict[str, Any]] = []
    for m in group:
        if m.media is None:
            parts.append({"type": "input_text", "text": m.content})
        else:
            parts.extend(openai_responses_parts(m.media, m.content))
    return parts


def anthropic_content(group: Sequence[Message]) -> list[dict[str, Any]]:
    """The content blocks of one Anthropic turn."""
    blocks: list[dict[str, Any]] = []
    for m in group:
        if m.media is None:
            blocks.append({"type": "text", "text": m.content})
        else:
            blocks.extend(anthropic_parts(m.media, m.content))
    return blocks


def gemini_content(group: Sequence[Message]) -> list[dict[str, Any]]:
    """The parts of one Gemini turn."""
    parts: list[dict[str, Any]] = []
    for m in group:
        if m.media is None:
            parts.append({"text": m.content})
        else:
            parts.extend(gemini_parts(m.media, m.content))
    return parts
