"""Fields that posts and events share: ids, targets, texts, links, Facebook options.

Each reader takes the value node, reports problems on the Reader and returns the value,
or None when it is unusable (so the caller skips only what depends on it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import yaml

from bot.campaigns import text_rules
from bot.campaigns.schedules.times import EXAMPLE, TimeProblem, parse_time, zone
from bot.campaigns.schedules.yaml_nodes import Node, Reader, shown, suggest
from bot.campaigns.specs import PLATFORMS
from bot.platforms import PLATFORM_LABELS

# Ids name a post in `python main.py posts ...` and key it across re-applies.
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# X usernames: letters, digits and underscores, at most 15 (X Help Center, "username
# rules"; the minimum of 4 applies to new names only, so shorter ones still exist).
_X_HANDLE = re.compile(r"^@?[A-Za-z0-9_]{1,15}$")
# Far beyond X's 280 weighted characters even with long links (each counts 23): longer
# texts are refused without counting, as supporters' pledge wordings are
# (bot.pledges.pledging.X_MAX_WORDING_CHARS).
X_MAX_CHARS_TO_COUNT = 2000
PLATFORM_ALIASES = {
    "twitter": "x",
    "tw": "x",
    "fb": "facebook",
    "meta": "facebook",
    "bsky": "bluesky",
}
PLATFORM_NAMES = PLATFORM_LABELS  # how people read each platform's name (the registry's)
TO_EXAMPLE = "to: [x, facebook]"
EXAMPLE_AT = f"at: {EXAMPLE}"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def campaign(reader: Reader, node: Node) -> str | None:
    value = reader.text(node, "campaign", "campaign: fujitsu-victimisation")
    if value is None:
        return None
    if not _SLUG.match(value) or len(value) > 64:
        better = slugify(value)[:64]
        example = f", e.g. {better!r}" if better else ""
        reader.problem(
            node,
            "campaign",
            value,
            "a campaign name uses lowercase letters, digits and single hyphens "
            f"(at most 64){example}",
        )
        return None
    return value


def ident(reader: Reader, node: Node, field: str) -> str | None:
    value = reader.text(node, field, "id: demo-eve")
    if value is None:
        return None
    if not _ID.match(value):
        better = slugify(value)[:64]
        example = f", e.g. {better!r}" if better else ""
        reader.problem(
            node,
            field,
            value,
            "an id uses lowercase letters, digits, hyphens and underscores (at most 64) "
            f"and stays the same when you edit the post later{example}",
        )
        return None
    return value


def targets(reader: Reader, node: Node, field: str) -> tuple[str, ...] | None:
    """`to:` — platform names, or platform:handle for a named account."""
    items = reader.sequence(node, field, TO_EXAMPLE)
    if items is None:
        return None
    if not items:
        reader.problem(node, field, "[]", f"is empty; say where to post, e.g. {TO_EXAMPLE}")
        return None
    found: list[str] = []
    ok = True
    for item in items:
        written = reader.text(item, field, "x:@union_handle")
        if written is None:
            ok = False
            continue
        target = _target(reader, item, field, written.strip())
        if target is None:
            ok = False
        elif target in found:
            reader.problem(item, field, written, "is listed twice; list each account once")
            ok = False
        else:
            found.append(target)
    return tuple(found) if ok else None


def _target(reader: Reader, node: Node, field: str, written: str) -> str | None:
    platform, colon, handle = written.partition(":")
    platform = platform.strip()
    if platform not in PLATFORMS:
        hint = suggest(platform, PLATFORMS, PLATFORM_ALIASES)
        reader.problem(
            node,
            field,
            written,
            f"unknown platform {platform!r}{hint} (platforms: {', '.join(PLATFORMS)}; "
            "add ':handle' for a named account, e.g. x:@union_handle)",
        )
        return None
    if not colon:
        return platform
    handle = handle.strip()
    if platform == "x" and not _X_HANDLE.match(handle):
        reader.problem(
            node,
            field,
            written,
            "an X handle has 1-15 letters, digits or underscores, e.g. x:@union_handle",
        )
        return None
    if not handle:
        reader.problem(
            node, field, written, "name the account after ':', or write just the platform"
        )
        return None
    return f"{platform}:{handle}"


def platforms_of(found: tuple[str, ...]) -> tuple[str, ...]:
    """The platforms the targets post to, in PLATFORMS order."""
    named = {target.partition(":")[0] for target in found}
    return tuple(p for p in PLATFORMS if p in named)


def link(reader: Reader, node: Node, field: str) -> str | None:
    value = reader.text(node, field, "link: https://example.org/petition")
    if value is None:
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", value):
        example = f", e.g. https://{value}" if not parts.scheme and "." in value else ""
        reader.problem(
            node,
            field,
            value,
            f"must be a web address starting with https://, with no spaces{example}",
        )
        return None
    return value


def hold(reader: Reader, node: Node, field: str) -> bool | None:
    """`facebook: {hold: true}` — ask Facebook itself to publish at the time."""
    fields = reader.mapping(node, field, ("hold",), hint="; e.g. facebook: {hold: true}")
    if fields is None or "hold" not in fields:
        return None
    value = reader.value(fields["hold"]) if isinstance(fields["hold"], yaml.ScalarNode) else None
    if not isinstance(value, bool):
        reader.problem(
            fields["hold"], f"{field}.hold", shown(fields["hold"]), "must be true or false"
        )
        return None
    return value


APPROVAL_WORDS = {"required": True, "none": False}


def approval(reader: Reader, node: Node, field: str) -> bool | None:
    """`approval: required` — not due until someone other than its author approves it
    (`approval: none`, the default, says so explicitly)."""
    value = reader.value(node) if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(value, str) or value.strip().lower() not in APPROVAL_WORDS:
        reader.problem(
            node,
            field,
            shown(node),
            "must be 'required' (an approver other than the author must approve it) or 'none'",
        )
        return None
    return APPROVAL_WORDS[value.strip().lower()]


def yes_no(reader: Reader, node: Node, field: str, example: str) -> bool | None:
    """A true/false field, e.g. `embargo: true`."""
    value = reader.value(node) if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(value, bool):
        reader.problem(node, field, shown(node), f"must be true or false, e.g. {example}")
        return None
    return value


@dataclass(frozen=True)
class Texts:
    """What the volunteer wrote for the text, before links and length checks.

    ``per_platform`` maps a platform to its text; ``node_of`` maps it to the node it came
    from (the line a length problem points at).
    """

    per_platform: dict[str, str]
    node_of: dict[str, Node]
    field_of: dict[str, str]


def texts(reader: Reader, node: Node, field: str, wanted: tuple[str, ...] | None) -> Texts | None:
    """`text:` — one text for every platform, or `{x: ..., facebook: ...}`.

    ``wanted`` are the platforms the post goes to (None when `to:` itself was broken: then
    per-platform texts are read but not matched against it).
    """
    if isinstance(node, yaml.MappingNode):
        fields = reader.mapping(node, field, PLATFORMS, aliases=PLATFORM_ALIASES)
        if fields is None:
            return None
        result: dict[str, str] = {}
        nodes: dict[str, Node] = {}
        for platform, value_node in fields.items():
            value = reader.prose(value_node, f"{field}.{platform}")
            if value is not None:
                result[platform] = value.strip()
                nodes[platform] = value_node
        if wanted is None:
            return None
        for platform in wanted:
            if platform not in fields:
                reader.problem(
                    node,
                    f"{field}.{platform}",
                    "",
                    f"the post goes to {PLATFORM_NAMES[platform]} but has no text for it; "
                    f"add '{platform}: ...' here",
                )
        for platform in fields:
            if platform not in wanted:
                reader.problem(
                    fields[platform],
                    f"{field}.{platform}",
                    shown(fields[platform]),
                    f"there is text for {PLATFORM_NAMES[platform]} but 'to' does not post "
                    f"there; add {platform} to 'to' or remove this text",
                )
        if set(result) != set(wanted) or set(fields) != set(wanted):
            return None
        return Texts(result, nodes, {p: f"{field}.{p}" for p in result})
    if isinstance(node, yaml.SequenceNode):
        reader.problem(
            node,
            field,
            shown(node),
            "must be text, not a list; for several posts in a row use 'thread:' instead",
        )
        return None
    value = reader.prose(node, field, "text: 'Join us ...'")
    if value is None or wanted is None:
        return None
    every = tuple(wanted)
    return Texts(
        {p: value.strip() for p in every}, {p: node for p in every}, {p: field for p in every}
    )


def check_length(
    reader: Reader, node: Node, field: str, platform: str, text: str, label: str
) -> bool:
    """Report ``text`` if ``platform`` would refuse it; True when it is fine."""
    if platform == "x" and len(text) > X_MAX_CHARS_TO_COUNT:
        # Refused before counting: twitter-text's weighted count grows with the text, and
        # a pasted article must not stall `apply` for seconds to say what is plain.
        reader.problem(
            node,
            field,
            text,
            f"for X, {label} is {len(text):,} characters; X allows {text_rules.X_MAX_WEIGHTED} "
            f"(links count as {text_rules.X_URL_WEIGHT}); a text over "
            f"{X_MAX_CHARS_TO_COUNT:,} characters is refused without counting: shorten it",
        )
        return False
    if platform in text_rules.PER_ACCOUNT_LIMIT:
        # Each server sets its own limit: the length is checked when the post is queued,
        # against each target account's own (bot.campaigns.enqueue).
        message = None if text.strip() else "is empty; write the text of the post"
    else:
        message = text_rules.check(platform, text)
    if message is None:
        return True
    reader.problem(node, field, text, f"for {PLATFORM_NAMES[platform]}, {label} {message}")
    return False


@dataclass
class FileContext:
    """What a file says for all its posts: campaign, time zone and defaults.

    ``tz`` is None when the file's zone is broken (already reported), so times in it are
    not checked again. ``default_to_broken`` stops a broken `defaults.to` from being
    reported once more as "missing" on every post.
    """

    reader: Reader
    campaign: str | None
    tz_name: str
    tz: ZoneInfo | None
    default_to: tuple[str, ...] | None = None
    default_to_broken: bool = False
    default_hold: bool = False
    requires_approval: bool = False  # `approval: required` for the whole file


@dataclass(frozen=True)
class Common:
    """Settings a post and an event read the same way."""

    tz_name: str
    tz: ZoneInfo | None
    targets: tuple[str, ...] | None  # None: missing or broken (reported)
    link: str | None
    link_ok: bool
    hold: bool


def common(ctx: FileContext, node: Node, fields: Mapping[str, Node], name: str) -> Common:
    """Read `timezone`, `to`, `link` and `facebook` of one post or event."""
    reader = ctx.reader
    tz_name, tz = ctx.tz_name, ctx.tz
    if "timezone" in fields:
        tz_node = fields["timezone"]
        written = reader.text(tz_node, f"{name}.timezone", "timezone: Europe/London")
        tz = None
        if written is not None:
            try:
                tz, tz_name = zone(written), written
            except TimeProblem as problem:
                reader.problem(tz_node, f"{name}.timezone", written, str(problem))
    found: tuple[str, ...] | None = None
    if "to" in fields:
        found = targets(reader, fields["to"], f"{name}.to")
    elif ctx.default_to is not None:
        found = ctx.default_to
    elif not ctx.default_to_broken:
        reader.problem(
            node,
            f"{name}.to",
            "",
            f"'to' is missing; say where to post, e.g. {TO_EXAMPLE}, here or once for the "
            "whole file under 'defaults:'",
        )
    url = link(reader, fields["link"], f"{name}.link") if "link" in fields else None
    wants_hold = ctx.default_hold
    if "facebook" in fields:
        asked = hold(reader, fields["facebook"], f"{name}.facebook")
        if asked is not None:
            wants_hold = asked
            if asked and found is not None and "facebook" not in platforms_of(found):
                reader.problem(
                    fields["facebook"],
                    f"{name}.facebook.hold",
                    shown(fields["facebook"]),
                    "hold only applies to Facebook, and 'to' does not post there; "
                    "add facebook to 'to' or remove 'facebook: {hold: true}'",
                )
    on_facebook = found is not None and "facebook" in platforms_of(found)
    return Common(
        tz_name=tz_name,
        tz=tz,
        targets=found,
        link=url,
        link_ok="link" not in fields or url is not None,
        hold=wants_hold and on_facebook,
    )


def when(reader: Reader, node: Node, field: str, tz: ZoneInfo | None) -> datetime | None:
    """A date and time field (`at`, `starts`) in ``tz``."""
    written = reader.text(node, field, EXAMPLE_AT)
    if written is None:
        return None
    try:
        # With the zone broken (already reported) still check the writing itself;
        # UTC has no clock changes, so only format problems can come from it.
        in_zone = tz or ZoneInfo("UTC")
        moment = parse_time(written, in_zone, today=reader.today(in_zone))
    except TimeProblem as problem:
        reader.problem(node, field, written, str(problem))
        return None
    return moment if tz is not None else None
