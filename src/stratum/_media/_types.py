"""`Image`, `Document` and `Audio`: media inputs for `@infer` parameters and contract fields.

A media value holds either the file's bytes (`from_path`, `from_bytes`) or a URL the provider
fetches itself (`from_url`), with its media type. It is sent as its own content part of the
user turn, never as text; traces and cassettes keep its SHA-256 and size, never its bytes.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from stratum._media._probe import audio_seconds, guess_media_type, image_size, pdf_pages, sniff_media_type
from stratum.exceptions import UnsupportedInputError

__all__ = ("MEDIA_TYPES", "Audio", "Document", "Image", "Media", "MediaKind", "is_media_type", "media_of")

MediaKind = Literal["image", "document", "audio"]

_UNSET: Any = object()
"""Marks a probe result not computed yet (None is a valid result: "the header does not say")."""


class Media:
    """A media input: bytes or a URL, with a media type. Build one with a class method.

    Equal media have the same kind, media type and content (SHA-256 of the bytes, or the URL).
    """

    kind: ClassVar[MediaKind]
    _prefixes: ClassVar[tuple[str, ...]]
    _examples: ClassVar[str]

    __slots__ = ("_duration", "_pages", "_sha256", "_size", "data", "media_type", "name", "url")

    media_type: str
    """The IANA media type sent to the provider (`"image/png"`, `"application/pdf"`...)."""
    data: bytes | None
    """The content, or None for a URL input."""
    url: str | None
    """The URL the provider fetches, or None for inline bytes."""
    name: str | None
    """The file name (from `from_path`, or the URL's last segment), used as a label and filename."""

    def __init__(self, *, media_type: str, data: bytes | None = None, url: str | None = None, name: str | None = None) -> None:
        if (data is None) == (url is None):
            raise TypeError(f"{type(self).__name__} holds bytes or a URL; build it with from_path, from_bytes or from_url")
        media_type = media_type.strip().lower()
        if not media_type.startswith(self._prefixes):
            raise UnsupportedInputError(
                f"{type(self).__name__} cannot hold {media_type!r}; it takes {self._examples}. "
                f"Use the input type that fits the file (Image, Document or Audio) or pass the right media_type=",
                media_type=media_type,
            )
        self.media_type = media_type
        self.data = data
        self.url = url
        self.name = name
        self._sha256: str | None = None
        self._size: Any = _UNSET
        self._pages: Any = _UNSET
        self._duration: Any = _UNSET

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], media_type: str | None = None) -> Self:
        """Read a file; its media type comes from its first bytes, else from its extension.

        Raises:
            FileNotFoundError: the file does not exist.
            UnsupportedInputError: the media type is unknown or does not fit this input type.
        """
        file = Path(path)
        data = file.read_bytes()
        chosen = media_type or sniff_media_type(data) or guess_media_type(file.name)
        if chosen is None:
            raise UnsupportedInputError(
                f"cannot tell the media type of {file.name!r}; pass it, e.g. "
                f"{cls.__name__}.from_path({str(file)!r}, media_type={cls._default_example()!r})",
                media_type="",
            )
        return cls(media_type=chosen, data=data, name=file.name)

    @classmethod
    def from_bytes(cls, data: bytes, media_type: str | None = None) -> Self:
        """Wrap bytes in memory; without `media_type` it is read from the bytes' header.

        Raises:
            UnsupportedInputError: the media type is unknown or does not fit this input type.
        """
        if not isinstance(data, bytes | bytearray | memoryview):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"{cls.__name__}.from_bytes takes bytes, got {type(data).__name__}")
        raw = bytes(data)
        chosen = media_type or sniff_media_type(raw)
        if chosen is None:
            raise UnsupportedInputError(
                f"cannot tell the media type of these {len(raw)} bytes; pass it, e.g. "
                f"{cls.__name__}.from_bytes(data, {cls._default_example()!r})",
                media_type="",
            )
        return cls(media_type=chosen, data=raw)

    @classmethod
    def from_url(cls, url: str, media_type: str | None = None) -> Self:
        """Refer to a file by URL: the provider fetches it (not every provider can; see the docs).

        Raises:
            UnsupportedInputError: the URL is not http(s)/gs or the media type cannot be told.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "gs"):
            raise UnsupportedInputError(
                f"{cls.__name__}.from_url takes an http(s):// or gs:// URL, got {url[:60]!r}; "
                f"for a local file use {cls.__name__}.from_path(...)",
                media_type=media_type or "",
            )
        name = parts.path.rsplit("/", 1)[-1] or None
        chosen = media_type or (guess_media_type(name) if name else None)
        if chosen is None:
            raise UnsupportedInputError(
                f"cannot tell the media type of {url[:80]!r} from its name; pass it, e.g. "
                f"{cls.__name__}.from_url(url, media_type={cls._default_example()!r})",
                media_type="",
            )
        return cls(media_type=chosen, url=url, name=name)

    @classmethod
    def _default_example(cls) -> str:
        return cls._examples.split(",")[0].strip()

    # -- what the runtime reads ---------------------------------------------------------------

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the bytes, or of the URL for a URL input: what traces keep."""
        if self._sha256 is None:
            content = self.data if self.data is not None else (self.url or "").encode()
            self._sha256 = hashlib.sha256(content).hexdigest()
        return self._sha256

    @property
    def size(self) -> int | None:
        """The number of bytes, or None for a URL input."""
        return None if self.data is None else len(self.data)

    @property
    def label(self) -> str:
        """A short description for instruction text and captions (type, size, hash prefix)."""
        where = f"{len(self.data)} bytes" if self.data is not None else f"url {self.url}"
        return f"{self.kind} {self.media_type}, {where}, sha256 {self.sha256[:12]}"

    def base64(self) -> str:
        """The bytes as standard base64 (a URL input has none: raises `UnsupportedInputError`)."""
        if self.data is None:
            raise UnsupportedInputError(
                f"this {self.kind} is a URL ({self.url}); this provider needs the bytes: "
                f"download it and use {type(self).__name__}.from_bytes(...)",
                media_type=self.media_type,
            )
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        """`data:<media type>;base64,<bytes>`."""
        return f"data:{self.media_type};base64,{self.base64()}"

    def text(self) -> str | None:
        """The content decoded as UTF-8 for `text/*` media with bytes, else None."""
        if self.data is None or not self.media_type.startswith("text/"):
            return None
        return self.data.decode("utf-8", errors="replace")

    def image_size(self) -> tuple[int, int] | None:
        """(width, height) from the image header; None for a URL, a non-image or an odd header."""
        if self._size is _UNSET:
            self._size = image_size(self.data) if self.data is not None and self.kind == "image" else None
        size: tuple[int, int] | None = self._size
        return size

    def pdf_pages(self) -> int | None:
        """The page count of a PDF with bytes, else None."""
        if self._pages is _UNSET:
            is_pdf = self.data is not None and self.media_type == "application/pdf"
            self._pages = pdf_pages(self.data) if is_pdf and self.data is not None else None
        pages: int | None = self._pages
        return pages

    def audio_seconds(self) -> float | None:
        """The exact length of a WAV input in seconds, else None."""
        if self._duration is _UNSET:
            self._duration = audio_seconds(self.data, self.media_type) if self.data is not None else None
        seconds: float | None = self._duration
        return seconds

    def reference(self) -> dict[str, Any]:
        """The JSON-ready form traces, cassettes and the prompt hash keep (never the bytes)."""
        ref: dict[str, Any] = {"type": self.kind, "media_type": self.media_type, "sha256": self.sha256}
        if self.data is not None:
            ref["bytes"] = len(self.data)
        if self.url is not None:
            ref["url"] = self.url
        if self.name is not None:
            ref["name"] = self.name
        return ref

    # -- value semantics ----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Media):
            return NotImplemented
        return (self.kind, self.media_type, self.sha256, self.url is None) == (
            other.kind,
            other.media_type,
            other.sha256,
            other.url is None,
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.sha256))

    def __repr__(self) -> str:
        source = f"name={self.name!r}, " if self.name else ""
        where = f"bytes={len(self.data)}" if self.data is not None else f"url={self.url!r}"
        return f"{type(self).__name__}({source}media_type={self.media_type!r}, {where}, sha256={self.sha256[:12]!r})"

    # -- pydantic: a contract field of this type -------------------------------------------------

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize, when_used="json-unless-none"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {
            "type": "object",
            "description": f"an {cls.kind} input, sent to the model as its own content part",
            "properties": {"type": {"const": cls.kind}, "media_type": {"type": "string"}, "sha256": {"type": "string"}},
        }

    @classmethod
    def _validate(cls, value: Any) -> Media:
        if isinstance(value, cls):
            return value
        kind = "bytes" if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ValueError(
            f"expected a stratum.{cls.__name__}, got {kind}; build one with "
            f"{cls.__name__}.from_path(...), .from_bytes(data, media_type) or .from_url(...)"
        )


