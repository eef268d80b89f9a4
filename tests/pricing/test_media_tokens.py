"""Media token estimates follow each provider's documented rule and never undercount."""

from __future__ import annotations

import pytest

from stratum._media import Audio, Document, Image
from stratum.pricing._media_tokens import family_of, image_tokens, media_tokens
from tests.inputs.media_files import jpeg_header, pdf, png, wav


def _bytes3(text: str) -> int:
    return -(-len(text.encode()) // 3)


@pytest.mark.parametrize(
    ("model", "size", "expected"),
    [
        # OpenAI's published examples: 1024×1024 high detail on gpt-4o is 765 tokens;
        # 2048×4096 is scaled to 768×1536 (6 tiles) = 1105.
        pytest.param("gpt-4o", (1024, 1024), 765, id="gpt-4o-1024-square"),
        pytest.param("gpt-4o-2024-08-06", (2048, 4096), 1105, id="gpt-4o-dated-tall"),
        pytest.param("gpt-4.1", (512, 512), 255, id="gpt-4.1-one-tile"),
        pytest.param("gpt-5", (1024, 1024), 630, id="gpt-5-tiles"),
        pytest.param("gpt-4o-mini", (512, 512), 8500, id="gpt-4o-mini-one-tile"),
        # patch models: 1024×1024 = 1024 patches; 1800×2400 caps at 1536 patches
        pytest.param("gpt-4.1-mini", (1024, 1024), 1659, id="gpt-4.1-mini-patches"),
        pytest.param("gpt-4.1-nano", (1800, 2400), 3779, id="gpt-4.1-nano-capped"),
        pytest.param("o4-mini", (1024, 1024), 1762, id="o4-mini"),
        # Anthropic: w*h/750; 1000×1000 ≈ 1334 (the docs' table)
        pytest.param("claude-sonnet-4-5", (1000, 1000), 1334, id="claude-1000-square"),
        pytest.param("claude-haiku-4-5", (200, 200), 54, id="claude-small"),
        pytest.param("claude-opus-4-5", (8000, 8000), 4784, id="claude-capped"),
        # Gemini: 258 per 768 tile, never below 1120
        pytest.param("gemini-2.5-flash", (300, 300), 1120, id="gemini-small-floor"),
        pytest.param("gemini-2.5-pro", (2000, 2000), 2322, id="gemini-9-tiles"),
    ],
)
def test_documented_image_rules(model: str, size: tuple[int, int], expected: int) -> None:
    assert image_tokens(*size, model, family_of(model, None)) == expected


def test_unknown_dimensions_take_the_worst_case() -> None:
    assert image_tokens(None, None, "gpt-4o", "openai") == 85 + 170 * 8
    assert image_tokens(None, None, "claude-sonnet-4-5", "anthropic") == 4784
    for w, h in [(100, 100), (768, 2048), (2048, 768), (4000, 3000), (512, 9000)]:
        assert image_tokens(w, h, "gpt-4o", "openai") <= image_tokens(None, None, "gpt-4o", "openai")


def test_family_comes_from_the_model_then_the_provider() -> None:
    assert family_of("claude-haiku-4-5", "openrouter") == "anthropic"
    assert family_of("anthropic/claude-3.5-sonnet", "openrouter") == "anthropic"
    assert family_of("gemini-2.5-flash", None) == "gemini"
    assert family_of("my-deployment", "azure") == "openai"
    assert family_of("llava", "ollama") is None


def test_an_unknown_family_takes_the_largest_rule() -> None:
    tokens = image_tokens(1000, 1000, "llava", None)
    assert tokens == max(
        image_tokens(1000, 1000, "llava", "openai"),
        image_tokens(1000, 1000, "llava", "anthropic"),
        image_tokens(1000, 1000, "llava", "gemini"),
    )


def test_media_tokens_for_each_kind() -> None:
    assert media_tokens(Image.from_bytes(png(1000, 1000)), "claude-sonnet-4-5", "anthropic", _bytes3) == 1334
    assert media_tokens(Image.from_bytes(jpeg_header(1024, 1024)), "gpt-4o", "openai", _bytes3) == 765
    # PDFs: 3000 text tokens + a page image, per page counted from the file
    per_page = 3000 + image_tokens(1700, 2200, "claude-sonnet-4-5", "anthropic")
    assert media_tokens(Document.from_bytes(pdf(4)), "claude-sonnet-4-5", "anthropic", _bytes3) == 4 * per_page
    assert media_tokens(Document.from_url("https://x.test/a.pdf"), "claude-sonnet-4-5", None, _bytes3) == 100 * per_page
    # text documents are text
    assert media_tokens(Document.from_bytes(b"a" * 300, "text/plain"), "gpt-4o", "openai", _bytes3) == 100
    # audio: 32 tokens a second; a WAV's length from its header
    assert media_tokens(Audio.from_bytes(wav(10.0)), "gemini-2.5-flash", "google", _bytes3) == 320
    # an MP3 of unknown length: at least 8 kbit/s, so 64 000 bytes count as 64 s
    mp3 = Audio.from_bytes(b"ID3" + b"\x00" * 63_997)
    assert media_tokens(mp3, "gpt-4o-audio-preview", "openai", _bytes3) == 64 * 32
    assert media_tokens(Audio.from_url("https://x.test/a.mp3"), "gemini-2.5-flash", None, _bytes3) == 3600 * 32


def test_cache_savings_reads_minus_the_write_premium() -> None:
    from decimal import Decimal

    from stratum import Usage
    from stratum.pricing import Price

    price = Price(input_per_mtok="3", output_per_mtok="15", cached_input_per_mtok="0.30", cache_write_per_mtok="3.75")
    assert price.cache_savings(Usage(input_tokens=100, output_tokens=5)) is None
    # 2000 cached reads save 2.70 $/MTok each; 1000 writes cost 0.75 $/MTok extra
    saved = price.cache_savings(Usage(input_tokens=3100, output_tokens=5, cached_input_tokens=2000, cache_write_tokens=1000))
    assert saved == (Decimal(2000) * Decimal("2.70") - Decimal(1000) * Decimal("0.75")) / Decimal(1_000_000)
    assert price.cache_savings(Usage(input_tokens=1000, cache_write_tokens=1000)) == Decimal("-0.00075")
