"""Times in schedule files: parsing, time zones and DST, reminder offsets, humane wording.

Volunteers write local wall-clock times ("2027-03-01 18:00") in a named IANA zone, or a
day counted from the day the file is applied ("+7d 18:00", "today 18:00", "tomorrow
09:00"), so a file such as the shipped examples applies whatever the date. A wall-clock
time can fail to exist (the hour skipped when clocks go forward) or happen
twice (the hour repeated when they go back); both are refused with the fix spelled out
rather than guessed, because a post an hour early or late can miss a demo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.campaigns.schedules.yaml_nodes import closest

EXAMPLE = "2027-03-01 18:00"

_TIME = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt]|\s+)(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s*(?P<offset>[Zz]|[+-]\d{1,2}(?::?\d{2})?)?$"
)
# "+7d 18:00", "+ 2 days 9:30", "today 18:00", "tomorrow 09:00"; at most ~10 years ahead.
_RELATIVE = re.compile(
    r"^(?:\+\s*(?P<days>\d{1,4})\s*d(?:ays?)?|(?P<word>today|tomorrow))"
    r"\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})$",
    re.IGNORECASE,
)
MAX_DAYS_AHEAD = 3660
_DATE_ONLY = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_CLOCK_ONLY = re.compile(r"^\d{1,2}[:.]\d{2}(?:[:.]\d{2})?\s*(?:[ap]m)?$", re.IGNORECASE)
_OFFSET = re.compile(
    r"^-\s*(?:(?P<w>\d+)\s*w)?\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*"
    r"(?:(?P<m>\d+)\s*m(?:in)?)?$",
    re.IGNORECASE,
)
# Common names that are not IANA zone names, and what the volunteer probably meant.
_ZONE_ALIASES = {"bst": "Europe/London", "uk": "Europe/London", "gmt+1": "Europe/London"}


# The longest IANA name is 32 characters (America/Argentina/ComodRivadavia).
MAX_ZONE_NAME = 64
# Years a schedule may name: wider than any campaign, narrow enough that a zone's offset
# or a reminder's days never push a time past datetime's years 1 to 9999.
YEARS = range(2000, 3000)
# A reminder at most this long before its event.
MAX_OFFSET_DAYS = 3660


class TimeProblem(ValueError):
    """A time or offset that cannot be used; the message says what to write instead."""


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``, or TimeProblem with a suggestion."""
    if len(name) > MAX_ZONE_NAME:
        raise TimeProblem(
            f"is {len(name):,} characters, longer than any time zone name; use an IANA "
            "name such as Europe/London"
        )
    try:
        if name.strip() == name and name:
            return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    names = _zone_names()
    # "London" → "Europe/London": match the city part before fuzzy matching.
    cities = {n.rsplit("/", 1)[-1].lower(): n for n in names if "/" in n}
    match = closest(name.strip().replace(" ", "_"), names, {**_ZONE_ALIASES, **cities})
    example = f"{match} (did you mean that?)" if match else "Europe/London"
    raise TimeProblem(f"unknown time zone; use an IANA name such as {example}")


