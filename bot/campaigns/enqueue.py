"""Putting posts in the queue: every spec checked against the database, then all stored
in one transaction, or none.

Re-applying is safe: a post is found again by (campaign, key); pending posts are updated
in place, posts that have started going out are never changed, nothing is duplicated.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from bot.campaigns import approvals, text_rules
from bot.campaigns.specs import PLATFORMS, PostSpec, Problem, SpecError
from bot.storage.ids import row_id
from bot.storage.models import (
    Account,
    AccountStatus,
    Campaign,
    Delivery,
    DeliveryState,
    Post,
    PostState,
    utcnow,
)

logger = logging.getLogger(__name__)

# Graph API: scheduled_publish_time must lie between 10 minutes and 30 days ahead.
# https://developers.facebook.com/docs/pages-api/posts (Publish a Page post, scheduled)
FACEBOOK_HOLD_MIN = timedelta(minutes=10)
FACEBOOK_HOLD_MAX = timedelta(days=30)


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # started or cancelled: left as they are
    skipped: list[str] = field(default_factory=list)  # reminders already in the past
    notes: list[str] = field(default_factory=list)
    # Approval steps the writes caused (a post submitted, an approval withdrawn).
    approval_steps: list[tuple[Post, approvals.ApprovalStep]] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.updated)

    def lines(self, *, dry_run: bool) -> list[str]:
        """What was done (or would be, on a dry run), one line per kind, then the notes."""
        verb = "would be" if dry_run else "were"
        out = []
        for label, items in (
            ("created", self.created),
            ("updated", self.updated),
            ("unchanged", self.unchanged),
            ("kept as they are", self.kept),
            ("skipped", self.skipped),
        ):
            if items:
                out.append(f"{len(items)} {verb} {label}: {', '.join(items)}")
        out += [f"note: {note}" for note in self.notes]
        if dry_run:
            out.append("dry run: nothing was stored")
        return out


def resolve_target(session: Session, target: str) -> tuple[Account | None, str]:
    """``x`` → the campaign's own X account; ``x:@handle`` → that account.

    Returns (account, problem message); exactly one is set.
    """
    platform, _, handle = target.partition(":")
    platform = platform.strip().lower()
    if platform not in PLATFORMS:
        return None, f"unknown platform; use one of: {', '.join(PLATFORMS)}"
    # Only the campaign's own accounts: a schedule never posts from a supporter's account.
    query = select(Account).where(Account.platform == platform, Account.owner_kind == "campaign")
    if handle:
        wanted = handle.strip().lstrip("@").lower()
        account = next(
            (a for a in session.scalars(query) if a.handle.lstrip("@").lower() == wanted), None
        )
        if account is None:
            return None, (
                f"no {platform} account @{wanted} is connected; see `python main.py accounts "
                "list`, or connect it with `python main.py accounts connect`"
            )
    else:
        account = session.scalars(query.order_by(Account.is_default.desc(), Account.id)).first()
        if account is None:
            return None, (
                f"the campaign has no {platform} account yet: `python main.py run` adds it "
                "when it starts (on the sandbox, or from the tokens in config.env, which "
                "`python main.py accounts sync` also adds), or connect one with "
                f"`python main.py accounts connect {platform}`"
            )
    if account.status == AccountStatus.DISABLED:
        return None, f"account @{account.handle} is disabled"
    return account, ""


def _check_spec(
    session: Session,
    spec: PostSpec,
    now: datetime,
    allow_past: bool,
    resolved: dict[str, tuple[Account | None, str]] | None = None,
) -> tuple[list[Account], list[Problem]]:
    """``resolved`` caches targets across the specs of one apply (a file of 20,000 posts
    names the same two accounts 40,000 times)."""
    resolved = {} if resolved is None else resolved
    problems: list[Problem] = []

    def problem(field_name: str, value: str, message: str, platform: str | None = None) -> None:
        where = spec.where(field_name.split("[")[0].split(".")[0])
        problems.append(Problem(where, field_name, value, message, platform))

    accounts: list[Account] = []
    if not spec.targets:
        problem("to", "", "no targets: say where to post, e.g. to: [x, facebook]")
    for target in spec.targets:
        if target not in resolved:
            resolved[target] = resolve_target(session, target)
        account, message = resolved[target]
        if account is None:
            problem("to", target, message)
            continue
        if account in accounts:
            continue
        accounts.append(account)
        parts = spec.parts.get(account.platform, ())
        if not parts:
            problem("text", "", f"no text for {account.platform}", account.platform)
        for index, part in enumerate(parts):
            # On X and Mastodon the link goes into the first part's text, where it counts 23.
            sent = (
                text_rules.x_text(part, spec.link)
                if account.platform in text_rules.LINK_IN_TEXT and index == 0
                else part
            )
            # A Mastodon account's own instance limit, read when it was connected.
            refusal = text_rules.check(account.platform, sent, max_length=account.max_length)
            if refusal is None and account.platform == "bluesky":
                refusal = bluesky_record_problem(part, spec.link if index == 0 else None)
            if refusal:
                label = f"thread[{index + 1}]" if len(parts) > 1 else "text"
                problem(label, part, f"{account.platform}: {refusal}", account.platform)
    if spec.hold_on_facebook:
        ahead = spec.scheduled_at - now
        if not FACEBOOK_HOLD_MIN <= ahead <= FACEBOOK_HOLD_MAX:
            problem(
                "facebook.hold",
                "true",
                "Facebook holds posts only for times 10 minutes to 30 days ahead; "
                "remove `hold` to let Clarion post it at the time",
            )
    return accounts, problems


def bluesky_record_problem(text: str, link: str | None) -> str | None:
    """What the app.bsky.feed.post lexicon (the atproto SDK's model) refuses in the post
    Bluesky would be sent, e.g. a card link of 8 KB or more: refused now rather than by
    the PDS at the release."""
    from bot.platforms.bluesky.rules import record_problem

    return record_problem(text, link)


def _deliveries_due(spec: PostSpec, account: Account, now: datetime) -> datetime:
    # A post Facebook holds itself is handed over straight away, with its publish time.
    if spec.hold_on_facebook and account.platform == "facebook":
        return now
    return spec.scheduled_at


def stored_parts(spec: PostSpec) -> dict[str, list[str]]:
    """The texts exactly as they will be sent: on X the link is part of the first text
    (where it was counted), so what is stored, sent and looked for is one string."""
    parts = {platform: list(texts) for platform, texts in spec.parts.items()}
    for platform in text_rules.LINK_IN_TEXT:
        if spec.link and parts.get(platform):
            parts[platform][0] = text_rules.x_text(parts[platform][0], spec.link)
    return parts


def started(post: Post) -> bool:
    """Has any of it gone out, or might it have? (A thread waiting to retry its second
    part is pending but started.)"""
    return post.state == PostState.CANCELLED or any(
        d.state != DeliveryState.PENDING or d.parts_done > 0 for d in post.deliveries
    )


def _status_word(post: Post) -> str:
    if post.state == PostState.CANCELLED:
        return "cancelled"
    states = {d.state for d in post.deliveries}
    for state, word in (
        (DeliveryState.SENT, "sent"),
        (DeliveryState.SENDING, "sending"),
        (DeliveryState.UNKNOWN, "being checked"),
        (DeliveryState.FAILED, "failed"),
        (DeliveryState.MISSED, "missed"),
    ):
        if state in states:
            return word
    return "partly sent"


def platforms_of_targets(targets: Sequence[str]) -> set[str]:
    """The platforms ``targets`` post to (``x``, ``x:@handle`` → ``x``)."""
    return {target.partition(":")[0] for target in targets}


def post_matches(post: Post, spec: PostSpec) -> bool:
    """Would storing ``spec`` change nothing that goes out? Texts are compared for the
    platforms the post goes to only: `posts add --to x` also keeps a Facebook text,
    which a schedule file for X alone cannot (and need not) repeat."""
    wanted = platforms_of_targets(spec.targets)
    stored = {p: texts for p, texts in post.parts.items() if p in wanted}
    given = {p: texts for p, texts in stored_parts(spec).items() if p in wanted}
    return (
        stored == given
        and post.scheduled_at == spec.scheduled_at
        and post.targets == list(spec.targets)
        and post.link == spec.link
        and post.hold_on_facebook == spec.hold_on_facebook
        and post.timezone == spec.timezone
        and post.requires_approval == spec.requires_approval
        and post.embargoed == spec.embargoed
    )


def _post_values(spec: PostSpec) -> dict[str, Any]:
    """A post's columns as ``spec`` asks for them (its approval state aside)."""
    return {
        "embargoed": spec.embargoed,
        "parts": stored_parts(spec),
        "scheduled_at": spec.scheduled_at,
        "timezone": spec.timezone,
        "targets": list(spec.targets),
        "link": spec.link,
        "kind": spec.kind,
        "event_key": spec.event,
        "hold_on_facebook": spec.hold_on_facebook,
        "source": str(spec.source),
    }


def _insert_new(
    session: Session,
    campaigns: dict[str, Campaign],
    new: Sequence[tuple[PostSpec, list[Account]]],
    now: datetime,
) -> None:
    """Store brand-new posts that need no approval, and their deliveries, as rows in
    batches: what ``_write`` would store, without building an ORM object per row (a file
    of 20,000 posts stores 60,000 rows)."""
    for start in range(0, len(new), _CHUNK):
        chunk = new[start : start + _CHUNK]
        rows = [
            {
                "campaign_id": campaigns[spec.campaign].id,
                "key": spec.key,
                "requires_approval": False,
                "state": PostState.SCHEDULED,
                **_post_values(spec),
            }
            for spec, _ in chunk
        ]
        ids = session.scalars(
            insert(Post).returning(Post.id, sort_by_parameter_order=True), rows
        ).all()
        deliveries = [
            {
                "post_id": post_id,
                "account_id": account.id,
                "platform": account.platform,
                "due_at": _deliveries_due(spec, account, now),
                "state": DeliveryState.PENDING,
                "platform_ids": [],
            }
            for post_id, (spec, accounts) in zip(ids, chunk, strict=True)
            for account in accounts
        ]
        if deliveries:
            session.execute(insert(Delivery), deliveries)


def _write(
    session: Session,
    post: Post,
    spec: PostSpec,
    accounts: list[Account],
    now: datetime,
    report: ApplyReport,
    *,
    is_new: bool,
) -> None:
    step = approvals.on_write(post, requires=spec.requires_approval, is_new=is_new)
    if step is not None:
        report.approval_steps.append((post, step))
    for name, value in _post_values(spec).items():
        setattr(post, name, value)
    existing = {d.account_id: d for d in post.deliveries}
    wanted = {a.id: a for a in accounts}
    for account_id, delivery in existing.items():
        # Conditional writes: if the daemon claimed a delivery since we read it, the
        # row count is 0 and the whole apply is abandoned rather than racing the send.
        if account_id not in wanted:
            done = session.execute(
                delete(Delivery).where(
                    Delivery.id == delivery.id,
                    Delivery.state == DeliveryState.PENDING,
                    Delivery.parts_done == 0,
                )
            )
        else:
            due = _deliveries_due(spec, wanted[account_id], now)
            done = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery.id,
                    Delivery.state == DeliveryState.PENDING,
                    Delivery.parts_done == 0,
                )
                .values(due_at=due, next_attempt_at=due)
            )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise StartedMeanwhile(f"{spec.campaign}/{spec.key}")
    for account in accounts:
        if account.id not in existing:
            session.add(
                Delivery(
                    post=post,
                    account_id=account.id,
                    platform=account.platform,
                    due_at=_deliveries_due(spec, account, now),
                    state=DeliveryState.PENDING,
                    platform_ids=[],
                )
            )


