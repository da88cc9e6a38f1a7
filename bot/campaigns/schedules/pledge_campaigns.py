"""`pledge_campaigns:` in schedule files: Thunderclap-style campaigns supporters pledge to.

Read with the same Reader as posts, so every problem names the file, line, field, value
and the fix. ``bot.campaigns.schedules.files`` calls ``read_pledge_campaigns`` while it
reads a file (so
`apply` refuses a file whose pledge campaigns are wrong); ``load_pledge_files`` returns
the specs for `pledges apply`. The format is documented in docs/schedule-files.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bot.campaigns.schedules.fields import (
    PLATFORM_ALIASES,
    FileContext,
    check_length,
    link,
    texts,
    when,
)
from bot.campaigns.schedules.sources import ScheduleSource, read_files
from bot.campaigns.schedules.times import TimeProblem, zone
from bot.campaigns.schedules.yaml_nodes import Node, Reader, shown
from bot.campaigns.specs import PLATFORMS, Problem, SpecError
from bot.pledges.campaigns import MAX_GOAL, MAX_WINDOW_MINUTES, SLUG, PledgeCampaignSpec
from bot.pledges.images import CampaignImage, ImageProblem, alt_problem, read_image
from bot.storage.models import GoalPolicy

SECTION = "pledge_campaigns"
KEYS = (
    "id",
    "title",
    "description",
    "text",
    "to",
    "variants",
    "link",
    "image",
    "image_alt",
    "goal",
    "release",
    "timezone",
    "if_goal_missed",
    "window",
    "supporters_may_edit",
)
ALIASES = {
    "at": "release",
    "release_at": "release",
    "when": "release",
    "message": "text",
    "name": "title",
    "slug": "id",
    "key": "id",
    "url": "link",
    "tz": "timezone",
    "policy": "if_goal_missed",
    "goal_policy": "if_goal_missed",
    "release_window": "window",
    "allow_edit": "supporters_may_edit",
    "editable": "supporters_may_edit",
    "platforms": "to",
    "wordings": "variants",
    "picture": "image",
    "alt": "image_alt",
    "image_description": "image_alt",
    "alt_text": "image_alt",
}
REQUIRED = {
    "id": "name it for its web address /c/<id>, e.g. id: fujitsu-demo-morning",
    "title": "give the title supporters see, e.g. title: Defend the union at Fujitsu",
    "text": "write the message supporters' accounts will post",
    "goal": "say how many supporters you aim for, e.g. goal: 500",
    "release": "say when it goes out, e.g. release: 2027-03-09 08:30",
}
# What volunteers may write for the goal policy → what is stored.
POLICY_WORDS = {
    "post_nothing": GoalPolicy.ALL_OR_NOTHING,
    "nothing": GoalPolicy.ALL_OR_NOTHING,
    "all_or_nothing": GoalPolicy.ALL_OR_NOTHING,
    "release_anyway": GoalPolicy.RELEASE_ANYWAY,
    "release": GoalPolicy.RELEASE_ANYWAY,
    "post_anyway": GoalPolicy.RELEASE_ANYWAY,
}


def read_pledge_campaigns(ctx: FileContext, node: Node) -> list[PledgeCampaignSpec]:
    """The section's campaigns; problems go on ``ctx.reader``."""
    reader = ctx.reader
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return []
    items = reader.sequence(node, SECTION, "pledge_campaigns:\n  - id: ...\n    goal: 500")
    found = []
    for index, item in enumerate(items or [], 1):
        spec = _campaign(ctx, item, f"{SECTION}[{index}]")
        if spec is not None:
            found.append(spec)
    return found


def _int(reader: Reader, node: Node, field: str, low: int, high: int, example: str) -> int | None:
    value = reader.value(node) if isinstance(node, yaml.ScalarNode) else None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        reader.problem(
            node, field, shown(node), f"must be a whole number from {low} to {high}, e.g. {example}"
        )
        return None
    return value


def _platforms(reader: Reader, node: Node, field: str) -> tuple[str, ...] | None:
    items = reader.sequence(node, field, "to: [x, facebook]")
    if items is None:
        return None
    found: list[str] = []
    for item in items:
        written = reader.text(item, field, "to: [x, facebook]")
        if written is None:
            return None
        name = PLATFORM_ALIASES.get(written.strip().lower(), written.strip().lower())
        if name not in PLATFORMS:
            reader.problem(
                item,
                field,
                written,
                f"supporters pledge on a platform: use {' or '.join(PLATFORMS)} "
                "(a pledge campaign posts from supporters' accounts, not named ones)",
            )
            return None
        if name not in found:
            found.append(name)
    return tuple(found)


