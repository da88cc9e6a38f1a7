"""The campaign pages' stylesheet keeps to WCAG 2.1: what it draws stands out from its ground."""

from __future__ import annotations

import re
from pathlib import Path

CSS = Path(__file__).resolve().parents[2] / "bot" / "web" / "static" / "clarion.css"


def _luminance(hex_colour: str) -> float:
    digits = hex_colour[1:]
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_focus_outline_stands_out_from_every_background_it_is_drawn_on() -> None:
    # WCAG 2.1 SC 1.4.11 (non-text contrast): a focus indicator needs 3:1 against what is
    # next to it. The Support buttons and forms sit on cards, the rest on the page.
    css = CSS.read_text()
    colours = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-fA-F]{3,6})\b", css))
    focus = re.search(r":focus-visible[^{]*\{[^}]*outline:\s*\d+px solid ([^;]+);", css)
    assert focus, "no focus outline colour found"
    written = focus.group(1).strip()
    outline = colours[written[6:-1]] if written.startswith("var(--") else written
    for background in ("bg", "card"):
        ratio = _contrast(outline, colours[background])
        assert ratio >= 3.0, f"focus outline on --{background}: {ratio:.2f}:1"
