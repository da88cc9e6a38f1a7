"""A pledge campaign's picture: read a file, check it is a PNG, JPEG, GIF or WebP image of a
sane size, and take its dimensions from its header (no imaging library needed).

The picture is for the campaign page and its share card (Open Graph / X card), never for
supporters' posts. The limits follow X's summary_large_image card, the stricter of the two
platforms: "Images must be less than 5MB in size. JPG, PNG, WEBP and GIF formats are
supported" (developer.x.com/en/docs/twitter-for-websites/cards/overview/summary-card-with-
large-image). The type is read from the file's first bytes, never from its name, because
the page serves it with that type and browsers are told not to guess (nosniff).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from bot.safe_files import FileRefused, read_regular

MAX_BYTES = 5 * 1024 * 1024
# A side above this is no campaign picture (X's cards take up to 4096 px; Facebook
# recommends 1200 × 630); a header claiming more is a wrong or hostile file.
MAX_SIDE = 10_000
MAX_PIXELS = 40_000_000  # a browser decoding the page must not need gigabytes
MAX_ALT = 1000  # X's own limit for an image description
TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP"}


class ImageProblem(ValueError):
    """Why a file cannot be a campaign's picture, said so the volunteer can fix it."""


@dataclass(frozen=True)
class CampaignImage:
    """A checked picture. ``source`` is the path as the volunteer gave it (for messages
    and `pledges show`); the bytes are what is stored and served."""

    data: bytes
    media_type: str
    width: int
    height: int
    sha256: str
    source: str = ""


def _png(data: bytes) -> tuple[int, int]:
    # The IHDR chunk comes first and holds width and height (PNG spec §11.2.2).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageProblem("is a damaged PNG file (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _gif(data: bytes) -> tuple[int, int]:
    # The logical screen descriptor follows the 6-byte signature (GIF89a spec §18).
    if len(data) < 10:
        raise ImageProblem("is a damaged GIF file (too short)")
    width, height = struct.unpack("<HH", data[6:10])
    return int(width), int(height)


def _webp(data: bytes) -> tuple[int, int]:
    # RFC 9649 §2.5-2.7: the first chunk after "WEBP" is VP8 (lossy), VP8L (lossless) or
    # VP8X (extended, with the canvas size).
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    raise ImageProblem("is a damaged WebP file (no VP8, VP8L or VP8X header)")


# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) share the
# range but are not frames (ITU T.81, table B.1).
_SOF = {m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)}
# Markers with no length field after them (T.81 B.1.1.3: TEM and RSTn; SOI).
_STANDALONE = {0x01, 0xD8, *range(0xD0, 0xD8)}


def _jpeg(data: bytes) -> tuple[int, int]:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            break
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _SOF:
            if at + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return int(width), int(height)
        if length < 2:
            break
        at += 2 + length
    raise ImageProblem("is a damaged JPEG file (no frame header with its size)")


def sniff(data: bytes) -> tuple[str, int, int]:
    """(media type, width, height) from the file's own bytes, or ImageProblem."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        media_type, (width, height) = "image/png", _png(data)
    elif data.startswith(b"\xff\xd8\xff"):
        media_type, (width, height) = "image/jpeg", _jpeg(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        media_type, (width, height) = "image/gif", _gif(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        media_type, (width, height) = "image/webp", _webp(data)
    else:
        raise ImageProblem(
            "is not a PNG, JPEG, GIF or WebP image (judged by its contents, not its name)"
        )
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise ImageProblem(
            f"says it is {width} × {height} pixels; a campaign picture is 1 to {MAX_SIDE:,} "
            f"pixels a side and at most {MAX_PIXELS // 1_000_000} megapixels "
            "(1200 × 630 suits shared links)"
        )
    return media_type, width, height


def _check_size(size: int) -> None:
    if size > MAX_BYTES:
        raise ImageProblem(
            f"is {size / 1024 / 1024:.1f} MB; a campaign picture must be at most 5 MB "
            "(X's limit for a link's card)"
        )


def from_bytes(data: bytes, source: str = "") -> CampaignImage:
    _check_size(len(data))
    media_type, width, height = sniff(data)
    return CampaignImage(data, media_type, width, height, hashlib.sha256(data).hexdigest(), source)


def read_image(path: Path, source: str | None = None) -> CampaignImage:
    """The picture at ``path`` checked, or ImageProblem saying why not."""
    try:
        # Size checked on the open file before reading; a device or pipe is refused.
        data = read_regular(path, MAX_BYTES)
    except FileRefused as refused:
        if refused.size is not None:
            _check_size(refused.size)
        raise ImageProblem(str(refused)) from None
    return from_bytes(data, str(path) if source is None else source)


def alt_problem(alt: str | None) -> str | None:
    """Why ``alt`` cannot describe a campaign's picture, or None."""
    if alt is None or not alt.strip():
        return (
            "describe the picture for people who cannot see it (alt text), e.g. "
            "'Union reps holding a banner outside the Fujitsu office'"
        )
    if len(alt) > MAX_ALT:
        return f"is {len(alt)} characters; keep the description under {MAX_ALT}"
    return None