def _campaign(ctx: FileContext, node: Node, name: str) -> PledgeCampaignSpec | None:
    reader = ctx.reader
    fields = reader.mapping(node, name, KEYS, required=REQUIRED, aliases=ALIASES)
    if fields is None:
        return None
    ok = True
    slug = reader.text(fields["id"], f"{name}.id") if "id" in fields else None
    if slug is not None and (not SLUG.match(slug) or len(slug) > 64):
        reader.problem(
            fields["id"],
            f"{name}.id",
            slug,
            "use lowercase letters, digits and single hyphens (at most 64): it becomes the "
            "campaign page's address",
        )
        slug = None
    title = reader.prose(fields["title"], f"{name}.title") if "title" in fields else None
    description = ""
    if "description" in fields:
        description = reader.prose(fields["description"], f"{name}.description") or ""
    tz_name, tz = ctx.tz_name, ctx.tz
    if "timezone" in fields:
        written = reader.text(fields["timezone"], f"{name}.timezone", "timezone: Europe/London")
        tz = None
        if written is not None:
            try:
                tz, tz_name = zone(written), written
            except TimeProblem as problem:
                reader.problem(fields["timezone"], f"{name}.timezone", written, str(problem))
    release = (
        when(reader, fields["release"], f"{name}.release", tz) if "release" in fields else None
    )
    url = link(reader, fields["link"], f"{name}.link") if "link" in fields else None
    ok &= "link" not in fields or url is not None
    wanted: tuple[str, ...] | None = PLATFORMS
    if "to" in fields:
        wanted = _platforms(reader, fields["to"], f"{name}.to")
    elif "text" in fields and isinstance(fields["text"], yaml.MappingNode):
        keys = [str(k.value) for k, _ in fields["text"].value if isinstance(k, yaml.ScalarNode)]
        wanted = tuple(
            PLATFORM_ALIASES.get(k, k) for k in keys if PLATFORM_ALIASES.get(k, k) in PLATFORMS
        )
    message = texts(reader, fields["text"], f"{name}.text", wanted) if "text" in fields else None
    variants: list[str] = []
    # (number as written, node) of each readable variant, so a length problem names its own
    # line and number even when an earlier variant could not be read
    variant_places: list[tuple[int, Node]] = []
    if "variants" in fields:
        items = reader.sequence(fields["variants"], f"{name}.variants", "variants: ['…', '…']")
        for number, item in enumerate(items or [], 1):
            value = reader.prose(item, f"{name}.variants[{number}]")
            ok &= value is not None
            if value is not None:
                variants.append(value.strip())
                variant_places.append((number, item))
        ok &= items is not None
    goal = None
    if "goal" in fields:
        goal = _int(reader, fields["goal"], f"{name}.goal", 1, MAX_GOAL, "goal: 500")
    window = None
    if "window" in fields:
        window = _int(
            reader, fields["window"], f"{name}.window", 0, MAX_WINDOW_MINUTES, "window: 10"
        )
        ok &= window is not None
    policy = GoalPolicy.ALL_OR_NOTHING
    if "if_goal_missed" in fields:
        written = reader.text(fields["if_goal_missed"], f"{name}.if_goal_missed") or ""
        key = written.strip().lower().replace(" ", "_").replace("-", "_")
        if key not in POLICY_WORDS:
            reader.problem(
                fields["if_goal_missed"],
                f"{name}.if_goal_missed",
                written,
                "write 'post nothing' (all-or-nothing, as Thunderclap did) or 'release anyway'",
            )
            ok = False
        else:
            policy = POLICY_WORDS[key]
    allow_edit = True
    if "supporters_may_edit" in fields:
        node_edit = fields["supporters_may_edit"]
        value = reader.value(node_edit) if isinstance(node_edit, yaml.ScalarNode) else None
        if not isinstance(value, bool):
            reader.problem(
                node_edit, f"{name}.supporters_may_edit", shown(node_edit), "must be true or false"
            )
            ok = False
        else:
            allow_edit = value
    image, alt, image_ok = _image(reader, fields, name)
    ok &= image_ok
    if message is not None and slug is not None:
        from bot.pledges.texts import as_posted, utm_tag

        for platform, text in message.per_platform.items():
            tagged = utm_tag(url, platform=platform, campaign=slug) if url else None
            label = "the text with the link" if tagged and platform == "x" else "the text"
            ok &= check_length(
                reader,
                message.node_of[platform],
                message.field_of[platform],
                platform,
                as_posted(platform, text, tagged),
                label,
            )
            for (number, item), variant in zip(variant_places, variants, strict=True):
                ok &= check_length(
                    reader,
                    item,
                    f"{name}.variants[{number}]",
                    platform,
                    as_posted(platform, variant, tagged),
                    "this variant" + (" with the link" if tagged and platform == "x" else ""),
                )
    if not ok or None in (slug, title, release, goal, message) or tz is None:
        return None
    assert slug is not None and title is not None and release is not None
    assert goal is not None and message is not None
    return PledgeCampaignSpec(
        slug=slug,
        title=title.strip(),
        description=description.strip(),
        message=dict(message.per_platform),
        variants=tuple(variants),
        link=url,
        image=image,
        image_alt=alt,
        goal=goal,
        release_at=release.astimezone(UTC),
        timezone=tz_name,
        goal_policy=policy,
        window_minutes=window,
        allow_edit=allow_edit,
        source=reader.where(node),
        lines=reader.lines(fields),
    )


