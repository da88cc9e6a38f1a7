"""The README's "For volunteers" section: its screenshots exist, are PNGs, and stay small
enough to load on a phone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 150 * 1024


def _volunteer_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## For volunteers", 1)[1].split("\n## ", 1)[0]


def test_the_volunteer_section_says_how_to_get_in_and_shows_the_console():
    section = _volunteer_section()
    assert "invite" in section and "make run" in section and "docs/console.md" in section
    images = re.findall(r'src="(docs/img/[^"]+)"', section)
    assert len(images) >= 4, images
    for image in images:
        path = ROOT / image
        assert path.is_file(), image
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
        assert path.stat().st_size <= MAX_BYTES, f"{image}: {path.stat().st_size} bytes"


def test_every_screenshot_has_words_for_people_who_cannot_see_it():
    for tag in re.findall(r"<img [^>]+>", _volunteer_section()):
        assert re.search(r'alt="[^"]{20,}"', tag), tag
