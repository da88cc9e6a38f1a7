"""What a campaign's posts achieved: totals per platform, top posts, CSV and JSON.

Totals use each delivery's latest snapshot. A delivery an estimate counts at that snapshot
(a sampled post or pledge release, ``bot.engagement.estimates``) is counted through the
estimate (``estimated``, with the interval's low and high summed in), never by its own
sampled reading as well. A metric no delivery could give stays ``None`` (unavailable), not 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import spreadsheet
from bot.campaigns import embargo
from bot.engagement import estimates
from bot.engagement.estimates import Chunk, ChunkKey
from bot.engagement.plan import REFRESH, RELEASE_KIND
from bot.engagement.store import RELEASE_ESTIMATE_SOURCE
from bot.platforms.base import METRIC_NAMES
from bot.storage.models import Account, Campaign, Delivery, DeliveryState, EngagementSnapshot, Post

# Interactions: what the chart and "top posts" add up (views and clicks are not).
INTERACTIONS = ("likes", "reposts", "replies", "quotes")

# One row per delivery per snapshot. docs/engagement.md documents each column; a test
# keeps the two in step.
CSV_COLUMNS = (
    "campaign",
    "post_key",
    "post_text",
    "delivery_id",
    "platform",
    "account",
    "platform_post_id",
    "url",
    "sent_at",
    "taken_at",
    "snapshot",
    "hours_after_sending",
    "sandbox_hours_after_sending",
    *METRIC_NAMES,
    "deleted",
    "in_sample",
)


class UnknownCampaign(LookupError):
    pass


class UnknownPost(UnknownCampaign):
    """The campaign has no post with that key."""


@dataclass
class Total:
    value: int | None = None
    low: int | None = None
    high: int | None = None
    estimated: bool = False

    def add(self, value: int | None, low: int | None = None, high: int | None = None) -> None:
        if value is None:
            return
        self.value = (self.value or 0) + value
        self.low = (self.low or 0) + (value if low is None else low)
        self.high = (self.high or 0) + (value if high is None else high)


@dataclass
class PlatformSummary:
    platform: str
    sent: int = 0
    failed: int = 0
    going: int = 0  # not final yet: waiting, sending, or being checked
    deleted: int = 0
    reach: int = 0  # followers of the accounts that sent
    metrics: dict[str, Total] = field(default_factory=lambda: {m: Total() for m in METRIC_NAMES})


@dataclass
class TopPost:
    delivery_id: int
    platform: str
    account: str
    url: str
    interactions: int
    views: int | None


@dataclass
class Report:
    campaign: str
    title: str
    platforms: dict[str, PlatformSummary]
    total: PlatformSummary
    top_posts: list[TopPost]
    snapshots: int
    first_sent: datetime | None
    last_updated: datetime | None = None  # the newest snapshot

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("first_sent", "last_updated"):
            moment = getattr(self, name)
            data[name] = moment.isoformat() if moment else None
        return data


def _campaign(session: Session, slug: str) -> Campaign:
    campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
    if campaign is None:
        raise UnknownCampaign(slug)
    return campaign


def _of(campaign: Campaign, post: str | None) -> list[Any]:
    """Conditions on Post: the campaign's posts, or only the one keyed ``post`` (a post
    sent from many accounts, such as a release, is one post)."""
    return [Post.campaign_id == campaign.id, *([Post.key == post] if post else [])]


def scope_of(session: Session, slug: str, post: str | None) -> list[Any]:
    campaign = _campaign(session, slug)
    where = _of(campaign, post)
    if post and session.scalar(select(Post.id).where(*where)) is None:
        raise UnknownPost(f"{slug}/{post}")
    return where


def snapshot_rows(session: Session, where: list[Any], post: str | None = None) -> Iterator[Any]:
    """The rows in scope, oldest first. Of one post (``post``) a release's estimate rows
    are left out: they stand for the whole release, not for that supporter's post, whose
    own readings (when it was in a sample) are then counted as they are."""
    s = EngagementSnapshot.__table__.c
    if post:
        where = [*where, s.source != RELEASE_ESTIMATE_SOURCE]
    query = (
        select(
            s.delivery_id,
            s.post_id,
            s.platform,
            s.taken_at,
            s.label,
            s.metric,
            s.value,
            s.estimated,
            s.low,
            s.high,
            s.population,
            s.source,
        )
        .join(Post, Post.id == s.post_id)
        .where(*where)
        .order_by(s.taken_at, s.id)
    )
    yield from session.execute(query.execution_options(yield_per=20_000))


class SnapshotRow(NamedTuple):
    """One row of ``snapshot_rows``, kept after its result is closed."""

    delivery_id: int | None
    post_id: int
    platform: str
    taken_at: datetime
    label: str
    metric: str
    value: int | None
    estimated: bool
    low: int | None
    high: int | None
    population: int | None
    source: str


def read_snapshots(session: Session, slug: str, post: str | None = None) -> list[SnapshotRow]:
    """The campaign's (or ``post``'s) snapshot rows, read once for a page that shows
    several views of them (pass as ``rows=`` to build, growth, breakdown, cumulative)."""
    return [
        SnapshotRow(*row) for row in snapshot_rows(session, scope_of(session, slug, post), post)
    ]


def build(
    session: Session,
    slug: str,
    *,
    top: int = 5,
    post: str | None = None,
    rows: Iterable[Any] | None = None,
) -> Report:
    """The campaign's report (``post``: only that post's deliveries; ``rows``: its
    snapshot rows when already read, ``read_snapshots``)."""
    campaign = _campaign(session, slug)
    where = scope_of(session, slug, post)
    d = Delivery.__table__.c
    deliveries = session.execute(
        select(d.id, d.post_id, d.platform, d.state, d.url, d.sent_at, d.platform_deleted_at)
        .add_columns(Account.handle, Account.id.label("account_id"), Account.followers)
        .join(Post, Post.id == d.post_id)
        .join(Account, Account.id == d.account_id)
        .where(*where)
    ).all()
    summaries: dict[str, PlatformSummary] = {}
    accounts: dict[str, dict[int, int]] = defaultdict(dict)
    info = {}
    first_sent = None
    for row in deliveries:
        summary = summaries.setdefault(row.platform, PlatformSummary(row.platform))
        if row.state == DeliveryState.SENT:
            summary.sent += 1
            accounts[row.platform][row.account_id] = row.followers or 0
            if first_sent is None or (row.sent_at and row.sent_at < first_sent):
                first_sent = row.sent_at
        elif row.state == DeliveryState.FAILED:
            summary.failed += 1
        elif row.state in DeliveryState.OPEN:
            summary.going += 1
        if row.platform_deleted_at is not None:
            summary.deleted += 1
        info[row.id] = row
    sent: dict[tuple[int, str], list[int]] = defaultdict(list)
    for row in deliveries:
        if row.state == DeliveryState.SENT:
            sent[(row.post_id, row.platform)].append(row.id)
    found = estimates.latest(snapshot_rows(session, where, post) if rows is None else rows, sent)
    latest, chunks = found.latest, found.chunks
    counted: dict[ChunkKey, int] = defaultdict(int)  # members whose latest is that estimate
    for delivery_id, (_, values, chunk_key) in latest.items():
        if chunk_key is not None:
            counted[chunk_key] += 1
            continue
        summary = summaries[info[delivery_id].platform]
        for metric, value in values.items():
            if metric in summary.metrics:
                summary.metrics[metric].add(value)
    for chunk_key, members in counted.items():
        chunk = chunks[chunk_key]
        summary = summaries.setdefault(chunk.platform, PlatformSummary(chunk.platform))
        _add_estimate(summary.metrics, chunk, members)
    for platform, summary in summaries.items():
        summary.reach = sum(accounts[platform].values())
    total = PlatformSummary("total")
    for summary in summaries.values():
        total.sent += summary.sent
        total.failed += summary.failed
        total.going += summary.going
        total.deleted += summary.deleted
        total.reach += summary.reach
        for metric, part in summary.metrics.items():
            total.metrics[metric].add(part.value, part.low, part.high)
            total.metrics[metric].estimated |= part.estimated
    ranked = sorted(
        (
            TopPost(
                delivery_id,
                info[delivery_id].platform,
                info[delivery_id].handle,
                info[delivery_id].url or "",
                sum(values.get(m) or 0 for m in INTERACTIONS),
                values.get("views"),
            )
            for delivery_id, (_, values, _) in latest.items()
            if values  # a post counted by an estimate without being read has none
        ),
        key=lambda p: (-p.interactions, -(p.views or 0), p.delivery_id),
    )
    return Report(
        campaign.slug,
        campaign.title,
        dict(sorted(summaries.items())),
        total,
        ranked[:top],
        found.values,
        first_sent,
        found.last_updated,
    )


def _add_estimate(metrics: dict[str, Total], chunk: Chunk, members: int) -> None:
    for metric, total in metrics.items():
        part = chunk.share(metric, members)
        if part is not None:
            total.add(*part)
            total.estimated = True


@dataclass
class Stage:
    """One planned snapshot (``1h``, ``24h``, …) across the campaign: each post's reading
    at that age, added up, so the stages show how engagement grew after posts went out."""

    label: str
    posts: int  # posts counted (a sampled release counts its whole population)
    metrics: dict[str, Total] = field(default_factory=lambda: {m: Total() for m in METRIC_NAMES})


_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def _label_seconds(label: str) -> float:
    number, unit = label[:-1], label[-1:]
    return int(number) * _UNIT_SECONDS[unit] if number.isdigit() and unit in _UNIT_SECONDS else 1e18


def growth(
    session: Session, slug: str, *, post: str | None = None, rows: Iterable[Any] | None = None
) -> list[Stage]:
    """The campaign's (or ``post``'s) planned snapshots in order of age; ``refresh``
    readings (taken at any age) are left out. A release sampled at a stage counts by its
    estimate there."""
    where = scope_of(session, slug, post)
    own: dict[str, dict[int, dict[str, int | None]]] = defaultdict(dict)
    chunks: dict[ChunkKey, Chunk] = {}
    for snap in snapshot_rows(session, where, post) if rows is None else rows:
        if snap.label == REFRESH:
            continue
        if snap.estimated:
            estimates.take(chunks, snap)
        elif snap.delivery_id is not None:
            # the newest reading at this label wins
            own[snap.label].setdefault(snap.delivery_id, {})[snap.metric] = snap.value
    if estimates.has_legacy(chunks):
        d = Delivery.__table__.c
        sent: dict[tuple[int, str], list[int]] = defaultdict(list)
        for row in session.execute(
            select(d.id, d.post_id, d.platform)
            .join(Post, Post.id == d.post_id)
            .where(*where, d.state == DeliveryState.SENT)
        ):
            sent[(row.post_id, row.platform)].append(row.id)
        estimates.adopt_legacy(chunks, sent)
    by_label: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in chunks.values():
        by_label[chunk.label].append(chunk)
    stages = []
    for label in sorted(own.keys() | by_label.keys(), key=lambda x: (_label_seconds(x), x)):
        stage = Stage(label, 0)
        counted = {d for chunk in by_label[label] for d in chunk.members}
        for delivery_id, values in own[label].items():
            if delivery_id in counted:
                continue  # its estimate counts it
            stage.posts += 1
            for metric, value in values.items():
                if metric in stage.metrics:
                    stage.metrics[metric].add(value)
        for chunk in by_label[label]:
            stage.posts += chunk.population
            _add_estimate(stage.metrics, chunk, chunk.population)
        stages.append(stage)
    return stages


def write_csv(
    session: Session,
    slug: str,
    out: IO[str],
    acceleration: float = 1.0,
    *,
    post: str | None = None,
) -> int:
    """One row per delivery per snapshot, with the text that went out; an unavailable
    metric is an empty cell. Text cells are formula-safe (``bot.spreadsheet.writer``).

    ``acceleration``: the sandbox's clock rate, for the post's age in sandbox time
    (``sandbox_hours_after_sending``, empty at real time); ``post``: only that post."""
    where = scope_of(session, slug, post)
    d = Delivery.__table__.c
    deliveries = {
        row.id: row
        for row in session.execute(
            select(d.id, d.platform, d.url, d.sent_at, d.platform_ids, d.platform_deleted_at)
            .add_columns(Post.key, Post.parts, Account.handle)
            .join(Post, Post.id == d.post_id)
            .join(Account, Account.id == d.account_id)
            .where(*where)
        )
    }
    writer = spreadsheet.writer(out)
    writer.writerow(CSV_COLUMNS)
    written = 0
    current: tuple[int, datetime] | None = None
    values: dict[str, Any] = {}
    label = ""
    sampled = False

    def emit() -> None:
        nonlocal written
        if current is None or not values:
            return  # none, or counted by an estimate without being read
        row = deliveries[current[0]]
        hours = (current[1] - row.sent_at).total_seconds() / 3600 if row.sent_at else None
        sandbox_hours = None if hours is None or acceleration == 1 else hours * acceleration
        writer.writerow(
            [
                slug,
                row.key,
                sent_text(row.parts, row.platform),
                row.id,
                row.platform,
                row.handle,
                (row.platform_ids or [""])[0],
                row.url or "",
                row.sent_at.isoformat() if row.sent_at else "",
                current[1].isoformat(),
                label,
                "" if hours is None else f"{hours:.2f}",
                "" if sandbox_hours is None else f"{sandbox_hours:.2f}",
                *("" if values.get(m) is None else values[m] for m in METRIC_NAMES),
                "yes" if row.platform_deleted_at else "",
                "yes" if sampled else "",
            ]
        )
        written += 1

    rows = sorted(
        (s for s in snapshot_rows(session, where, post) if s.delivery_id is not None),
        key=lambda s: (s.delivery_id, s.taken_at),
    )
    for snap in rows:
        key = (snap.delivery_id, snap.taken_at)
        if key != current:
            emit()
            current, values, label, sampled = key, {}, snap.label, False
        if snap.estimated:
            sampled = True  # a member row: an estimate counts this delivery here
        else:
            values[snap.metric] = snap.value
    emit()
    return written


# -- posts named for people ----------------------------------------------------------------


def sent_text(parts: dict[str, list[str]] | None, platform: str) -> str:
    """The text that went out on ``platform`` (a thread's parts one per line)."""
    parts = parts or {}
    texts = parts.get(platform) or parts.get("x") or parts.get("facebook") or []
    return "\n".join(texts)


def first_words(text: str, width: int = 48) -> str:
    """The start of a post's text on one line, cut at a word with "…" when longer."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    if " " in cut[width // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + "…"


def when(moment: datetime | None, zone: str, *, named: bool = True) -> str:
    """A UTC moment in the campaign's zone, "Mon 7 Dec 18:00 Europe/London"."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(zone))
    shown = f"{local:%a} {local.day} {local:%b %H:%M}"
    return f"{shown} {zone}" if named else shown


def post_name(text: str, scheduled_at: datetime | None, zone: str) -> str:
    """How a report names a post: its first words and its time in the campaign's zone
    (a URL tells an organiser nothing about which post it was)."""
    words = first_words(text) or "(no text)"
    return f"“{words}” · {when(scheduled_at, zone, named=False)}"


@dataclass
class PostLine:
    """One row of a campaign's per-post breakdown: a post, or every supporter's post of a
    pledge release together (``release``), with what it achieved by its latest snapshots."""

    key: str
    text: str
    scheduled_at: datetime
    release: bool = False
    posts: int = 1
    sent: int = 0
    failed: int = 0
    metrics: dict[str, Total] = field(default_factory=lambda: {m: Total() for m in METRIC_NAMES})
    interactions: Total = field(default_factory=Total)


def breakdown(session: Session, slug: str, *, rows: Iterable[Any] | None = None) -> list[PostLine]:
    """Every post of the campaign that went out, most interactions first; a pledge
    release's posts are one line (their estimate stands for them together). Figures are
    counted as ``build`` counts them: each delivery's latest snapshot, or its share of the
    estimate counting it there."""
    campaign = _campaign(session, slug)
    where = _of(campaign, None)
    d = Delivery.__table__.c
    deliveries = session.execute(
        select(d.id, d.post_id, d.platform, d.state)
        .add_columns(Post.key, Post.kind, Post.parts, Post.scheduled_at)
        .join(Post, Post.id == d.post_id)
        .where(*where)
        .order_by(Post.scheduled_at, Post.id, d.id)
    ).all()
    lines: dict[Any, PostLine] = {}
    line_posts: dict[Any, set[int]] = {}
    line_of: dict[int, PostLine] = {}
    sent: dict[tuple[int, str], list[int]] = defaultdict(list)
    for row in deliveries:
        release = row.kind == RELEASE_KIND
        group = "release" if release else row.post_id
        line = lines.get(group)
        if line is None:
            line = lines[group] = PostLine(
                "" if release else row.key,
                sent_text(row.parts, row.platform),
                row.scheduled_at,
                release=release,
                posts=0,
            )
            line_posts[group] = set()
        if row.post_id not in line_posts[group]:
            line_posts[group].add(row.post_id)
            line.posts += 1
        line_of[row.id] = line
        if row.state == DeliveryState.SENT:
            line.sent += 1
            sent[(row.post_id, row.platform)].append(row.id)
        elif row.state == DeliveryState.FAILED:
            line.failed += 1
    found = estimates.latest(snapshot_rows(session, where) if rows is None else rows, sent)
    counted: dict[tuple[int, ChunkKey], int] = defaultdict(int)
    for delivery_id, (_, values, chunk_key) in found.latest.items():
        line = line_of.get(delivery_id)
        if line is None:
            continue
        if chunk_key is not None:
            counted[(id(line), chunk_key)] += 1
            continue
        for metric, value in values.items():
            if metric in line.metrics:
                line.metrics[metric].add(value)
    by_id = {id(line): line for line in lines.values()}
    for (line_id, chunk_key), members in counted.items():
        _add_estimate(by_id[line_id].metrics, found.chunks[chunk_key], members)
    shown = [line for line in lines.values() if line.sent]
    for line in shown:
        for metric in INTERACTIONS:
            part = line.metrics[metric]
            line.interactions.add(part.value, part.low, part.high)
            line.interactions.estimated |= part.estimated
    return sorted(
        shown,
        key=lambda line: (-(line.interactions.value or -1), line.scheduled_at, line.key),
    )


def named_post(
    session: Session,
    slug: str,
    key: str,
    *,
    reader: embargo.Reader | None = None,
    now: datetime | None = None,
) -> str:
    """``post_name`` of the campaign's post ``key``; with ``reader`` and ``now``, an
    embargoed statement the reader may not read yet is named by its cover."""
    campaign = _campaign(session, slug)
    post = session.scalar(select(Post).where(*_of(campaign, key)))
    if post is None:
        raise UnknownPost(f"{slug}/{key}")
    hidden = reader is not None and now is not None and not embargo.may_read(post, reader, now)
    text = embargo.cover(post) if hidden else sent_text(post.parts, "x")
    return post_name(text, post.scheduled_at, campaign.timezone)
