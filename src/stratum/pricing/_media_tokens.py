"""Input tokens of media inputs, by each provider's documented rule, rounded up.

Budget reservations must stay an upper bound, so every rule here errs high:

- **OpenAI images.** Tile models (gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1, o3): the image is fitted
  into 2048×2048, its short side scaled down to 768, then `base + per_tile × 512-px tiles`
  (85 + 170 for gpt-4o/4.1; 70 + 140 for gpt-5; 75 + 150 for o1/o3; 2833 + 5667 for
  gpt-4o-mini). Patch models (gpt-4.1-mini/nano, gpt-5-mini/nano, o4-mini): 32-px patches,
  at most 1536, times the model's multiplier (1.62, 2.46, 1.72). A model not listed gets the
  larger of the gpt-4o tile rule and the 2.46 patch rule.
- **Anthropic images.** `width × height / 750` after scaling the long edge down to 2576 px,
  at most 4784 tokens (the high-resolution models' ceiling; older models resize to ~1600).
- **Gemini images.** 258 tokens up to 384×384, else 258 per 768-px tile, and never less than
  1120 (Gemini 3's default media resolution).
- **Unknown dimensions** (a URL, an unreadable header): the rule's worst case.
- **PDFs.** Per page, 3000 text tokens plus one page image (a 1700×2200 render) by the
  provider's image rule; pages are counted from the file, and a PDF by URL counts as 100 pages.
- **Text documents** are counted as text.
- **Audio.** 32 tokens per second (Gemini's rate, the highest documented); a WAV's length is
  read from its header, other formats are assumed to be at least 8 kbit/s (so bytes / 1000
  seconds), and audio by URL counts as one hour.

A model whose provider is unknown gets the largest of the three rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal

from stratum._media import Media

__all__ = (
    "AUDIO_TOKENS_PER_SECOND",
    "PDF_TEXT_TOKENS_PER_PAGE",
    "Family",
    "family_of",
    "image_tokens",
    "media_tokens",
)

Family = Literal["openai", "anthropic", "gemini"]

AUDIO_TOKENS_PER_SECOND = 32
"""Gemini bills 32 tokens per second of audio; OpenAI's audio models use fewer."""

AUDIO_MIN_BYTES_PER_SECOND = 1000
"""A compressed audio file of unknown length is taken to be at least 8 kbit/s."""

AUDIO_URL_SECONDS = 3600
"""An audio input by URL (its length unknown) counts as one hour."""

PDF_TEXT_TOKENS_PER_PAGE = 3000
"""Anthropic documents 1,500-3,000 text tokens per PDF page, on top of the page's image."""

PDF_URL_PAGES = 100
"""A PDF by URL (its pages unknown) counts as 100 pages, Anthropic's per-request page limit."""

_PAGE_RENDER = (1700, 2200)
"""A US-letter page rendered at 200 dpi: the image a provider makes of each PDF page."""

_ANTHROPIC_LONG_EDGE = 2576
_ANTHROPIC_MAX = 4784
_GEMINI_FLOOR = 1120


def _openai_tiles(width: int, height: int, base: int, per_tile: int) -> int:
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = w * scale, h * scale
    return base + per_tile * math.ceil(w / 512) * math.ceil(h / 512)


def _openai_patches(width: int, height: int, multiplier: float) -> int:
    # The real rule scales the image down until it fits 1536 patches: capping the count is
    # the same or higher.
    patches = min(math.ceil(width / 32) * math.ceil(height / 32), 1536)
    return math.ceil(patches * multiplier)


ImageRule = Callable[[int, int], int]


def _tiles(base: int, per_tile: int) -> ImageRule:
    return lambda w, h: _openai_tiles(w, h, base, per_tile)


def _patches(multiplier: float) -> ImageRule:
    return lambda w, h: _openai_patches(w, h, multiplier)


_OPENAI_RULES: Mapping[str, ImageRule] = MappingProxyType({
    "gpt-4o-mini": _tiles(2833, 5667),
    "gpt-4o": _tiles(85, 170),
    "gpt-4.1-mini": _patches(1.62),
    "gpt-4.1-nano": _patches(2.46),
    "gpt-4.1": _tiles(85, 170),
    "gpt-4.5-preview": _tiles(85, 170),
    "gpt-5-mini": _patches(1.62),
    "gpt-5-nano": _patches(2.46),
    "gpt-5": _tiles(70, 140),
    "o4-mini": _patches(1.72),
    "o3": _tiles(75, 150),
    "o1": _tiles(75, 150),
})


