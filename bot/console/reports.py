"""Reports in the browser: what a campaign's posts achieved, and each post's growth.

GET /console/reports                               the campaigns, each with its report (viewer)
GET /console/reports/{slug}                        totals per platform, growth, chart,
                                                   every post, top posts
GET /console/reports/{slug}/report.csv             one row per post per snapshot, with text
GET /console/reports/{slug}/posts/{key}            one post: totals, growth, chart
GET /console/reports/{slug}/posts/{key}/report.csv that post's rows

The figures are ``bot.engagement.report``'s, the same as ``python main.py report``:
an estimate says so with its range, a figure no platform gave is "not available", never
0. Charts are ``bot.engagement.chart``'s SVG, inlined, with their numbers in a table.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.campaigns import embargo
from bot.console.pages import (
    NavItem,
    message,
    now_of,
    picked_campaign,
    reader_of,
    render,
    runtime_of,
    see_other,
)
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute, route
from bot.engagement import chart
from bot.engagement import report as reports
from bot.engagement.svgchart import Bar, Figure, bar_chart, line_chart
from bot.platforms.base import METRIC_NAMES
from bot.pledges import kept_tokens
from bot.runtime.wiring import clock_rate
from bot.storage.models import Campaign, Delivery, DeliveryState, Post
from bot.web.campaign import shown

logger = logging.getLogger(__name__)

# Bars drawn in the per-post chart; the table below it lists every post.
BARS = 10
TOP = 5
SUMMARY_ROWS = (
    ("posts sent", "sent"),
    ("failed", "failed"),
    ("still going", "going"),
    ("deleted since", "deleted"),
    ("reach (followers)", "reach"),
)


def inline_svg(svg: str) -> Markup:
    """An SVG from ``bot.engagement.svgchart`` for a page: it escapes every text it
    writes (post texts included), so it goes into the page as markup."""
    return Markup(svg)  # noqa: S704 - written by svgchart, every text in it escaped


@dataclass(frozen=True)
class Cell:
    """A figure as the page shows it, and what it is made of (for the tests and CSS)."""

    text: str
    estimated: bool = False
    missing: bool = False
    range: str = ""  # an estimate's 95% range, "1,020–1,450"

    @classmethod
    def of(cls, total: reports.Total) -> Cell:
        if total.value is None:
            return cls(shown(total), missing=True)
        if total.estimated:
            low = total.value if total.low is None else total.low
            high = total.value if total.high is None else total.high
            return cls(shown(total), estimated=True, range=f"{low:,}–{high:,}")
        return cls(shown(total))


def _number(value: int) -> Cell:
    return Cell(f"{value:,}")


def summary_table(built: reports.Report) -> dict[str, Any]:
    """The CLI's table: a column per platform and the total, a row per figure."""
    columns = [*built.platforms.values(), built.total]
    rows: list[tuple[str, list[Cell]]] = [
        (label, [_number(getattr(s, name)) for s in columns]) for label, name in SUMMARY_ROWS
    ]
    rows += [
        (metric.replace("_", " "), [Cell.of(s.metrics[metric]) for s in columns])
        for metric in METRIC_NAMES
    ]
    return {
        "columns": [
            chart.platform_name(s.platform) if s.platform != "total" else "Total" for s in columns
        ],
        "rows": rows,
    }


def growth_table(stages: list[reports.Stage]) -> dict[str, Any]:
    metrics = [m for m in METRIC_NAMES if any(s.metrics[m].value is not None for s in stages)]
    return {
        "metrics": [m.replace("_", " ") for m in metrics],
        "rows": [
            (f"after {s.label}", s.posts, [Cell.of(s.metrics[m]) for m in metrics]) for s in stages
        ],
        "uneven": len({s.posts for s in stages}) > 1,
    }


def chart_tables(figure: Figure) -> list[dict[str, Any]]:
    """The chart's numbers: per panel, a row per snapshot time, a column per line."""
    tables = []
    for panel in figure.panels:
        names = [line.name for line in panel.lines]
        rows: dict[float, tuple[str, dict[str, int]]] = {}
        for line in panel.lines:
            for point in line.points:
                rows.setdefault(point.x, (point.label, {}))[1][line.name] = point.value
        tables.append(
            {
                "title": panel.title,
                "columns": names,
                "rows": [
                    (label, [f"{values[n]:,}" if n in values else "no snapshot" for n in names])
                    for _, (label, values) in sorted(rows.items())
                ],
                "notes": panel.notes,
            }
        )
    return tables


def _figure(
    session: Session,
    slug: str,
    title: str,
    zone: str,
    rate: float,
    built: reports.Report,
    rows: list[Any],
    post: str | None = None,
) -> Figure:
    series = chart.cumulative(session, slug, post=post, rows=rows)
    return chart.figure(series, title, zone=zone, acceleration=rate, start=built.first_sent)


def _campaign(session: Session, slug: str) -> Campaign | None:
    return session.scalar(select(Campaign).where(Campaign.slug == slug))


