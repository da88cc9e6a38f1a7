"""How a post will look and how long it is, per platform, before it is queued.

Pure functions for the composer: the counts come from ``text_rules`` (the same functions
that refuse a post), so a counter can never disagree with the check that stores it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from twitter_text import extract_urls_with_indices

from bot.campaigns import text_rules

# X shows a link by its display_url: the address without its scheme or "www.", cut after
# about 30 characters with an ellipsis, while it counts 23 (the t.co link it becomes).
# https://docs.x.com/fundamentals/counting-characters; the cut is as X's web client shows
# display_url (the API returns it ready-made, e.g. "dev.twitter.com/terms/display-…").
X_DISPLAY_URL_CHARS = 30
ELLIPSIS = "…"
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True)
class Segment:
    """A run of text, or a link shown by ``text`` (never the raw, tagged address)."""

    text: str
    is_link: bool = False


@dataclass(frozen=True)
class Count:
    """A text's length by one platform's rule, and what that platform would say."""

    length: int
    limit: int
    problem: str | None = None

    @property
    def left(self) -> int:
        return self.limit - self.length

    @property
    def over(self) -> bool:
        return self.length > self.limit


@dataclass(frozen=True)
class XPart:
    count: Count
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class FacebookPost:
    count: Count
    segments: tuple[Segment, ...]
    card_domain: str | None  # the link card's line: the link's domain, as Facebook shows it


@dataclass(frozen=True)
class Preview:
    x: tuple[XPart, ...] = ()
    facebook: FacebookPost | None = None


def display_url(url: str) -> str:
    """``url`` as X shows it: no scheme, no "www.", long ones cut with an ellipsis."""
    shown = _SCHEME.sub("", url).removeprefix("www.")
    if len(shown) > X_DISPLAY_URL_CHARS:
        return shown[:X_DISPLAY_URL_CHARS] + ELLIPSIS
    return shown


def link_domain(url: str) -> str:
    """The domain Facebook prints on a link card."""
    return urlsplit(url).netloc.removeprefix("www.").upper()


def segments(text: str, *, as_written: bool) -> tuple[Segment, ...]:
    """``text`` cut into plain runs and links: links shown as X displays them, or
    ``as_written`` (Facebook prints what was typed)."""
    out: list[Segment] = []
    at = 0
    for found in extract_urls_with_indices(text):
        start, end = found["indices"]
        if start > at:
            out.append(Segment(text[at:start]))
        url = text[start:end]
        out.append(Segment(url if as_written else display_url(url), is_link=True))
        at = end
    if at < len(text):
        out.append(Segment(text[at:]))
    return tuple(out)


def x_count(text: str) -> Count:
    """X's weighted count of ``text`` as it goes out (link already in it)."""
    return Count(
        text_rules.weighted_length(text), text_rules.X_MAX_WEIGHTED, text_rules.check("x", text)
    )


def facebook_count(text: str) -> Count:
    return Count(
        text_rules.facebook_length(text),
        text_rules.FACEBOOK_MAX_CHARS,
        text_rules.check("facebook", text),
    )


def preview(x_parts: tuple[str, ...], facebook_text: str | None, link: str | None) -> Preview:
    """Counts and previews of the X parts (the link added to the first, where it counts
    23) and of the Facebook text (the link travels beside it, shown as a card)."""
    x = tuple(
        XPart(x_count(sent), segments(sent, as_written=False))
        for sent in (
            text_rules.x_text(part, link) if index == 0 else part
            for index, part in enumerate(x_parts)
        )
    )
    facebook = None
    if facebook_text is not None:
        facebook = FacebookPost(
            facebook_count(facebook_text),
            segments(facebook_text, as_written=True),
            link_domain(link) if link else None,
        )
    return Preview(x=x, facebook=facebook)