def _openai_default(width: int, height: int) -> int:
    return max(_openai_tiles(width, height, 85, 170), _openai_patches(width, height, 2.46))


def _openai_rule(model: str) -> ImageRule:
    # exact names and dated snapshots only ("gpt-4o-2024-08-06"): "gpt-5.1-mini" is not "gpt-5"
    name = model.rsplit("/", 1)[-1].lower()
    rule = _OPENAI_RULES.get(name)
    if rule is None and "-20" in name:
        rule = _OPENAI_RULES.get(name.split("-20", 1)[0])
    return rule or _openai_default


def _anthropic(width: int, height: int) -> int:
    w, h = float(width), float(height)
    if max(w, h) > _ANTHROPIC_LONG_EDGE:
        scale = _ANTHROPIC_LONG_EDGE / max(w, h)
        w, h = w * scale, h * scale
    return min(math.ceil(w * h / 750), _ANTHROPIC_MAX)


def _gemini(width: int, height: int) -> int:
    if width <= 384 and height <= 384:
        tiles = 258
    else:
        tiles = 258 * math.ceil(width / 768) * math.ceil(height / 768)
    return max(tiles, _GEMINI_FLOOR)


_WORST_CASE_SIZE: Mapping[Family, tuple[int, int]] = MappingProxyType({
    "openai": (768, 2048),  # the most 512-px tiles an image can keep after OpenAI's scaling
    "anthropic": (_ANTHROPIC_LONG_EDGE, _ANTHROPIC_LONG_EDGE),
    "gemini": (3072, 3072),
})

_ANTHROPIC_PREFIXES = ("claude",)
_GEMINI_PREFIXES = ("gemini", "gemma", "learnlm")
_OPENAI_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt", "computer-use")
_PROVIDER_FAMILIES: Mapping[str, Family] = MappingProxyType({
    "openai": "openai",
    "azure": "openai",
    "anthropic": "anthropic",
    "bedrock": "anthropic",
    "google": "gemini",
    "gemini": "gemini",
    "vertex": "gemini",
})


def family_of(model: str, provider: str | None) -> Family | None:
    """Whose image rules apply: from the model name first, then the provider name."""
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith(_ANTHROPIC_PREFIXES) or ".claude" in name:
        return "anthropic"
    if name.startswith(_GEMINI_PREFIXES):
        return "gemini"
    if name.startswith(_OPENAI_PREFIXES):
        return "openai"
    return _PROVIDER_FAMILIES.get(provider or "")


def image_tokens(width: int | None, height: int | None, model: str, family: Family | None) -> int:
    """Tokens of one image of `width × height` px (None: unknown, so the worst case)."""
    if family is None:
        return max(image_tokens(width, height, model, f) for f in ("openai", "anthropic", "gemini"))
    if width is None or height is None:
        width, height = _WORST_CASE_SIZE[family]
    if family == "anthropic":
        return _anthropic(width, height)
    if family == "gemini":
        return _gemini(width, height)
    return _openai_rule(model)(width, height)


def media_tokens(media: Media, model: str, provider: str | None, count_text: Callable[[str], int]) -> int:
    """Worst-case input tokens of one media input sent to `model` (see the module docstring).

    Args:
        media: the input.
        model: the model name (no provider prefix).
        provider: the provider name from the model string, when the model name does not tell.
        count_text: how the call counts text tokens (for text documents).
    """
    family = family_of(model, provider)
    if media.kind == "image":
        size = media.image_size()
        return image_tokens(size[0], size[1], model, family) if size else image_tokens(None, None, model, family)
    if media.kind == "document":
        text = media.text()
        if text is not None:
            return count_text(text)
        pages = media.pdf_pages()
        if pages is None:
            pages = PDF_URL_PAGES if media.data is None else _pages_by_size(len(media.data))
        return pages * (PDF_TEXT_TOKENS_PER_PAGE + image_tokens(*_PAGE_RENDER, model, family))
    seconds = media.audio_seconds()
    if seconds is None:
        seconds = AUDIO_URL_SECONDS if media.data is None else len(media.data) / AUDIO_MIN_BYTES_PER_SECOND
    return math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)


def _pages_by_size(size: int) -> int:
    # A PDF pypdf cannot parse: one page per 2 KB is more pages than any real file has at
    # that size, so the count stays an upper bound.
    return max(1, math.ceil(size / 2048))
