"""A campaign with something to report, written straight into the database: posts sent
on X and Facebook with snapshots at 1h and 24h, a post read at 1h and 7d only (a gap: no
24h snapshot), a failed post, and a sampled pledge release counted by its estimate.

    seeded = seed_report(sessions)
    seeded.taken   # every snapshot moment per (post key, platform), for the chart tests
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from sqlalchemy.orm import Session, sessionmaker

from bot.engagement.store import MEMBER_METRIC, RELEASE_ESTIMATE_SOURCE
from bot.storage.models import Account, Campaign, Delivery, DeliveryState, EngagementSnapshot, Post

SENT = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)  # 17:00 in Europe/London (GMT)
RALLY = "Rally at 8:30 outside Fujitsu HQ. Bring a flag and bring a friend! #DefendTheUnion"
# A post that is a formula to a spreadsheet and markup to a browser: both must show it.
SNEAKY = '=HYPERLINK("http://evil.example") <script>alert(1)</script> & "quotes"'
RELEASE_TEXT = "I'll be at the Fujitsu demo at 8:30"


@dataclass
class Seeded:
    campaign_id: int
    deliveries: dict[str, int] = field(default_factory=dict)  # "rally-x", "gap-x", ...
    # post key -> snapshot moments taken of it (the chart draws one point per moment)
    taken: dict[str, list[datetime]] = field(default_factory=dict)


def _snapshots(
    session: Session,
    delivery: Delivery,
    hours: float,
    values: dict[str, int | None],
    label: str,
) -> None:
    for metric, value in values.items():
        session.add(
            EngagementSnapshot(
                delivery_id=delivery.id,
                post_id=delivery.post_id,
                platform=delivery.platform,
                taken_at=SENT + timedelta(hours=hours),
                label=label,
                metric=metric,
                value=value,
                source="test",
                available=value is not None,
            )
        )


def seed_report(sessions: sessionmaker[Session], slug: str = "demo") -> Seeded:
    with sessions() as session:
        campaign = Campaign(slug=slug, title="Demo day", timezone="Europe/London")
        x = Account(platform="x", handle="union", platform_user_id="1", followers=1200)
        fb = Account(platform="facebook", handle="Union Page", platform_user_id="9", followers=800)
        supporters = [
            Account(
                platform="x",
                handle=f"supporter{i}",
                platform_user_id=f"s{i}",
                owner_kind="supporter",
                followers=100,
            )
            for i in range(4)
        ]
        session.add_all([campaign, x, fb, *supporters])
        session.flush()
        seeded = Seeded(campaign.id)

        def post(key: str, text: str, targets: list[str], kind: str = "post") -> Post:
            made = Post(
                campaign_id=campaign.id,
                key=key,
                kind=kind,
                parts={"x": [text], "facebook": [text]} if "facebook" in targets else {"x": [text]},
                scheduled_at=SENT,
                timezone="Europe/London",
                targets=targets,
            )
            session.add(made)
            session.flush()
            return made

        def sent(made: Post, account: Account, platform_id: str) -> Delivery:
            delivery = Delivery(
                post_id=made.id,
                account_id=account.id,
                platform=account.platform,
                state=DeliveryState.SENT,
                due_at=SENT,
                sent_at=SENT,
                parts_done=1,
                platform_ids=[platform_id],
                url=f"https://example.invalid/{platform_id}",
            )
            session.add(delivery)
            session.flush()
            return delivery

        rally = post("rally", RALLY, ["x", "facebook"])
        for account, platform_id in ((x, "111"), (fb, "9_222")):
            delivery = sent(rally, account, platform_id)
            seeded.deliveries[f"rally-{account.platform}"] = delivery.id
            for hours, scale in ((1, 1), (24, 3)):
                values: dict[str, int | None] = {
                    "likes": 10 * scale,
                    "reposts": 2 * scale,
                    "replies": scale,
                    "views": None if account.platform == "facebook" else 500 * scale,
                }
                _snapshots(session, delivery, hours, values, f"{hours}h")
        seeded.taken["rally"] = [SENT + timedelta(hours=h) for h in (1, 24)]

        gap = post("gap", SNEAKY, ["x"])
        delivery = sent(gap, x, "333")
        seeded.deliveries["gap-x"] = delivery.id
        _snapshots(session, delivery, 1.5, {"likes": 5, "reposts": 0, "views": 100}, "1h")
        _snapshots(session, delivery, 7 * 24 + 0.5, {"likes": 40, "reposts": 4, "views": 900}, "7d")
        seeded.taken["gap"] = [SENT + timedelta(hours=h) for h in (1.5, 7 * 24 + 0.5)]

        late = post("late", "Late one", ["x"])
        session.add(
            Delivery(
                post_id=late.id,
                account_id=x.id,
                platform="x",
                state=DeliveryState.FAILED,
                due_at=SENT,
                error="duplicate content",
            )
        )

        # A pledge release of 4 posts, 2 of them read at 2h, counted by the estimate.
        release = []
        for account in supporters:
            made = post(f"pledge-{account.id}", RELEASE_TEXT, [f"x:@{account.handle}"], "pledge")
            release.append(sent(made, account, f"p{account.id}"))
        taken = SENT + timedelta(hours=2)
        for metric, value, low, high in (("likes", 40, 30, 52), ("reposts", 8, 4, 12)):
            session.add(
                EngagementSnapshot(
                    delivery_id=None,
                    post_id=release[0].post_id,
                    platform="x",
                    taken_at=taken,
                    label="1h",
                    metric=metric,
                    value=value,
                    source=RELEASE_ESTIMATE_SOURCE,
                    estimated=True,
                    available=True,
                    low=low,
                    high=high,
                    sample_size=2,
                    population=4,
                )
            )
        for i, delivery in enumerate(release):
            session.add(
                EngagementSnapshot(
                    delivery_id=delivery.id,
                    post_id=delivery.post_id,
                    platform="x",
                    taken_at=taken,
                    label="1h",
                    metric=MEMBER_METRIC,
                    value=None,
                    source=RELEASE_ESTIMATE_SOURCE,
                    estimated=True,
                    available=False,
                    sample_size=2,
                    population=4,
                )
            )
            if i < 2:
                _snapshots(session, delivery, 2, {"likes": 9 + 2 * i, "reposts": 2}, "1h")
        session.commit()
        return seeded


class _Tables(HTMLParser):
    """Rows of the tables with a given class: each cell's text, whitespace folded."""

    def __init__(self, css_class: str) -> None:
        super().__init__()
        self.css_class = css_class
        self.depth = 0  # > 0 inside a wanted table
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            classes = (dict(attrs).get("class") or "").split()
            if self.depth or self.css_class in classes:
                self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []
        elif self.depth and tag == "br" and self.cell is not None:
            self.cell.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(html: str, css_class: str) -> list[list[str]]:
    """The rows (header row included) of every table in ``html`` with ``css_class``."""
    parser = _Tables(css_class)
    parser.feed(html)
    return [row for row in parser.rows if row]


SVG = "{http://www.w3.org/2000/svg}"


def parse_svg(text: str) -> ET.Element:
    """An SVG document as XML: it must parse (what a browser or an image viewer needs)."""
    return ET.fromstring(text)  # noqa: S314 - Clarion's own output, in a test


def svgs_in(html: str) -> list[ET.Element]:
    """Every inline SVG of a page, parsed."""
    return [parse_svg(s) for s in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def markers(svg: ET.Element) -> list[ET.Element]:
    """The chart's snapshot markers (one per snapshot per line)."""
    return [e for e in svg.iter() if e.get("class") == "snapshot"]
