"""What a media file's header says: its type, an image's size, a PDF's pages, a WAV's length.

Only headers are read (and for a PDF, its page tree), so probing is cheap and never decodes
pixels or audio. Each probe returns None when the bytes do not say: the token estimate then
falls back to a documented worst case instead of guessing low.
"""

from __future__ import annotations

import io
import mimetypes
import warnings
import wave
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ("audio_seconds", "guess_media_type", "image_size", "pdf_pages", "sniff_media_type")

# Magic numbers of the formats the providers take (the first bytes of a file).
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\xff\xfb", 0, "audio/mpeg"),
    (b"\xff\xf3", 0, "audio/mpeg"),
    (b"\xff\xf2", 0, "audio/mpeg"),
    (b"fLaC", 0, "audio/flac"),
    (b"OggS", 0, "audio/ogg"),
)

_EXTRA_TYPES: Mapping[str, str] = MappingProxyType({
    ".md": "text/markdown",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".opus": "audio/ogg",
    ".aac": "audio/aac",
})


def sniff_media_type(data: bytes) -> str | None:
    """The media type the first bytes of `data` announce, or None when they name none we know."""
    for magic, offset, media_type in _SIGNATURES:
        if data.startswith(magic, offset):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
        if brand.startswith(b"M4A"):
            return "audio/mp4"
    return None


def guess_media_type(name: str) -> str | None:
    """The media type a file name's extension suggests, or None."""
    lowered = name.lower()
    for ext, media_type in _EXTRA_TYPES.items():
        if lowered.endswith(ext):
            return media_type
    guessed, _ = mimetypes.guess_type(lowered, strict=False)
    return guessed


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) in pixels from the image header, or None when it cannot be read."""
    import imagesize  # pyright: ignore[reportMissingTypeStubs]

    try:
        width, height = imagesize.get(io.BytesIO(data))  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    except (ValueError, OSError, IndexError):  # a truncated or odd header
        return None
    w, h = int(width), int(height)  # pyright: ignore[reportUnknownArgumentType]
    return (w, h) if w > 0 and h > 0 else None


def pdf_pages(data: bytes) -> int | None:
    """The page count of a PDF, or None when the file cannot be parsed."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a damaged but readable file warns: its pages still count
            return len(PdfReader(io.BytesIO(data), strict=False).pages)
    except (PyPdfError, ValueError, KeyError, OSError, TypeError, AttributeError):
        return None


def audio_seconds(data: bytes, media_type: str) -> float | None:
    """The exact length of a WAV file in seconds, or None for other formats or a bad header."""
    if media_type not in ("audio/wav", "audio/x-wav", "audio/wave"):
        return None
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            rate = wav.getframerate()
            return wav.getnframes() / rate if rate > 0 else None
    except (wave.Error, EOFError, OSError):
        return None
