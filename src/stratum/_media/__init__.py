"""Media inputs (`Image`, `Document`, `Audio`): types, header probes and argument walking."""

from __future__ import annotations

from stratum._media._collect import annotation_has_media, find_media, replace_media
from stratum._media._types import MEDIA_TYPES, Audio, Document, Image, Media, MediaKind, is_media_type, media_of

__all__ = (
    "MEDIA_TYPES",
    "Audio",
    "Document",
    "Image",
    "Media",
    "MediaKind",
    "annotation_has_media",
    "find_media",
    "is_media_type",
    "media_of",
    "replace_media",
)