def _serialize(value: Media) -> dict[str, Any]:
    return value.reference()


class Image(Media):
    """An image input: PNG, JPEG, GIF or WebP (HEIC/HEIF for Gemini).

    Example:
        ```python
        @infer("Describe the damage shown in the photo")
        def assess(photo: Image, policy: str) -> Assessment: ...

        await assess(Image.from_path("claim.jpg"), policy="home")
        ```
    """

    kind = "image"
    _prefixes = ("image/",)
    _examples = "image/png, image/jpeg, image/gif, image/webp"
    __slots__ = ()


class Document(Media):
    """A document input: a PDF, or a text file (`text/plain`, `text/markdown`, `text/csv`...)."""

    kind = "document"
    _prefixes = ("application/pdf", "text/")
    _examples = "application/pdf, text/plain, text/markdown, text/csv"
    __slots__ = ()


class Audio(Media):
    """An audio input: WAV or MP3 for OpenAI; WAV, MP3, FLAC, OGG, AAC... for Gemini."""

    kind = "audio"
    _prefixes = ("audio/",)
    _examples = "audio/wav, audio/mpeg, audio/flac, audio/ogg"
    __slots__ = ()


def media_of(value: Any) -> Media | None:
    """`value` when it is a media input, else None (a cheap check for the prompt compiler)."""
    return value if isinstance(value, Media) else None


def is_media_type(tp: Any) -> bool:
    """True when `tp` is `Image`, `Document`, `Audio` (or `Media`)."""
    return isinstance(tp, type) and issubclass(tp, Media)


MEDIA_TYPES: Mapping[str, type[Media]] = MappingProxyType({"image": Image, "document": Document, "audio": Audio})
"""The input types by kind."""
