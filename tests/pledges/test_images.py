"""A campaign's picture is judged by its bytes: type from the magic numbers, size from the
header, and refused with a reason a volunteer can act on."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest

from bot.pledges.images import MAX_BYTES, ImageProblem, alt_problem, from_bytes, read_image, sniff
from tests.support.pictures import GIF_1X1, JPEG_3X2, WEBP_2X1, png


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(7, 5), ("image/png", 7, 5)),
        (JPEG_3X2, ("image/jpeg", 3, 2)),
        (GIF_1X1, ("image/gif", 1, 1)),
        (WEBP_2X1, ("image/webp", 2, 1)),
    ],
)
def test_each_type_and_its_size_are_read_from_the_header(
    data: bytes, expected: tuple[str, int, int]
) -> None:
    assert sniff(data) == expected


def test_a_lossless_and_an_extended_webp_give_their_size() -> None:
    # VP8L: 14-bit width-1 and height-1 after the 0x2f signature (RFC 9649 §3.2)
    bits = (640 - 1) | ((480 - 1) << 14)
    lossless = b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + bits.to_bytes(4, "little")
    assert sniff(lossless) == ("image/webp", 640, 480)
    # VP8X: 24-bit canvas width-1 and height-1 (RFC 9649 §2.7)
    extended = (
        b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00"
        + (1199).to_bytes(3, "little")
        + (629).to_bytes(3, "little")
    )
    assert sniff(extended) == ("image/webp", 1200, 630)


def test_the_jpeg_size_is_found_after_other_segments_and_fill_bytes() -> None:
    app1 = b"\xff\xe1" + struct.pack(">H", 8) + b"Exif\x00\x00"
    sof2 = b"\xff\xc2" + struct.pack(">HBHH", 11, 8, 630, 1200) + b"\x03\x01\x11\x00"
    assert sniff(b"\xff\xd8" + app1 + b"\xff\xff" + sof2) == ("image/jpeg", 1200, 630)


def test_a_text_file_named_png_is_refused_by_its_contents(tmp_path: Path) -> None:
    path = tmp_path / "banner.png"
    path.write_text("not a picture at all", encoding="utf-8")
    with pytest.raises(ImageProblem, match="not a PNG, JPEG, GIF or WebP image"):
        read_image(path)


def test_an_svg_is_refused_because_it_could_carry_script(tmp_path: Path) -> None:
    with pytest.raises(ImageProblem, match="not a PNG, JPEG, GIF or WebP"):
        from_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')


def test_a_file_over_5_mb_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(png() + b"\x00" * MAX_BYTES)
    with pytest.raises(ImageProblem, match=r"is 5\.0 MB; a campaign picture must be at most 5 MB"):
        read_image(path)


def _png_header(width: int, height: int) -> bytes:
    # Only the signature and IHDR: what a hostile file needs to claim a size.
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + struct.pack(">II", width, height)


def test_a_header_claiming_an_absurd_size_is_refused() -> None:
    with pytest.raises(ImageProblem, match="says it is 100000 × 1 pixels"):
        sniff(_png_header(100_000, 1))
    with pytest.raises(ImageProblem, match="says it is 0 × 0 pixels"):
        sniff(b"GIF89a\x00\x00\x00\x00")
    with pytest.raises(ImageProblem, match="megapixels"):
        sniff(_png_header(9000, 9000))


def test_a_damaged_jpeg_without_a_frame_header_is_refused() -> None:
    with pytest.raises(ImageProblem, match="damaged JPEG"):
        sniff(JPEG_3X2[:100])


def test_a_missing_file_or_a_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(ImageProblem, match="no such file"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageProblem, match="is a folder"):
        read_image(tmp_path)


def test_a_read_picture_carries_its_bytes_and_their_sha256(tmp_path: Path) -> None:
    path = tmp_path / "banner.jpg"
    path.write_bytes(JPEG_3X2)
    image = read_image(path, "banner.jpg")
    assert (image.data, image.source) == (JPEG_3X2, "banner.jpg")
    assert image.sha256 == hashlib.sha256(JPEG_3X2).hexdigest()


def test_alt_text_is_required_and_bounded() -> None:
    assert alt_problem("Reps with a banner") is None
    assert "describe the picture" in (alt_problem("  ") or "")
    assert "describe the picture" in (alt_problem(None) or "")
    assert "keep the description under 1000" in (alt_problem("a" * 1001) or "")


def test_a_pipe_or_a_device_named_as_the_picture_is_refused_without_reading_it(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "picture.jpg"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ImageProblem, match="not a regular file"):
            read_image(path)


def test_a_picture_over_the_limit_is_refused_by_its_size_before_it_is_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "huge.jpg"
    with path.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(ImageProblem, match="at most 5 MB"):
        read_image(path)