class StartedMeanwhile(Exception):
    """A post began going out while it was being changed; nothing was applied."""

    def __init__(self, label: str) -> None:
        super().__init__(
            f"{label} started going out while this change was being applied, so nothing was "
            "changed; run the command again to see its state"
        )


# Keys per query: well under SQLite's limit on bound parameters (32,766).
_CHUNK = 500


def _stored(
    session: Session, specs: Sequence[PostSpec]
) -> tuple[dict[str, Campaign], dict[tuple[str, str], Post]]:
    """The campaigns ``specs`` name that exist, and their posts ``specs`` name (with their
    deliveries): a few queries for the whole apply rather than one or two per post."""
    slugs = sorted({spec.campaign for spec in specs})
    campaigns: dict[str, Campaign] = {}
    for start in range(0, len(slugs), _CHUNK):
        chunk = slugs[start : start + _CHUNK]
        for campaign in session.scalars(select(Campaign).where(Campaign.slug.in_(chunk))):
            campaigns[campaign.slug] = campaign
    posts: dict[tuple[str, str], Post] = {}
    for slug, campaign in campaigns.items():
        keys = sorted({spec.key for spec in specs if spec.campaign == slug})
        for start in range(0, len(keys), _CHUNK):
            query = (
                select(Post)
                .where(Post.campaign_id == campaign.id, Post.key.in_(keys[start : start + _CHUNK]))
                .options(selectinload(Post.deliveries))
            )
            for post in session.scalars(query):
                posts[(slug, post.key)] = post
    return campaigns, posts


