"""How long a post is, by each platform's own count, and how a thread becomes one post.

Pure functions: the schedule parser uses them to refuse texts before anything is
stored, and delivery can use ``x_text`` to build exactly what goes out on X.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import regex
from twitter_text import extract_urls_with_indices, parse_tweet
from twitter_text.has_invalid_characters import has_invalid_characters

# X counts characters with weights (twitter-text config v3): most Latin, Greek and
# Cyrillic characters count 1, CJK and emoji count 2, and every URL counts 23 because
# X rewrites it to a t.co link. https://docs.x.com/fundamentals/counting-characters
X_MAX_WEIGHTED = 280
X_URL_WEIGHT = 23
# Facebook's limit on a post's text, in characters: the widely cited figure for Facebook
# posts (the Graph /feed reference for `message` states no number).
FACEBOOK_MAX_CHARS = 63206

# Bluesky: the app.bsky.feed.post lexicon's ``text`` has maxGraphemes 300 (and maxLength
# 3000 bytes); a grapheme is an extended grapheme cluster (UAX #29), so a family emoji
# built of seven code points counts one. https://docs.bsky.app/docs/advanced-guides/posts
BLUESKY_MAX_GRAPHEMES = 300
BLUESKY_MAX_BYTES = 3000

# Mastodon: each instance sets its own limit (configuration.statuses.max_characters in
# GET /api/v2/instance); 500 is Mastodon's default. Every URL counts as 23 characters
# (configuration.statuses.characters_reserved_per_url) and a mention of a remote account
# only by its local part. https://docs.joinmastodon.org/user/posting/#text
MASTODON_DEFAULT_MAX = 500
MASTODON_URL_WEIGHT = 23

LIMITS = {
    "x": X_MAX_WEIGHTED,
    "facebook": FACEBOOK_MAX_CHARS,
    "bluesky": BLUESKY_MAX_GRAPHEMES,
    "mastodon": MASTODON_DEFAULT_MAX,
}
# Where the link goes into the first part's text, on its own line (and counts 23); Facebook
# takes it beside the message.
LINK_IN_TEXT = ("x", "mastodon")
# Where each account's server sets its own limit (``Account.max_length``, read when the
# account is connected).
PER_ACCOUNT_LIMIT = ("mastodon",)

# Characters no post, name or time needs: C0 controls other than tab, line feed and
# carriage return; DEL; C1 controls; unpaired UTF-16 surrogates (which cannot even be
# encoded to send); and U+FFFE, U+FFFF, which are not characters (YAML refuses them too).
# Kept as a pattern so readers of schedule files can search whole files.
FORBIDDEN_CHARACTERS = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]"
_FORBIDDEN = re.compile(FORBIDDEN_CHARACTERS)


def describe(character: str) -> str:
    """U+0007 (BELL): how a problem names an invisible character."""
    name = unicodedata.name(character, "")
    if not name and "\ud800" <= character <= "\udfff":
        name = "an unpaired surrogate"
    elif not name and character in "\ufffe\uffff":
        name = "not a character"
    elif not name:
        name = "a control character"
    return f"U+{ord(character):04X} ({name})"


def forbidden(text: str) -> str | None:
    """The first character of ``text`` no post may hold, described, or None."""
    match = _FORBIDDEN.search(text)
    return describe(match.group()) if match else None


# Characters that draw nothing although they are not format characters (Cf): the Hangul
# fillers, the Braille blank (fonts draw an empty cell), the combining grapheme joiner,
# Khmer's inherent vowels, the variation selectors, and the code points Unicode reserves
# as default-ignorable for later use (U+2065, U+FFF0-FFF8, U+E0000-E0FFF), which
# renderers must not draw either. Spam filters know them as ways to post "nothing".
INVISIBLE = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180b\u180c\u180d\u180f\u2065"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xFFF0, 0xFFF9))
    + "".join(chr(c) for c in range(0xE0000, 0xE1000))
)


def is_blank(text: str) -> bool:
    """True when nothing in ``text`` would show: only whitespace, invisible format
    characters (zero-width space and joiners, word joiner, byte order mark: Unicode
    category Cf) and the other characters that draw nothing (``INVISIBLE``), so a post of
    them would look empty."""
    return all(c.isspace() or c in INVISIBLE or unicodedata.category(c) == "Cf" for c in text)


@lru_cache(maxsize=65536)
def weighted_length(text: str) -> int:
    """X's weighted length of ``text``: URLs 23, emoji and CJK 2, most others 1."""
    if text.isascii():
        # Every ASCII character weighs 1 and none can be part of an emoji (twitter-text
        # config v3), so only the links need finding: parse_tweet's emoji scan is most of
        # its cost, and a file of 20,000 posts is checked in seconds, not minutes.
        normalized = text.replace("\r\n", "\n")
        urls = extract_urls_with_indices(normalized)
        return len(normalized) + sum(X_URL_WEIGHT - len(url["url"]) for url in urls)
    return parse_tweet(text).weightedLength