def parse_time(raw: str, tz: ZoneInfo, *, today: date | None = None) -> datetime:
    """An aware datetime in ``tz`` from "YYYY-MM-DD HH:MM[:SS][ offset]" as written, or
    from a day counted from ``today`` ("+7d 18:00", "today 18:00", "tomorrow 09:00").

    Read from the raw text, so it does not matter whether YAML would have typed it as a
    string or a timestamp. An explicit offset ("+01:00", "Z") fixes the instant itself.
    ``today`` is the date in ``tz`` on which the file is read; without it a relative day
    is refused (where no apply date is known).
    """
    text = raw.strip()
    relative = _RELATIVE.match(text)
    if relative is not None:
        return _relative_time(relative, tz, today, written=text)
    match = _TIME.match(text)
    if match is None:
        if _DATE_ONLY.match(text):
            raise TimeProblem(f"needs a time as well as a date, e.g. {text} 18:00")
        if _CLOCK_ONLY.match(text):
            raise TimeProblem(f"needs a date as well as a time, e.g. {EXAMPLE}")
        raise TimeProblem(
            f"is not a date and time; write YYYY-MM-DD HH:MM (24-hour), e.g. {EXAMPLE}"
        )
    year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
    second = int(match.group(6) or 0)
    if year not in YEARS:
        raise TimeProblem(
            f"has the year {year}; write a year from {YEARS[0]} to {YEARS[-1]}, e.g. {EXAMPLE}"
        )
    try:
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError as error:
        raise TimeProblem(f"is not a real date and time ({error}); e.g. {EXAMPLE}") from None
    offset = match.group("offset")
    if offset is not None:
        return naive.replace(tzinfo=_fixed_offset(offset)).astimezone(tz)
    return localize(naive, tz, written=text)


def _relative_time(
    match: re.Match[str], tz: ZoneInfo, today: date | None, *, written: str
) -> datetime:
    if today is None:
        raise TimeProblem(f"is a day counted from today, which is not known here; e.g. {EXAMPLE}")
    word = (match.group("word") or "").lower()
    days = {"today": 0, "tomorrow": 1}[word] if word else int(match.group("days"))
    if days > MAX_DAYS_AHEAD:
        raise TimeProblem(
            f"is {days} days ahead; write at most +{MAX_DAYS_AHEAD}d, or a date, e.g. {EXAMPLE}"
        )
    hour, minute = int(match.group("hour")), int(match.group("minute"))
    if hour > 23 or minute > 59:
        raise TimeProblem("is not a time of day (24-hour HH:MM); e.g. +7d 18:00")
    day = today + timedelta(days=days)
    return localize(datetime(day.year, day.month, day.day, hour, minute), tz, written=written)


