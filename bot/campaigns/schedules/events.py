"""Events in schedule files: one reminder post per offset before the event starts.

An event is written once (title, start, place, text with placeholders) and expands into
one PostSpec per reminder, keyed "<event id>@<offset>" (e.g. "fujitsu-demo@-1d") so that
re-applying an edited event updates the same reminders.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import UTC

from bot.campaigns import text_rules
from bot.campaigns.schedules.fields import (
    PLATFORM_NAMES,
    FileContext,
    Texts,
    check_length,
    common,
    ident,
    platforms_of,
    texts,
    when,
)
from bot.campaigns.schedules.times import (
    Offset,
    TimeProblem,
    clock,
    day,
    parse_offset,
    starts_text,
    when_text,
)
from bot.campaigns.schedules.yaml_nodes import Node, suggest
from bot.campaigns.specs import Location, PostSpec

EVENT_KEYS = (
    "id",
    "title",
    "starts",
    "timezone",
    "place",
    "reminders",
    "to",
    "text",
    "link",
    "facebook",
)
EVENT_ALIASES = {
    "start": "starts",
    "at": "starts",
    "when": "starts",
    "time": "starts",
    "date": "starts",
    "location": "place",
    "venue": "place",
    "where": "place",
    "name": "title",
    "reminder": "reminders",
    "message": "text",
    "tz": "timezone",
    "url": "link",
    "platforms": "to",
}
REQUIRED = {
    "id": "give the event an id, e.g. id: fujitsu-demo",
    "title": "give the event a title, e.g. title: Demo against victimisation",
    "starts": "say when it starts, e.g. starts: 2027-03-01 08:30",
    "reminders": "list when to post before it starts, e.g. reminders: [-7d, -1d, -2h]",
    "text": "write the reminder text, e.g. text: 'Demo {when} at {place}'",
}
PLACEHOLDERS = ("when", "place", "title", "starts", "date", "time")


@dataclass(frozen=True)
class Reminder:
    offset: Offset
    node: Node


def read_event(ctx: FileContext, node: Node, index: int, event_id: str | None) -> list[PostSpec]:
    """The reminder posts of one event (empty when anything about it is wrong)."""
    reader = ctx.reader
    name = f"events[{event_id or index}]"
    fields = reader.mapping(node, name, EVENT_KEYS, required=REQUIRED, aliases=EVENT_ALIASES)
    if fields is None:
        return []
    key = ident(reader, fields["id"], f"{name}.id") if "id" in fields else None
    title = reader.prose(fields["title"], f"{name}.title") if "title" in fields else None
    place = reader.prose(fields["place"], f"{name}.place") if "place" in fields else None
    shared = common(ctx, node, fields, name)
    start = (
        when(reader, fields["starts"], f"{name}.starts", shared.tz) if "starts" in fields else None
    )
    reminders = _reminders(ctx, fields["reminders"], name) if "reminders" in fields else None
    wanted = platforms_of(shared.targets) if shared.targets is not None else None
    wording = texts(reader, fields["text"], f"{name}.text", wanted) if "text" in fields else None
    if wording is not None and not _placeholders_ok(ctx, wording, place, name):
        wording = None
    if None in (key, title, start, reminders, wording, shared.targets, ctx.campaign):
        return []
    if not shared.link_ok:
        return []
    assert key and title and start and reminders and wording and shared.targets and ctx.campaign
    specs = []
    for reminder in reminders:
        at = reminder.offset.before(start)
        values = {
            "when": when_text(start, at),
            "place": (place or "").strip(),
            "title": title.strip(),
            "starts": starts_text(start),
            "date": day(start.date()),
            "time": clock(start),
        }
        parts: dict[str, tuple[str, ...]] = {}
        ok = True
        for platform, template in wording.per_platform.items():
            field = wording.field_of[platform]
            filled = _filled_length(template, values)
            if filled > MAX_FILLED_CHARS:
                # Counted before filling in: {title} written 100,000 times after a long
                # title would build gigabytes to say "too long".
                reader.problem(
                    wording.node_of[platform],
                    field,
                    template,
                    f"would be {filled:,} characters with the placeholders filled in; "
                    f"no platform takes more than {text_rules.FACEBOOK_MAX_CHARS:,}: shorten it",
                )
                ok = False
                continue
            try:
                text = template.format_map(values)
            except (ValueError, IndexError, KeyError) as error:
                reader.problem(
                    wording.node_of[platform], field, template, f"cannot fill in ({error})"
                )
                ok = False
                continue
            label = f"the reminder at {reminder.offset.key} ({values['when']})"
            if platform == "x":
                if shared.link and shared.link not in text:
                    label += " with the link"
                text = text_rules.x_text(text, shared.link)
            ok &= check_length(reader, wording.node_of[platform], field, platform, text, label)
            parts[platform] = (text,)
        if not ok:
            continue
        specs.append(
            PostSpec(
                campaign=ctx.campaign,
                key=f"{key}@{reminder.offset.key}",
                scheduled_at=at.astimezone(UTC),
                timezone=shared.tz_name,
                targets=shared.targets,
                parts=parts,
                link=shared.link,
                hold_on_facebook=shared.hold,
                source=reader.where(reminder.node),
                event=key,
                kind="reminder",
                lines=reader.lines(fields, at=reminder.node),
            )
        )
    return specs


MAX_FILLED_CHARS = text_rules.FACEBOOK_MAX_CHARS


def _filled_length(template: str, values: dict[str, str]) -> int:
    """How long ``template`` is with ``values`` filled in, without filling them in (the
    placeholders were checked: plain names only)."""
    return sum(
        len(literal) + (len(values.get(name, "")) if name is not None else 0)
        for literal, name, _, _ in string.Formatter().parse(template)
    )


def _reminders(ctx: FileContext, node: Node, name: str) -> list[Reminder] | None:
    reader = ctx.reader
    field = f"{name}.reminders"
    items = reader.sequence(node, field, "reminders: [-7d, -1d, -2h]")
    if items is None:
        return None
    if not items:
        reader.problem(node, field, "[]", "is empty; e.g. reminders: [-7d, -1d, -2h]")
        return None
    found: list[Reminder] = []
    seen: dict[str, Location] = {}
    ok = True
    for item in items:
        written = reader.text(item, field, "-2h")
        if written is None:
            ok = False
            continue
        try:
            offset = parse_offset(written)
        except TimeProblem as problem:
            reader.problem(item, field, written, str(problem))
            ok = False
            continue
        if offset.key in seen:
            reader.problem(
                item,
                field,
                written,
                f"is the same reminder as {offset.key} at {seen[offset.key]}; list it once",
            )
            ok = False
            continue
        seen[offset.key] = reader.where(item)
        found.append(Reminder(offset, item))
    return found if ok else None


def _placeholders_ok(ctx: FileContext, wording: Texts, place: str | None, name: str) -> bool:
    """Every {placeholder} is one we fill in, and {place} has a place to fill it with."""
    reader = ctx.reader
    ok = True
    seen: set[int] = set()
    for platform, template in wording.per_platform.items():
        node, field = wording.node_of[platform], wording.field_of[platform]
        if id(node) in seen:  # one text shared by every platform: report it once
            continue
        seen.add(id(node))
        try:
            pieces = [
                (f, spec, conversion)
                for _, f, spec, conversion in string.Formatter().parse(template)
                if f is not None
            ]
        except ValueError:
            reader.problem(
                node,
                field,
                template,
                "has a '{' or '}' without its partner; placeholders look like {when}, "
                "and a literal brace is written {{ or }}",
            )
            ok = False
            continue
        for placeholder, spec, conversion in pieces:
            if spec or conversion:
                # {title:>999999999} would pad to a gigabyte; only plain names are filled.
                written = "{" + placeholder + (f"!{conversion}" if conversion else "")
                written += (f":{spec}" if spec else "") + "}"
                reader.problem(
                    node,
                    field,
                    template,
                    f"{written[:40]} has a format after the name; write the placeholder "
                    "alone, e.g. {"
                    + (placeholder if placeholder in PLACEHOLDERS else "when")
                    + "} (a literal brace is written {{ or }})",
                )
                ok = False
            elif placeholder not in PLACEHOLDERS:
                hint = suggest(placeholder, PLACEHOLDERS)
                shown_name = "{" + placeholder + "}"
                reader.problem(
                    node,
                    field,
                    template,
                    f"unknown placeholder {shown_name}{hint} (placeholders: "
                    + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                    + ")",
                )
                ok = False
            elif placeholder == "place" and not (place and place.strip()):
                reader.problem(
                    node,
                    field,
                    template,
                    f"uses {{place}} but the event has no 'place'; add place: ... to "
                    f"{name}, or take {{place}} out of the {PLATFORM_NAMES[platform]} text",
                )
                ok = False
    return ok