def _sandbox_note(rate: float) -> str:
    if rate == 1:
        return ""
    return (
        f"The sandbox's clock runs {rate:g}x faster than real time: a week there took "
        f"{7 * 86400 / rate / 60:.3g} real minutes. Ages and the chart's days are sandbox time."
    )


def _top_posts(
    session: Session, built: reports.Report, zone: str, slug: str
) -> list[dict[str, Any]]:
    ids = [p.delivery_id for p in built.top_posts]
    if not ids:
        return []
    found = {
        row.id: row
        for row in session.execute(
            select(Delivery.id)
            .add_columns(Post.key, Post.kind, Post.parts, Post.scheduled_at)
            .join(Post, Post.id == Delivery.post_id)
            .where(Delivery.id.in_(ids))
        )
    }
    top = []
    for p in built.top_posts:
        row = found[p.delivery_id]
        top.append(
            {
                "name": reports.post_name(
                    reports.sent_text(row.parts, p.platform), row.scheduled_at, zone
                ),
                "href": f"/console/reports/{quote(slug)}/posts/{quote(row.key)}",
                "platform": chart.platform_name(p.platform),
                "account": p.account,
                "interactions": f"{p.interactions:,}",
                "views": "not available" if p.views is None else f"{p.views:,}",
                "url": p.url,
            }
        )
    return top


def _breakdown(lines: list[reports.PostLine], zone: str, slug: str) -> dict[str, Any]:
    rows = []
    bars: list[Bar] = []
    for line in lines:
        if line.release:
            name = (
                f"Pledge release: {line.posts:,} supporters' posts · "
                f"{reports.when(line.scheduled_at, zone, named=False)}"
            )
        else:
            name = reports.post_name(line.text, line.scheduled_at, zone)
        interactions = Cell.of(line.interactions)
        rows.append(
            {
                "name": name,
                "href": None
                if line.release
                else f"/console/reports/{quote(slug)}/posts/{quote(line.key)}",
                "sent": line.sent,
                "failed": line.failed,
                "interactions": interactions,
                "views": Cell.of(line.metrics["views"]),
                "likes": Cell.of(line.metrics["likes"]),
                "reposts": Cell.of(line.metrics["reposts"]),
                "replies": Cell.of(line.metrics["replies"]),
            }
        )
        if len(bars) < BARS:
            bars.append(
                Bar(
                    name,
                    line.interactions.value,
                    interactions.text,
                    line.interactions.low,
                    line.interactions.high,
                    line.interactions.estimated,
                )
            )
    svg = ""
    if bars:
        more = f" (the {BARS} with most; every post is in the table)" if len(lines) > BARS else ""
        svg = bar_chart(
            f"Interactions per post{more}",
            "Likes + reposts + replies + quotes of each post by its latest snapshot: "
            + "; ".join(f"{b.label}: {b.shown}" for b in bars),
            bars,
            ident="per-post",
        )
    return {"rows": rows, "svg": inline_svg(svg)}


async def index_page(request: Request) -> Response:
    """The campaigns to report on; the campaign picker's choice opens its report."""
    picked = picked_campaign(request)
    if picked and request.query_params.get("campaign") is not None:
        return see_other(f"/console/reports/{quote(picked)}")
    runtime = runtime_of(request)

    def load() -> dict[str, Any]:
        with runtime.sessions() as session:
            sent = dict(
                session.execute(
                    select(Post.campaign_id, func.count(Delivery.id))
                    .join(Delivery, Delivery.post_id == Post.id)
                    .where(Delivery.state == DeliveryState.SENT)
                    .group_by(Post.campaign_id)
                ).all()
            )
            return {
                "report_campaigns": [
                    {
                        "slug": c.slug,
                        "title": c.title or c.slug,
                        "sent": sent.get(c.id, 0),
                        "href": f"/console/reports/{quote(c.slug)}",
                    }
                    for c in session.scalars(select(Campaign).order_by(Campaign.slug))
                ]
            }

    return render(request, "reports.html", await run_in_threadpool(load))


def _no_campaign(request: Request, slug: str) -> Response:
    return message(
        request,
        404,
        "No such campaign",
        f"There is no campaign {slug!r}. Pick one from the list of reports.",
    )


def _picked_elsewhere(request: Request, slug: str) -> Response | None:
    """The campaign picker, used on a report, opens the picked campaign's report."""
    picked = request.query_params.get("campaign")
    if picked is None or picked == slug:
        return None
    return see_other(f"/console/reports/{quote(picked)}" if picked else "/console/reports")