def _fixed_offset(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    if hours > 14 or minutes >= 60:
        raise TimeProblem(f"has an offset {text} that no place uses; e.g. +01:00")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def localize(naive: datetime, tz: ZoneInfo, *, written: str) -> datetime:
    """``naive`` as a wall-clock time in ``tz``; TimeProblem if it is skipped or repeated."""
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    before, after = first.utcoffset(), second.utcoffset()
    if before == after or before is None or after is None:
        return first
    # PEP 495: in a gap fold=0 uses the offset from before the change; the round trip
    # through UTC then lands on a different wall-clock time. In an overlap it does not.
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        jump = after - before
        later = (naive + jump).strftime("%H:%M")
        raise TimeProblem(
            f"does not exist in {tz.key}: the clocks go forward {_duration(jump)} that "
            f"night and skip this time; pick a time outside the gap, e.g. {later}"
        )
    stem = naive.strftime("%Y-%m-%d %H:%M")
    raise TimeProblem(
        f"happens twice in {tz.key}: the clocks go back {_duration(before - after)} that "
        f"night; add the offset to say which: '{stem} {_offset(before)}' (the first) or "
        f"'{stem} {_offset(after)}' (the second)"
    )


def lenient(naive: datetime, tz: ZoneInfo) -> datetime:
    """``naive`` in ``tz`` without refusing: a skipped time moves forward past the gap.

    For reminder times we computed ourselves; the volunteer cannot edit those.
    """
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


@dataclass(frozen=True)
class Offset:
    """A reminder offset before an event: calendar days, then elapsed minutes."""

    days: int
    minutes: int

    @property
    def key(self) -> str:
        """Canonical spelling, used in the reminder's key: -7d, -1d2h, -1h30m."""
        hours, minutes = divmod(self.minutes, 60)
        parts = [f"{n}{unit}" for n, unit in ((self.days, "d"), (hours, "h"), (minutes, "m")) if n]
        return "-" + "".join(parts)

    def before(self, start: datetime) -> datetime:
        """The reminder's time: same wall-clock time ``days`` earlier, then ``minutes``
        earlier in elapsed time (so "-1d" stays 8:30 across a clock change)."""
        tz = start.tzinfo
        assert isinstance(tz, ZoneInfo)  # parse_time always gives a ZoneInfo
        day_before = lenient(start.replace(tzinfo=None) - timedelta(days=self.days), tz)
        return (day_before.astimezone(UTC) - timedelta(minutes=self.minutes)).astimezone(tz)


def parse_offset(raw: str) -> Offset:
    """ "-7d", "-1d", "-2h", "-30m", "-1d2h", "-1w" → Offset; TimeProblem otherwise."""
    text = raw.strip()
    match = _OFFSET.match(text)
    if match is None or not any(match.groupdict().values()):
        if text.startswith("+") or (text[:1].isdigit() and _OFFSET.match("-" + text)):
            raise TimeProblem(
                "reminders go before the start: write the offset with a minus sign, "
                f"e.g. -{text.lstrip('+')}"
            )
        raise TimeProblem("is not an offset; write e.g. -7d, -1d, -2h, -30m or -1d2h")
    if any(len(v or "") > 6 for v in match.groupdict().values()):
        raise TimeProblem(f"is more than {MAX_OFFSET_DAYS} days; e.g. -7d")
    number = {k: int(v or 0) for k, v in match.groupdict().items()}
    offset = Offset(days=number["w"] * 7 + number["d"], minutes=number["h"] * 60 + number["m"])
    if offset.days == 0 and offset.minutes == 0:
        raise TimeProblem("is zero; reminders go before the start, e.g. -30m")
    if offset.days + offset.minutes // 1440 > MAX_OFFSET_DAYS:
        raise TimeProblem(f"is more than {MAX_OFFSET_DAYS} days; e.g. -7d")
    return offset


def clock(moment: datetime) -> str:
    """8:30am, 6pm, 12 noon, midnight: how a UK leaflet writes a time."""
    if moment.hour == 12 and moment.minute == 0:
        return "12 noon"
    if moment.hour == 0 and moment.minute == 0:
        return "midnight"
    suffix = "am" if moment.hour < 12 else "pm"
    hour = moment.hour % 12 or 12
    return f"{hour}{suffix}" if moment.minute == 0 else f"{hour}:{moment.minute:02d}{suffix}"


def day(moment: date, *, with_year: bool = False) -> str:
    """Tuesday 8 December (2026)."""
    text = f"{moment:%A} {moment.day} {moment:%B}"
    return f"{text} {moment.year}" if with_year else text


def starts_text(start: datetime) -> str:
    """{starts}: "Tuesday 8 December at 8:30am"."""
    return f"{day(start.date())} at {clock(start)}"


def when_text(start: datetime, at: datetime) -> str:
    """{when}: the start described from the moment the reminder goes out.

    Within 3 hours: "in 2 hours (8:30am)"; same day: "today at 6pm"; next day:
    "tomorrow at 8:30am"; later: "on Tuesday 8 December at 8:30am" (with the year when
    the start is in another year than the reminder).
    """
    local_at = at.astimezone(start.tzinfo)
    ahead = start - at
    days = (start.date() - local_at.date()).days
    if ahead <= timedelta(hours=3):
        return f"in {_duration(ahead)} ({clock(start)})"
    if days == 0:
        return f"today at {clock(start)}"
    if days == 1:
        return f"tomorrow at {clock(start)}"
    return f"on {day(start.date(), with_year=start.year != local_at.year)} at {clock(start)}"


def _duration(delta: timedelta) -> str:
    """2 hours, 1 hour 30 minutes, 45 minutes."""
    total = int(delta.total_seconds() // 60)
    hours, minutes = divmod(total, 60)
    words = []
    if hours:
        words.append(f"{hours} hour" + ("s" if hours != 1 else ""))
    if minutes or not hours:
        words.append(f"{minutes} minute" + ("s" if minutes != 1 else ""))
    return " ".join(words)