def apply_specs(
    session: Session,
    specs: Sequence[PostSpec],
    *,
    now: datetime,
    allow_past: bool = False,
    dry_run: bool = False,
    commit: bool = True,
    actor: str | None = None,
) -> ApplyReport:
    """Store ``specs`` all-or-nothing. Raises SpecError listing every problem found.

    ``allow_past`` (the CLI's --now): a new post whose time has passed goes out at once
    instead of being refused. The caller's session is committed unless ``dry_run`` (rolled
    back) or ``commit=False`` (the caller commits, with other changes of the same files).
    ``actor`` (a console user's email, ``cli:<user>``) is who the audit log names for
    approval steps the writes cause; without one, the post's source file.
    """
    report = ApplyReport()
    problems: list[Problem] = []
    campaigns, existing = _stored(session, specs)
    resolved: dict[str, tuple[Account | None, str]] = {}
    plan: list[tuple[PostSpec, list[Account], Post | None]] = []
    for spec in specs:
        accounts, found = _check_spec(session, spec, now, allow_past, resolved)
        problems.extend(found)
        campaign = campaigns.get(spec.campaign)
        if campaign is None:
            campaign = Campaign(slug=spec.campaign, title=spec.campaign, timezone=spec.timezone)
            session.add(campaign)
        campaigns[spec.campaign] = campaign
        post = existing.get((spec.campaign, spec.key))
        label = f"{spec.campaign}/{spec.key}"
        if post is not None and started(post):
            report.kept.append(label)
            if not post_matches(post, spec):
                report.notes.append(
                    f"{label}: already {_status_word(post)} — the file's changes to it are "
                    "not applied"
                )
            continue
        if spec.scheduled_at < now and not (post is not None and post_matches(post, spec)):
            if spec.kind == "reminder":
                report.skipped.append(label)
                report.notes.append(f"{label}: reminder time has passed — not queued")
                continue
            if not allow_past:
                problems.append(
                    Problem(
                        spec.where("at"),
                        "at",
                        f"{spec.scheduled_at.astimezone(ZoneInfo(spec.timezone)):%Y-%m-%d %H:%M}",
                        "is in the past; give a future time, or use --now to post it straight away",
                    )
                )
                continue
            spec = _at(spec, now)
        plan.append((spec, accounts, post))
    if problems:
        session.rollback()
        raise SpecError(problems)
    new: list[tuple[PostSpec, list[Account]]] = []
    try:
        for spec, accounts, post in plan:
            label = f"{spec.campaign}/{spec.key}"
            if post is None and not spec.requires_approval:
                new.append((spec, accounts))
                report.created.append(label)
            elif post is None:
                post = Post(campaign=campaigns[spec.campaign], key=spec.key)
                session.add(post)
                _write(session, post, spec, accounts, now, report, is_new=True)
                report.created.append(label)
            elif post_matches(post, spec):
                report.unchanged.append(label)
            else:
                _write(session, post, spec, accounts, now, report, is_new=False)
                report.updated.append(label)
        session.flush()  # new campaigns get their ids
        _insert_new(session, campaigns, new, now)
        if not dry_run:
            for post, step in report.approval_steps:
                approvals.record_step(session, post, step, actor=actor or post.source)
    except StartedMeanwhile:
        session.rollback()
        raise
    if dry_run:
        session.rollback()
    elif commit:
        session.commit()
    return report


