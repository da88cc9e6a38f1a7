"""Creating and editing pledge campaigns, from the CLI or from schedule files.

Both produce PledgeCampaignSpecs; ``apply_campaigns`` checks them all (texts against each
platform's length with the campaign link in, goal, time, policy) and stores them
all-or-nothing, like ``bot.campaigns.enqueue.apply_specs`` does for posts. A campaign can be edited
only while it is open; once its release has started it is kept as it is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from bot.campaigns.specs import PLATFORMS, Location, Problem, SpecError
from bot.platforms import PLATFORM_LABELS
from bot.pledges import texts
from bot.pledges.cutoff import LIVE
from bot.pledges.images import CampaignImage, alt_problem
from bot.storage.models import (
    Account,
    Campaign,
    GoalPolicy,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
)

logger = logging.getLogger(__name__)

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
POLICIES = (GoalPolicy.ALL_OR_NOTHING, GoalPolicy.RELEASE_ANYWAY)
PLATFORM_NAMES = PLATFORM_LABELS  # the registry's labels
MAX_WINDOW_MINUTES = 24 * 60
# More supporters than any campaign gathers (the largest Thunderclaps reached a few
# hundred thousand), and well inside a 32-bit database integer.
MAX_GOAL = 10_000_000


@dataclass(frozen=True)
class PledgeCampaignSpec:
    """A pledge campaign as a volunteer described it. ``release_at`` is timezone-aware;
    ``window_minutes`` None means the configured default (RELEASE_WINDOW_MINUTES)."""

    slug: str
    title: str
    message: Mapping[str, str]  # platform → text (the platforms supporters can pledge)
    goal: int
    release_at: datetime
    timezone: str
    description: str = ""
    variants: tuple[str, ...] = ()
    link: str | None = None
    image: CampaignImage | None = None  # for the page and its share card, not the posts
    image_alt: str = ""
    goal_policy: str = GoalPolicy.ALL_OR_NOTHING
    window_minutes: int | None = None
    allow_edit: bool = True
    source: Location = field(default_factory=lambda: Location("<command line>"))
    lines: Mapping[str, int] = field(default_factory=dict)

    def where(self, field_name: str) -> Location:
        line = self.lines.get(field_name)
        return Location(self.source.file, line) if line is not None else self.source


@dataclass
class CampaignReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # release started: left as it is
    notes: list[str] = field(default_factory=list)


def check_spec(spec: PledgeCampaignSpec) -> list[Problem]:
    """Everything that can be checked without the database."""
    problems: list[Problem] = []

    def problem(name: str, value: object, message: str) -> None:
        problems.append(Problem(spec.where(name), name, str(value), message))

    if not SLUG.match(spec.slug) or len(spec.slug) > 64:
        problem("id", spec.slug, "use lowercase letters, digits and single hyphens (at most 64)")
    if not spec.title.strip():
        problem("title", spec.title, "give the campaign a title supporters will see")
    if not spec.message:
        problem("text", "", "write the message, e.g. text: 'Reinstate our rep…'")
    for platform in spec.message:
        if platform not in PLATFORMS:
            problem("text", platform, f"unknown platform; use one of: {', '.join(PLATFORMS)}")
    if not 1 <= spec.goal <= MAX_GOAL:
        problem(
            "goal", spec.goal, f"the goal is a number of supporters, 1 to {MAX_GOAL:,}, e.g. 500"
        )
    if spec.goal_policy not in POLICIES:
        problem("if_goal_missed", spec.goal_policy, f"use one of: {', '.join(POLICIES)}")
    if spec.window_minutes is not None and not 0 <= spec.window_minutes <= MAX_WINDOW_MINUTES:
        problem(
            "window",
            spec.window_minutes,
            f"the release window is 0 (all at once) to {MAX_WINDOW_MINUTES} minutes",
        )
    if spec.release_at.tzinfo is None:
        problem("release", spec.release_at, "give the time with its time zone")
    link = spec.link
    if link is not None:
        # The same rule as a schedule file's link (bot.campaigns.schedules.fields.link), here so the
        # command line is held to it too: it goes into every supporter's post.
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", link):
            example = f", e.g. https://{link}" if not parts.scheme and "." in link else ""
            problem(
                "link",
                link,
                f"must be a web address starting with https://, with no spaces{example}",
            )
            link = None
    if spec.image is not None:
        # Alt text is required: the page is for everyone, screen-reader users included
        # (WCAG 1.1.1), and the share card passes it on as og:image:alt.
        refusal = alt_problem(spec.image_alt)
        if refusal:
            problem("image_alt", spec.image_alt, refusal)
    elif spec.image_alt.strip():
        problem("image_alt", spec.image_alt, "there is no image to describe; give the image too")
    for platform, text in spec.message.items():
        if platform not in PLATFORMS:
            continue
        tagged = texts.utm_tag(link, platform=platform, campaign=spec.slug) if link else None
        refusal = texts.refusal(platform, text, tagged)
        if refusal:
            with_link = " with the link" if tagged and platform == "x" else ""
            problem(
                f"text.{platform}" if len(spec.message) > 1 else "text",
                text,
                f"for {PLATFORM_NAMES[platform]}, the text{with_link} {refusal}",
            )
        for number, variant in enumerate(spec.variants, 1):
            refusal = texts.refusal(platform, variant, tagged)
            if refusal:
                problem(
                    f"variants[{number}]",
                    variant,
                    f"for {PLATFORM_NAMES[platform]}, this variant {refusal}",
                )
    return problems


def _same(pc: PledgeCampaign, spec: PledgeCampaignSpec, window: int) -> bool:
    return (
        pc.campaign.title == spec.title
        and pc.description == spec.description
        and pc.message == dict(spec.message)
        and pc.variants == list(spec.variants)
        and pc.link == spec.link
        and pc.image_sha256 == (spec.image.sha256 if spec.image else None)
        and (pc.image_alt or "") == (spec.image_alt.strip() if spec.image else "")
        and pc.goal == spec.goal
        and pc.release_at == spec.release_at
        and pc.timezone == spec.timezone
        and pc.goal_policy == spec.goal_policy
        and pc.window_minutes == window
        and pc.allow_edit == spec.allow_edit
    )


def _write(pc: PledgeCampaign, spec: PledgeCampaignSpec, window: int) -> None:
    pc.campaign.title = spec.title
    pc.campaign.timezone = spec.timezone
    pc.description = spec.description
    pc.message = dict(spec.message)
    pc.variants = list(spec.variants)
    pc.link = spec.link
    _write_image(pc, spec)
    pc.goal = spec.goal
    pc.release_at = spec.release_at
    pc.timezone = spec.timezone
    pc.goal_policy = spec.goal_policy
    pc.window_minutes = window
    pc.allow_edit = spec.allow_edit
    pc.source = str(spec.source)


def _write_image(pc: PledgeCampaign, spec: PledgeCampaignSpec) -> None:
    image = spec.image
    if image is None:
        pc.image_path = pc.image_data = pc.image_type = pc.image_alt = None
        pc.image_width = pc.image_height = pc.image_sha256 = None
        return
    if pc.image_sha256 != image.sha256:  # the same picture again: its bytes stay as they are
        pc.image_data = image.data
        pc.image_type = image.media_type
        pc.image_width, pc.image_height = image.width, image.height
        pc.image_sha256 = image.sha256
    pc.image_path = image.source or pc.image_path
    pc.image_alt = spec.image_alt.strip()


def _note_small_image(report: CampaignReport, spec: PledgeCampaignSpec) -> None:
    # X's large-image card wants at least 300 × 157 pixels (developer.x.com, "Summary Card
    # with Large Image"); smaller pictures still show on the page, so this is a note.
    image = spec.image
    if image is not None and (image.width < 300 or image.height < 157):
        report.notes.append(
            f"{spec.slug}: the picture is {image.width} × {image.height} pixels; shared links "
            "show it small or not at all below 300 × 157 (1200 × 630 suits X and Facebook)"
        )


def _live_pledge_problems(
    session: Session, pc: PledgeCampaign, spec: PledgeCampaignSpec
) -> list[Problem]:
    """What an edit would break for supporters who already pledged: a platform they
    pledged on cannot be dropped (their posts would have no text), and their own wordings
    must still fit once the new link is in (X would refuse them at the release)."""
    problems: list[Problem] = []
    live = session.execute(
        select(Pledge.platform, Pledge.id, Pledge.wording, Account.max_length)
        .outerjoin(Account, Pledge.account_id == Account.id)
        .where(Pledge.pledge_campaign_id == pc.id, Pledge.state.in_(LIVE))
    ).all()
    dropped = sorted({p for p, _, _, _ in live if p not in spec.message})
    for platform in dropped:
        count = sum(1 for p, _, _, _ in live if p == platform)
        problems.append(
            Problem(
                spec.where("text"),
                "text",
                platform,
                f"{count} supporters pledged on {PLATFORM_NAMES.get(platform, platform)}; "
                "keep its text (they can withdraw, but it cannot be dropped under them)",
            )
        )
    unfit: dict[str, list[int]] = {}
    for platform, pledge_id, wording, max_length in live:
        if not wording or platform not in spec.message:
            continue
        link = (
            texts.utm_tag(spec.link, platform=platform, campaign=spec.slug) if spec.link else None
        )
        if texts.refusal(platform, wording, link, max_length=max_length):
            unfit.setdefault(platform, []).append(pledge_id)
    for platform, ids in sorted(unfit.items()):
        problems.append(
            Problem(
                spec.where("link"),
                "link",
                str(spec.link or ""),
                f"{len(ids)} supporters' own wordings on {PLATFORM_NAMES[platform]} would no "
                f"longer fit with this change (pledges {', '.join(map(str, ids[:10]))}); "
                "shorten the link or leave the texts as they were",
            )
        )
    return problems


def audit_view(spec: PledgeCampaignSpec) -> dict[str, Any]:
    """What the audit log keeps of a campaign: its content and plan (no picture bytes)."""
    return {
        "title": spec.title,
        "message": dict(spec.message),
        "variants": list(spec.variants),
        "link": spec.link,
        "goal": spec.goal,
        "release_at": spec.release_at.isoformat(),
        "timezone": spec.timezone,
        "window_minutes": spec.window_minutes,
        "if_goal_missed": spec.goal_policy,
        "allow_edit": spec.allow_edit,
        "image_sha256": spec.image.sha256 if spec.image else None,
        "image_alt": spec.image_alt,
    }


def apply_campaigns(
    session: Session,
    specs: Sequence[PledgeCampaignSpec],
    *,
    now: datetime,
    default_window: int,
    dry_run: bool = False,
    commit: bool = True,
) -> CampaignReport:
    """Create or update every spec, or raise SpecError listing every problem; commits
    unless ``dry_run`` (rolled back) or ``commit=False`` (the caller commits, e.g. with
    the posts of the same files)."""
    problems: list[Problem] = []
    report = CampaignReport()
    plan: list[tuple[PledgeCampaignSpec, PledgeCampaign | None, int]] = []
    seen: dict[str, PledgeCampaignSpec] = {}
    for spec in specs:
        problems.extend(check_spec(spec))
        if spec.slug in seen:
            problems.append(
                Problem(
                    spec.where("id"),
                    "id",
                    spec.slug,
                    f"the pledge campaign {spec.slug!r} is also defined at "
                    f"{seen[spec.slug].source}; give each its own id",
                )
            )
            continue
        seen[spec.slug] = spec
        window = spec.window_minutes if spec.window_minutes is not None else default_window
        pc = session.scalars(
            select(PledgeCampaign).join(Campaign).where(Campaign.slug == spec.slug)
        ).first()
        if pc is not None and pc.state not in PledgeCampaignState.TAKING_PLEDGES:
            report.kept.append(spec.slug)
            if not _same(pc, spec, window):
                report.notes.append(
                    f"{spec.slug}: already {pc.state.replace('_', ' ')} — changes to it "
                    "are not applied"
                )
            continue
        if spec.release_at <= now and not (pc is not None and pc.release_at == spec.release_at):
            local = spec.release_at.astimezone(ZoneInfo(spec.timezone))
            problems.append(
                Problem(
                    spec.where("release"),
                    "release",
                    f"{local:%Y-%m-%d %H:%M}",
                    "is in the past; give a future release time",
                )
            )
            continue
        if pc is not None:
            problems.extend(_live_pledge_problems(session, pc, spec))
        plan.append((spec, pc, window))
    if problems:
        session.rollback()
        raise SpecError(problems)
    for spec, pc, window in plan:
        if pc is None:
            campaign = session.scalars(select(Campaign).where(Campaign.slug == spec.slug)).first()
            if campaign is None:
                campaign = Campaign(slug=spec.slug, title=spec.title, timezone=spec.timezone)
            pc = PledgeCampaign(campaign=campaign, message={}, goal=spec.goal)
            _write(pc, spec, window)
            session.add(pc)
            report.created.append(spec.slug)
            _note_small_image(report, spec)
        elif _same(pc, spec, window):
            report.unchanged.append(spec.slug)
        else:
            pledged = session.scalar(
                select(func.count()).where(
                    Pledge.pledge_campaign_id == pc.id, Pledge.state.in_(LIVE)
                )
            )
            if pledged and (pc.message != dict(spec.message) or pc.variants != list(spec.variants)):
                report.notes.append(
                    f"{spec.slug}: the wording changed after {pledged} supporters pledged; "
                    "they will post the new wording unless they wrote their own"
                )
            # Conditional: a campaign whose release began since we read it is not changed.
            won = session.execute(
                update(PledgeCampaign)
                .where(
                    PledgeCampaign.id == pc.id,
                    or_(
                        PledgeCampaign.state == PledgeCampaignState.HELD,
                        and_(
                            PledgeCampaign.state == PledgeCampaignState.OPEN,
                            PledgeCampaign.release_at > now,
                        ),
                    ),
                )
                .values(updated_at=now)
            ).rowcount  # type: ignore[attr-defined]
            if won != 1:
                session.rollback()
                raise SpecError(
                    [
                        Problem(
                            spec.where("release"),
                            "release",
                            spec.slug,
                            "its release has started; a campaign cannot change once it goes out",
                        )
                    ]
                )
            _write(pc, spec, window)
            report.updated.append(spec.slug)
            _note_small_image(report, spec)
    session.flush()
    if dry_run:
        session.rollback()
    elif commit:
        session.commit()
    return report