def facebook_length(text: str) -> int:
    """Facebook's length of ``text``: characters after NFC normalisation."""
    return len(unicodedata.normalize("NFC", text))


def bluesky_length(text: str) -> int:
    """Bluesky's length of ``text``: extended grapheme clusters (``\\X``)."""
    return len(regex.findall(r"\X", text))


def x_text(text: str, link: str | None) -> str:
    """The text as it goes out on X: ``link`` appended on its own line unless already in it.

    The X adapter appends a link the same way ("if not already in it"), so a text built
    here is never given the link twice.
    """
    if not link or link in text:
        return text
    return f"{text}\n{link}"


def mastodon_text(text: str, link: str | None) -> str:
    """The text as it goes out on Mastodon: the link added as on X (Mastodon has no link
    field; a URL in the text becomes a link and its preview card)."""
    return x_text(text, link)


def mastodon_length(text: str) -> int:
    """The length a Mastodon instance counts: graphemes, URLs as 23, ``@user@domain``
    as ``@user`` (``bot.platforms.mastodon.rules.status_length``)."""
    # Imported here: that module imports this one (for the link rule).
    from bot.platforms.mastodon.rules import status_length

    return status_length(text)


def check(platform: str, text: str, *, max_length: int | None = None) -> str | None:
    """None when ``text`` can be posted on ``platform``, else a message saying what to fix.

    For X and Mastodon, pass the text with its link already added (``x_text``,
    ``mastodon_text``): the link counts 23. ``max_length``: a Mastodon instance's own
    limit when it is known (default 500).
    """
    if platform not in LIMITS:
        raise ValueError(f"unknown platform {platform!r}")
    if is_blank(text):
        return "is empty; write the text of the post"
    bad = forbidden(text)
    if bad is not None:
        return f"contains the character {bad}; remove it"
    if platform == "x":
        return _check_x(text)
    if platform == "bluesky":
        return _check_bluesky(text)
    if platform == "mastodon":
        return _check_mastodon(text, max_length or MASTODON_DEFAULT_MAX)
    length = facebook_length(text)
    if length > FACEBOOK_MAX_CHARS:
        return (
            f"is {length:,} characters; Facebook's limit is {FACEBOOK_MAX_CHARS:,}: "
            f"shorten by {length - FACEBOOK_MAX_CHARS:,}"
        )
    return None


def _check_bluesky(text: str) -> str | None:
    length = bluesky_length(text)
    if length > BLUESKY_MAX_GRAPHEMES:
        return (
            f"is {length} characters by Bluesky's count; the limit is {BLUESKY_MAX_GRAPHEMES} "
            f"(an emoji counts as 1; the campaign link goes as a card and does not count): "
            f"shorten by {length - BLUESKY_MAX_GRAPHEMES}"
        )
    size = len(text.encode())
    if size > BLUESKY_MAX_BYTES:
        return f"is {size:,} bytes; Bluesky's limit is {BLUESKY_MAX_BYTES:,}: shorten it"
    return None


def _check_x(text: str) -> str | None:
    if has_invalid_characters(text):
        bad = sorted({f"U+{ord(c):04X}" for c in text if has_invalid_characters(c)})
        return f"contains characters X refuses ({', '.join(bad)}); remove them"
    length = weighted_length(text)
    if length > X_MAX_WEIGHTED:
        return (
            f"is {length} characters by X's count; the limit is {X_MAX_WEIGHTED} "
            f"(links count as {X_URL_WEIGHT}, emoji as 2): "
            f"shorten by {length - X_MAX_WEIGHTED}"
        )
    return None


def _check_mastodon(text: str, limit: int) -> str | None:
    length = mastodon_length(text)
    if length > limit:
        return (
            f"is {length} characters by Mastodon's count; the limit is {limit} "
            f"(links count as {MASTODON_URL_WEIGHT}): shorten by {length - limit}"
        )
    return None


def join_thread(parts: Sequence[str]) -> str:
    """One Facebook post from an X thread: parts joined by a blank line, numbering dropped.

    Numbering is dropped only where it matches the part's position ("1/", "1/4", "(1/4)"
    or "[1/4]" at the start of part 1, or "1/4" at its end), so "24/7 picket" in part 2
    of a thread is left alone.
    """
    total = len(parts)
    return "\n\n".join(
        _strip_numbering(part.strip(), index, total) for index, part in enumerate(parts, 1)
    )


def _strip_numbering(part: str, index: int, total: int) -> str:
    lead = re.compile(rf"^[(\[]?{index}\s*/(?:\s*{total})?[)\]]?(?:\s+|$)")
    trail = re.compile(rf"\s*[(\[]?{index}\s*/\s*{total}[)\]]?$")
    stripped = trail.sub("", lead.sub("", part, count=1), count=1)
    return stripped.strip() or part