def _at(spec: PostSpec, when: datetime) -> PostSpec:
    from dataclasses import replace

    return replace(spec, scheduled_at=when)


def find_post(session: Session, ref: str) -> Post | None:
    """A post by numeric id or by ``campaign/key``."""
    if ref.isascii() and ref.isdigit():
        number = row_id(ref)
        return session.get(Post, number) if number is not None else None
    slug, _, key = ref.partition("/")
    return session.scalars(
        select(Post).join(Campaign).where(Campaign.slug == slug, Post.key == key)
    ).first()


@dataclass
class CancelResult:
    cancelled: int
    already_out: int


def cancel_post(session: Session, post: Post) -> CancelResult:
    """Cancel what has not gone out yet. Deliveries already sending or sent stay as they
    are; a thread with parts out stops where it is."""
    post.state = PostState.CANCELLED
    # Only rows still pending at the moment of the UPDATE are cancelled: one the daemon
    # claimed a moment ago keeps going, and is reported as (possibly) out.
    result = session.execute(
        update(Delivery)
        .where(Delivery.post_id == post.id, Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.CANCELLED, updated_at=utcnow())
    )
    cancelled = result.rowcount  # type: ignore[attr-defined]
    session.commit()
    out_or_going = Delivery.state.in_(
        (DeliveryState.SENDING, DeliveryState.UNKNOWN, DeliveryState.SENT)
    ) | ((Delivery.state == DeliveryState.CANCELLED) & (Delivery.parts_done > 0))
    already = session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.post_id == post.id, out_or_going)
    )
    return CancelResult(cancelled, int(already or 0))
