"""Schedule files: campaign posts written in YAML by volunteers, read into PostSpecs.

Parsing is pure (no database, no network): it checks everything that can be checked
from the files alone and reports every problem of every file at once, each naming the
file, line, field, value and the fix. ``bot.campaigns.enqueue`` then resolves targets against the
accounts, refuses past times for new posts and stores the specs all-or-nothing.
The format is documented for volunteers in docs/schedule-files.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bot.campaigns import text_rules
from bot.campaigns.schedules.events import read_event
from bot.campaigns.schedules.fields import (
    PLATFORM_NAMES,
    FileContext,
    approval,
    campaign,
    check_length,
    common,
    hold,
    ident,
    platforms_of,
    targets,
    texts,
    when,
    yes_no,
)
from bot.campaigns.schedules.pledge_campaigns import read_pledge_campaigns
from bot.campaigns.schedules.sources import ScheduleSource, read_files
from bot.campaigns.schedules.times import TimeProblem, zone
from bot.campaigns.schedules.yaml_nodes import Node, Reader, shown
from bot.campaigns.specs import Location, PostSpec, Problem, SpecError
from bot.pledges.campaigns import PledgeCampaignSpec

logger = logging.getLogger(__name__)

TOP_KEYS = (
    "campaign",
    "timezone",
    "approval",
    "defaults",
    "posts",
    "events",
    "pledge_campaigns",
)
TOP_ALIASES = {
    "name": "campaign",
    "tz": "timezone",
    "zone": "timezone",
    "post": "posts",
    "event": "events",
    "default": "defaults",
    "pledges": "pledge_campaigns",
    "pledge_campaign": "pledge_campaigns",
}
DEFAULT_KEYS = ("to", "facebook")
POST_KEYS = (
    "id",
    "at",
    "timezone",
    "to",
    "text",
    "thread",
    "link",
    "facebook",
    "approval",
    "embargo",
)
POST_ALIASES = {
    "time": "at",
    "when": "at",
    "date": "at",
    "datetime": "at",
    "starts": "at",
    "message": "text",
    "body": "text",
    "tweet": "text",
    "platforms": "to",
    "targets": "to",
    "accounts": "to",
    "url": "link",
    "tz": "timezone",
    "name": "id",
    "key": "id",
    "fb": "facebook",
    "parts": "thread",
    "embargoed": "embargo",
    "approvals": "approval",
}
POST_REQUIRED = {
    "id": "give the post an id that stays the same when you edit it, e.g. id: demo-eve",
    "at": "say when to post it, e.g. at: 2027-03-01 18:00",
}


@dataclass(frozen=True)
class _Declared:
    """An id a file declares (a post's or an event's), for the uniqueness check."""

    campaign: str
    key: str
    field: str
    where: Location


def discover(directory: Path) -> list[Path]:
    """The schedule files in ``directory`` (*.yaml, *.yml; not hidden ones), sorted.

    A directory that does not exist has no files (callers say "no schedule files in ...");
    a path that is a file raises NotADirectoryError.
    """
    if not directory.exists():
        return []
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    found = [
        path
        for path in directory.iterdir()
        if path.suffix in (".yaml", ".yml") and not path.name.startswith(".") and path.is_file()
    ]
    return sorted(found)


def load_files(
    paths: Sequence[Path], *, default_timezone: str, now: datetime | None = None
) -> list[PostSpec]:
    """Every post of every file, or SpecError with every problem of every file.

    Ids must be unique per campaign across all the files; a duplicate names both places.
    ``Location.file`` is each path as given. Days written as "+7d 18:00" count from
    ``now``'s date (default: the real clock's).
    """
    return load_sources(read_files(paths), default_timezone=default_timezone, now=now)


@dataclass(frozen=True)
class Schedules:
    """What a set of schedule files asks for: posts (and event reminders) and pledge
    campaigns, each file read once."""

    posts: list[PostSpec]
    pledge_campaigns: list[PledgeCampaignSpec]


def load_sources(
    sources: Sequence[ScheduleSource], *, default_timezone: str, now: datetime | None = None
) -> list[PostSpec]:
    """Every post of every source, or SpecError with every problem of every source."""
    return read_schedules(sources, default_timezone=default_timezone, now=now).posts


def read_schedules(
    sources: Sequence[ScheduleSource], *, default_timezone: str, now: datetime | None = None
) -> Schedules:
    """Every post and pledge campaign of every source, each source parsed once; or
    SpecError with every problem of every source. Days written as "+7d 18:00" count from
    ``now``'s date (default: the real clock's)."""
    _check_default(default_timezone)
    problems: list[Problem] = []
    specs: list[PostSpec] = []
    campaigns: list[PledgeCampaignSpec] = []
    declared: list[_Declared] = []
    for source in sources:
        reader = Reader(source.name, folder=source.folder, now=now)
        if source.unreadable is not None:
            reader.problem(None, "file", "", source.unreadable)
        else:
            found = _read(reader, source.text, default_timezone)
            specs.extend(found.posts)
            campaigns.extend(found.pledge_campaigns)
            declared.extend(found.declared)
        problems.extend(_by_line(reader.problems))
    problems.extend(_duplicates(declared))
    if problems:
        raise SpecError(problems)
    logger.debug("read %s posts from %s sources", len(specs), len(sources))
    return Schedules(specs, campaigns)


def load_text(
    text: str, *, source: str, default_timezone: str, now: datetime | None = None
) -> list[PostSpec]:
    """The posts of one schedule given as text (``source`` names it in problems)."""
    _check_default(default_timezone)
    reader = Reader(source, now=now)
    found = _read(reader, text, default_timezone)
    problems = _by_line(reader.problems + _duplicates(found.declared))
    if problems:
        raise SpecError(problems)
    return found.posts


def _check_default(name: str) -> None:
    # The default comes from configuration, not from a volunteer's file: a bad one is
    # the operator's mistake, so fail loudly instead of blaming every file.
    try:
        zone(name)
    except TimeProblem as problem:
        raise ValueError(f"default time zone {name!r}: {problem}") from None


@dataclass(frozen=True)
class _File:
    posts: list[PostSpec]
    pledge_campaigns: list[PledgeCampaignSpec]
    declared: list[_Declared]


_NOTHING = _File([], [], [])


def _read(reader: Reader, text: str, default_timezone: str) -> _File:
    root = reader.compose(text)
    if root is None:
        return _NOTHING
    fields = reader.mapping(
        root,
        "",
        TOP_KEYS,
        required={"campaign": "name the campaign, e.g. campaign: fujitsu-victimisation"},
        aliases=TOP_ALIASES,
    )
    if fields is None:
        return _NOTHING
    ctx = FileContext(
        reader=reader,
        campaign=campaign(reader, fields["campaign"]) if "campaign" in fields else None,
        tz_name=default_timezone,
        tz=zone(default_timezone),
    )
    if "timezone" in fields:
        _file_zone(ctx, fields["timezone"])
    if "approval" in fields:
        ctx.requires_approval = bool(approval(reader, fields["approval"], "approval"))
    if "defaults" in fields:
        _defaults(ctx, fields["defaults"])
    specs: list[PostSpec] = []
    declared: list[_Declared] = []
    lists = 0
    for section in ("posts", "events"):
        items = _items(reader, fields, section)
        lists += 0 if items is None else len(items)
        for index, node in enumerate(items or [], 1):
            given = _peek_id(node)
            field = f"{section}[{given or index}]"
            if given is not None:
                # With the campaign name broken, ids are still checked within the file.
                scope = ctx.campaign if ctx.campaign is not None else f"<{reader.source}>"
                declared.append(_Declared(scope, given, f"{field}.id", reader.where(node)))
            if section == "posts":
                post = _post(ctx, node, field)
                specs.extend([post] if post is not None else [])
            else:
                specs.extend(
                    replace(reminder, requires_approval=ctx.requires_approval)
                    for reminder in read_event(ctx, node, index, given)
                )
    campaigns: list[PledgeCampaignSpec] = []
    if "pledge_campaigns" in fields:
        campaigns = read_pledge_campaigns(ctx, fields["pledge_campaigns"])
        lists += len(campaigns) or 1
    if lists == 0 and not reader.problems:
        reader.problem(root, "posts", "", "the file has no posts or events; add a 'posts:' list")
    return _File(specs, campaigns, declared)


def _file_zone(ctx: FileContext, node: Node) -> None:
    written = ctx.reader.text(node, "timezone", "timezone: Europe/London")
    ctx.tz = None
    if written is None:
        return
    try:
        ctx.tz, ctx.tz_name = zone(written), written
    except TimeProblem as problem:
        ctx.reader.problem(node, "timezone", written, str(problem))


def _defaults(ctx: FileContext, node: Node) -> None:
    reader = ctx.reader
    fields = reader.mapping(node, "defaults", DEFAULT_KEYS)
    if fields is None:
        return
    if "to" in fields:
        ctx.default_to = targets(reader, fields["to"], "defaults.to")
        ctx.default_to_broken = ctx.default_to is None
    if "facebook" in fields:
        ctx.default_hold = bool(hold(reader, fields["facebook"], "defaults.facebook"))


def _items(reader: Reader, fields: dict[str, Node], section: str) -> list[Node] | None:
    if section not in fields:
        return None
    node = fields[section]
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return []
    example = "posts:\n  - id: ...\n    at: ..." if section == "posts" else "events:\n  - id: ..."
    return reader.sequence(node, section, example)


def _peek_id(node: Node) -> str | None:
    """The id a post or event was given, if it is usable: names it in problems."""
    if not isinstance(node, yaml.MappingNode):
        return None
    # An id merged in with '<<' counts; a key written in the post itself wins. Flatten a
    # copy: Reader.mapping must still see which keys were written in the post.
    merged = yaml.MappingNode(node.tag, list(node.value), node.start_mark, node.end_mark)
    try:
        _FLATTEN.flatten_mapping(merged)
    except yaml.YAMLError:
        return None  # reported when the post itself is read
    ids = [v for k, v in merged.value if isinstance(k, yaml.ScalarNode) and k.value == "id"]
    if not ids or not isinstance(ids[-1], yaml.ScalarNode):
        return None
    usable = ident(_QUIET, ids[-1], "id") is not None
    _QUIET.problems.clear()
    return str(ids[-1].value) if usable else None


# Used by _peek_id only: merge keys flattened, and ids checked without keeping problems
# (the post's own reading reports them), made once rather than once per post.
_FLATTEN = yaml.constructor.SafeConstructor()
_QUIET = Reader("-")


def _post(ctx: FileContext, node: Node, name: str) -> PostSpec | None:
    reader = ctx.reader
    fields = reader.mapping(node, name, POST_KEYS, required=POST_REQUIRED, aliases=POST_ALIASES)
    if fields is None:
        return None
    key = ident(reader, fields["id"], f"{name}.id") if "id" in fields else None
    shared = common(ctx, node, fields, name)
    at = when(reader, fields["at"], f"{name}.at", shared.tz) if "at" in fields else None
    wanted = platforms_of(shared.targets) if shared.targets is not None else None
    if "text" in fields and "thread" in fields:
        reader.problem(
            fields["thread"],
            f"{name}.thread",
            shown(fields["thread"]),
            "a post has either 'text' or 'thread', not both",
        )
        return None
    if "thread" in fields:
        parts = _thread(ctx, fields["thread"], f"{name}.thread", wanted, shared.link)
        kind = "thread"
    elif "text" in fields:
        parts = _single(ctx, fields["text"], f"{name}.text", wanted, shared.link)
        kind = "post"
    else:
        reader.problem(
            node,
            f"{name}.text",
            "",
            "'text' is missing; write the post, e.g. text: 'Join us ...' "
            "(or 'thread:' for a list of X posts in a row)",
        )
        return None
    requires = ctx.requires_approval
    if "approval" in fields:
        asked = approval(reader, fields["approval"], f"{name}.approval")
        if asked is False and ctx.requires_approval:
            reader.problem(
                fields["approval"],
                f"{name}.approval",
                "none",
                "the file says 'approval: required' for every post; a post cannot opt out "
                "(remove this line, or the file's 'approval:' line)",
            )
        requires = requires or bool(asked)
    embargoed = False
    if "embargo" in fields:
        embargoed = bool(yes_no(reader, fields["embargo"], f"{name}.embargo", "embargo: true"))
    if key is None or at is None or parts is None or shared.targets is None:
        return None
    if ctx.campaign is None or not shared.link_ok:
        return None
    return PostSpec(
        campaign=ctx.campaign,
        key=key,
        scheduled_at=at.astimezone(UTC),  # UTC: exact to compare, store and sort
        timezone=shared.tz_name,
        targets=shared.targets,
        parts=parts,
        link=shared.link,
        hold_on_facebook=shared.hold,
        requires_approval=requires,
        embargoed=embargoed,
        source=reader.where(node),
        kind=kind,
        lines=reader.lines(fields),
    )


def _single(
    ctx: FileContext, node: Node, field: str, wanted: tuple[str, ...] | None, link: str | None
) -> dict[str, tuple[str, ...]] | None:
    wording = texts(ctx.reader, node, field, wanted)
    if wording is None:
        return None
    parts: dict[str, tuple[str, ...]] = {}
    ok = True
    for platform, text in wording.per_platform.items():
        label = "the text"
        if platform in text_rules.LINK_IN_TEXT:
            if link and text and link not in text:
                label += " with the link"
            text = text_rules.x_text(text, link)
        ok &= check_length(
            ctx.reader, wording.node_of[platform], wording.field_of[platform], platform, text, label
        )
        parts[platform] = (text,)
    return parts if ok else None


def _thread(
    ctx: FileContext, node: Node, field: str, wanted: tuple[str, ...] | None, link: str | None
) -> dict[str, tuple[str, ...]] | None:
    """A thread: each part a reply to the one before (X, Bluesky); Facebook gets them joined."""
    reader = ctx.reader
    items = reader.sequence(node, field, "thread: ['1/ ...', '2/ ...']")
    if items is None:
        return None
    if len(items) < 2:
        reader.problem(
            node,
            field,
            shown(node),
            "a thread needs at least 2 parts; for a single post use 'text:' instead",
        )
        return None
    written = [reader.prose(item, field) for item in items]
    if any(part is None for part in written) or wanted is None:
        return None
    raw = [part.strip() for part in written if part is not None]
    ok = True
    parts: dict[str, tuple[str, ...]] = {}
    for platform in (p for p in text_rules.LINK_IN_TEXT if p in wanted):
        on_x = list(raw)
        # On X the link goes into the first part (bot.campaigns.enqueue does the same at delivery).
        if link and raw[0]:
            on_x[0] = text_rules.x_text(raw[0], link)
            later = [n for n, part in enumerate(raw[1:], 2) if link in part]
            if later and link not in raw[0] and platform == wanted_link_first(wanted):
                reader.problem(
                    items[later[0] - 1],
                    f"{field}[{later[0]}]",
                    raw[later[0] - 1],
                    f"already contains the link, which is also added to part 1 on "
                    f"{PLATFORM_NAMES[platform]}; remove 'link:' or take the address out of "
                    f"part {later[0]}",
                )
                ok = False
        for number, (item, text) in enumerate(zip(items, on_x, strict=True), 1):
            label = f"part {number} of the thread"
            if text != raw[number - 1]:
                label += " with the link"
            ok &= check_length(reader, item, f"{field}[{number}]", platform, text, label)
        parts[platform] = tuple(on_x)
    if "facebook" in wanted:
        joined = text_rules.join_thread(raw)
        label = "the thread joined into one post"
        ok &= check_length(reader, node, field, "facebook", joined, label)
        parts["facebook"] = (joined,)
    for platform in wanted:
        if platform == "facebook" or platform in text_rules.LINK_IN_TEXT:
            continue
        # Every other platform threads as X does, each part a reply, the link on the
        # first part as its own (Bluesky's link card) rather than in the text.
        for number, (item, text) in enumerate(zip(items, raw, strict=True), 1):
            label = f"part {number} of the thread"
            ok &= check_length(reader, item, f"{field}[{number}]", platform, text, label)
        parts[platform] = tuple(raw)
    return parts if ok else None


def wanted_link_first(wanted: tuple[str, ...]) -> str:
    """The first platform that takes the link into part 1 (one problem said once)."""
    return next(p for p in text_rules.LINK_IN_TEXT if p in wanted)


def _in(scope: str) -> str:
    return "" if scope.startswith("<") else f" in campaign {scope!r}"


def _by_line(problems: list[Problem]) -> list[Problem]:
    """One file's problems in reading order (stable: same line keeps finding order)."""
    return sorted(problems, key=lambda p: p.where.line or 0)


def _duplicates(declared: list[_Declared]) -> list[Problem]:
    """Ids used twice in one campaign (posts and events together), within or across files."""
    first: dict[tuple[str, str], _Declared] = {}
    problems = []
    for item in declared:
        earlier = first.setdefault((item.campaign, item.key), item)
        if earlier is item:
            continue
        problems.append(
            Problem(
                item.where,
                item.field,
                item.key,
                f"the id {item.key!r} is already used{_in(item.campaign)} at "
                f"{earlier.where} ({earlier.field}); ids must be unique within a campaign, "
                "across all its files (posts and events together)",
            )
        )
    return problems
