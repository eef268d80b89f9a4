"""`Image`, `Document`, `Audio`: construction, media types, probes, references, contract fields."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from stratum._media import Audio, Document, Image, find_media, replace_media
from stratum.exceptions import UnsupportedInputError
from tests.inputs.media_files import jpeg_header, pdf, png, wav


def test_from_path_sniffs_the_type_and_reads_the_size(tmp_path: Path) -> None:
    """A PNG saved under a misleading name is still a PNG: the header decides."""
    file = tmp_path / "photo.bin"
    file.write_bytes(png(40, 30))
    image = Image.from_path(file)
    assert image.media_type == "image/png"
    assert image.name == "photo.bin"
    assert image.image_size() == (40, 30)
    assert image.sha256 == hashlib.sha256(file.read_bytes()).hexdigest()


def test_from_path_falls_back_to_the_extension(tmp_path: Path) -> None:
    file = tmp_path / "notes.md"
    file.write_text("# Notes\nship it")
    doc = Document.from_path(file)
    assert doc.media_type == "text/markdown"
    assert doc.text() == "# Notes\nship it"


def test_from_bytes_with_and_without_a_media_type() -> None:
    assert Image.from_bytes(jpeg_header(1024, 768)).image_size() == (1024, 768)
    assert Image.from_bytes(jpeg_header(8, 8), "image/jpeg").media_type == "image/jpeg"
    assert Document.from_bytes(pdf(3)).pdf_pages() == 3
    assert Audio.from_bytes(wav(2.5)).audio_seconds() == pytest.approx(2.5)


def test_unknown_bytes_name_the_fix() -> None:
    with pytest.raises(UnsupportedInputError, match=r"Image.from_bytes\(data, 'image/png'\)"):
        Image.from_bytes(b"no header here")


def test_a_media_type_that_does_not_fit_the_input_type() -> None:
    with pytest.raises(UnsupportedInputError, match="Image cannot hold 'application/pdf'") as info:
        Image.from_bytes(pdf(1))
    assert info.value.media_type == "application/pdf"
    with pytest.raises(UnsupportedInputError, match="Audio cannot hold 'image/png'"):
        Audio.from_bytes(png(2, 2))


def test_from_url() -> None:
    image = Image.from_url("https://example.com/cats/tabby.jpg?size=large")
    assert (image.media_type, image.name, image.data, image.size) == ("image/jpeg", "tabby.jpg", None, None)
    assert image.image_size() is None
    assert image.reference() == {
        "type": "image",
        "media_type": "image/jpeg",
        "sha256": hashlib.sha256(b"https://example.com/cats/tabby.jpg?size=large").hexdigest(),
        "url": "https://example.com/cats/tabby.jpg?size=large",
        "name": "tabby.jpg",
    }
    with pytest.raises(UnsupportedInputError, match="pass it"):
        Document.from_url("https://example.com/report")
    with pytest.raises(UnsupportedInputError, match="from_path"):
        Image.from_url("/home/me/cat.png")
    with pytest.raises(UnsupportedInputError, match="needs the bytes"):
        image.base64()


def test_reference_and_repr_never_hold_the_bytes() -> None:
    data = png(4, 4)
    image = Image.from_bytes(data)
    assert "bytes" in image.reference() and image.reference()["bytes"] == len(data)
    assert "base64" not in repr(image) and len(repr(image)) < 120
    assert image.data_url().startswith("data:image/png;base64,iVBOR")


def test_equality_is_by_content() -> None:
    assert Image.from_bytes(png(3, 3)) == Image.from_bytes(png(3, 3))
    assert Image.from_bytes(png(3, 3)) != Image.from_bytes(png(3, 4))
    assert len({Image.from_bytes(png(3, 3)), Image.from_bytes(png(3, 3))}) == 1


def test_a_damaged_header_probes_as_unknown() -> None:
    assert Image.from_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 3, "image/png").image_size() is None
    assert Document.from_bytes(b"%PDF-1.7 truncated", "application/pdf").pdf_pages() is None
    assert Audio.from_bytes(b"ID3" + b"\x00" * 100).audio_seconds() is None


class Claim(BaseModel):
    photo: Image
    receipts: list[Document]
    note: str


def test_media_as_pydantic_fields() -> None:
    claim = Claim(photo=Image.from_bytes(png(2, 2)), receipts=[Document.from_bytes(pdf(1))], note="dent")
    dumped = claim.model_dump(mode="json")
    assert dumped["photo"]["type"] == "image" and "data" not in dumped["photo"]
    assert dumped["receipts"][0]["media_type"] == "application/pdf"
    with pytest.raises(ValidationError, match=r"expected a stratum.Image, got bytes; build one with Image.from_path"):
        Claim(photo=png(2, 2), receipts=[], note="x")  # pyright: ignore[reportArgumentType]
    schema = Claim.model_json_schema()
    assert "image input" in str(schema)


def test_find_and_replace_media_walk_contracts_lists_and_dicts() -> None:
    photo = Image.from_bytes(png(2, 2))
    receipt = Document.from_bytes(pdf(1))
    claim = Claim(photo=photo, receipts=[receipt], note="dent")
    found: list[tuple[str, object]] = []
    find_media({"claim": claim, "extra": [Audio.from_bytes(wav(0.1))]}, "inputs", found)  # pyright: ignore[reportArgumentType]
    assert [path for path, _ in found] == ["inputs.claim.photo", "inputs.claim.receipts[0]", "inputs.extra[0]"]
    replaced = replace_media(claim)
    assert replaced["photo"] == photo.reference()
    assert replaced["note"] == "dent"