async def campaign_page(request: Request) -> Response:
    slug = request.path_params["slug"]
    if (elsewhere := _picked_elsewhere(request, slug)) is not None:
        return elsewhere
    runtime = runtime_of(request)

    def load() -> dict[str, Any] | None:
        rate = clock_rate(runtime.settings)
        with runtime.sessions() as session:
            campaign = _campaign(session, slug)
            if campaign is None:
                return None
            zone = campaign.timezone
            rows = reports.read_snapshots(session, slug)  # once for every view below
            built = reports.build(session, slug, top=TOP, rows=rows)
            stages = reports.growth(session, slug, rows=rows)
            figure = _figure(
                session, slug, "Cumulative engagement over time", zone, rate, built, rows
            )
            return {
                "title": campaign.title or slug,
                "slug": slug,
                "zone": zone,
                "summary": summary_table(built),
                "snapshots": built.snapshots,
                "last_updated": reports.when(built.last_updated, zone),
                "note": kept_tokens.no_figures_note(session, campaign.id, runtime.settings),
                "sandbox_note": _sandbox_note(rate),
                "growth": growth_table(stages),
                "chart": inline_svg(line_chart(figure, ident="engagement", key=False)),
                "chart_points": figure.points(),
                "chart_tables": chart_tables(figure),
                "breakdown": _breakdown(reports.breakdown(session, slug, rows=rows), zone, slug),
                "top": _top_posts(session, built, zone, slug),
                "csv_href": f"/console/reports/{quote(slug)}/report.csv",
            }

    context = await run_in_threadpool(load)
    if context is None:
        return _no_campaign(request, slug)
    return render(request, "reports_campaign.html", context)


async def post_page(request: Request) -> Response:
    slug = request.path_params["slug"]
    key = request.path_params["key"]
    if (elsewhere := _picked_elsewhere(request, slug)) is not None:
        return elsewhere
    runtime = runtime_of(request)
    reader, now = reader_of(request), now_of(request)

    def load() -> dict[str, Any] | None:
        rate = clock_rate(runtime.settings)
        with runtime.sessions() as session:
            campaign = _campaign(session, slug)
            post = (
                session.scalar(select(Post).where(Post.campaign_id == campaign.id, Post.key == key))
                if campaign is not None
                else None
            )
            if campaign is None or post is None:
                return None
            zone = campaign.timezone
            rows = reports.read_snapshots(session, slug, key)
            built = reports.build(session, slug, top=TOP, post=key, rows=rows)
            stages = reports.growth(session, slug, post=key, rows=rows)
            # An embargoed statement's words are named by its cover until it goes out.
            readable = embargo.may_read(post, reader, now)
            text = reports.sent_text(post.parts, "x") if readable else embargo.cover(post)
            name = (
                reports.named_post(session, slug, key)
                if readable
                else reports.post_name(text, post.scheduled_at, zone)
            )
            figure = _figure(
                session, slug, f"{name}: engagement over time", zone, rate, built, rows, key
            )
            return {
                "title": campaign.title or slug,
                "slug": slug,
                "zone": zone,
                "name": name,
                "text": text,
                "post_id": post.id,
                "scheduled": reports.when(post.scheduled_at, zone),
                "summary": summary_table(built),
                "snapshots": built.snapshots,
                "last_updated": reports.when(built.last_updated, zone),
                "sandbox_note": _sandbox_note(rate),
                "growth": growth_table(stages),
                "chart": inline_svg(line_chart(figure, ident="post-engagement", key=False)),
                "chart_points": figure.points(),
                "chart_tables": chart_tables(figure),
                "campaign_href": f"/console/reports/{quote(slug)}",
                "csv_href": f"/console/reports/{quote(slug)}/posts/{quote(key)}/report.csv",
            }

    context = await run_in_threadpool(load)
    if context is None:
        return message(
            request,
            404,
            "No such post",
            f"Campaign {slug!r} has no post {key!r}. Open the campaign's report to see its posts.",
        )
    return render(request, "reports_post.html", context)


def _csv(request: Request, slug: str, post: str | None) -> Response:
    runtime = runtime_of(request)
    rate = clock_rate(runtime.settings)
    out = io.StringIO()
    with runtime.sessions() as session:
        try:
            reports.write_csv(session, slug, out, rate, post=post)
        except reports.UnknownCampaign:
            return message(
                request,
                404,
                "Nothing to download",
                f"There is no campaign {slug!r}"
                + (f" with a post {post!r}" if post else "")
                + ". Pick one from the list of reports.",
            )
    name = f"{slug}-{post}-report.csv" if post else f"{slug}-report.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


async def campaign_csv(request: Request) -> Response:
    return await run_in_threadpool(_csv, request, request.path_params["slug"], None)


async def post_csv(request: Request) -> Response:
    params = request.path_params
    return await run_in_threadpool(_csv, request, params["slug"], params["key"])


ROUTES: list[ConsoleRoute] = [
    route("/reports", index_page, role=Role.VIEWER, name="reports"),
    route("/reports/{slug}", campaign_page, role=Role.VIEWER, name="reports_campaign"),
    route("/reports/{slug}/report.csv", campaign_csv, role=Role.VIEWER, name="reports_csv"),
    route("/reports/{slug}/posts/{key}", post_page, role=Role.VIEWER, name="reports_post"),
    route(
        "/reports/{slug}/posts/{key}/report.csv",
        post_csv,
        role=Role.VIEWER,
        name="reports_post_csv",
    ),
]
NAV = [NavItem("Reports", "/reports", Role.VIEWER)]