def _image(
    reader: Reader, fields: dict[str, Node], name: str
) -> tuple[CampaignImage | None, str, bool]:
    """The campaign page's picture, read relative to the schedule file, and its required
    alt text: (image, alt, ok). Problems name the line and the path as written."""
    alt: str | None = ""
    if "image_alt" in fields:
        alt = reader.prose(fields["image_alt"], f"{name}.image_alt")  # None: reported
    if "image" not in fields:
        if alt:
            reader.problem(
                fields["image_alt"],
                f"{name}.image_alt",
                alt,
                "there is no image to describe; add image: (a path) or leave image_alt out",
            )
        return None, "", alt is not None and not alt
    written = reader.text(fields["image"], f"{name}.image", "image: images/demo.jpg")
    ok = written is not None and alt is not None
    image = None
    if written is not None:
        # Relative to the schedule file, so a folder of files and pictures moves as one.
        path = reader.folder / Path(written).expanduser()
        try:
            image = read_image(path, written)
        except ImageProblem as problem:
            reader.problem(fields["image"], f"{name}.image", written, f"{problem} ({path})")
            ok = False
    refusal = alt_problem(alt) if alt is not None else None
    if refusal:
        hint = "" if "image_alt" in fields else "; add image_alt: beside image:"
        node = fields.get("image_alt", fields["image"])
        reader.problem(node, f"{name}.image_alt", alt or "", refusal + hint)
        ok = False
    return image, (alt or "").strip(), ok


def load_pledge_files(
    paths: Sequence[Path], *, default_timezone: str, now: datetime | None = None
) -> list[PledgeCampaignSpec]:
    """Every pledge campaign of every file, or SpecError with every problem."""
    return load_pledge_sources(read_files(paths), default_timezone=default_timezone, now=now)


def load_pledge_sources(
    sources: Sequence[ScheduleSource], *, default_timezone: str, now: datetime | None = None
) -> list[PledgeCampaignSpec]:
    """Every pledge campaign of every source, or SpecError with every problem.

    Reads only what pledge campaigns need (the file's time zone and the section); the
    rest of each file is checked by ``bot.campaigns.schedules.files.load_sources``.
    """
    specs: list[PledgeCampaignSpec] = []
    problems: list[Problem] = []
    for source in sources:
        reader = Reader(source.name, folder=source.folder, now=now)
        root = None
        if source.unreadable is not None:
            reader.problem(None, "file", "", source.unreadable)
        else:
            root = reader.compose(source.text)
        if isinstance(root, yaml.MappingNode):
            yaml.constructor.SafeConstructor().flatten_mapping(root)
            top = {str(k.value): v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
            ctx = FileContext(
                reader=reader, campaign=None, tz_name=default_timezone, tz=zone(default_timezone)
            )
            for key in ("timezone", "tz", "zone"):
                if key in top and isinstance(top[key], yaml.ScalarNode):
                    try:
                        ctx.tz, ctx.tz_name = zone(str(top[key].value)), str(top[key].value)
                    except TimeProblem:
                        ctx.tz = None
            if SECTION in top:
                specs.extend(read_pledge_campaigns(ctx, top[SECTION]))
        problems.extend(sorted(reader.problems, key=lambda p: p.where.line or 0))
    if problems:
        raise SpecError(problems)
    return specs
