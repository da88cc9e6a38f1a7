"""Platform rules and costs, checked before a release and shown to the volunteer.

- X caps posts per app: 10,000 per 24 hours on POST /2/tweets (docs.x.com/x-api/
  fundamentals/rate-limits, 2026; X_APP_DAILY_POST_LIMIT). Posts past the cap are answered
  429 and the ledger defers them to the reset time; a post that would go more than
  MISSED_GRACE_MINUTES late is marked missed instead, so we say how many go at the release
  and that the rest would be lost.
- X caps posts per user: 100 per 15 minutes. Each pledged account posts once per release,
  so only an account pledged to several campaigns released together comes near it.
- X pay-per-use prices (Feb 2026): a post costs X_POST_COST_USD, or X_POST_WITH_URL_COST_USD
  when it contains a URL.
- Bluesky's servers allow 3,000 requests per 5 minutes from one IP address, and Mastodon
  instances 300 per 5 minutes (bot.pledges.limits): we say how long each network's posts
  take at least, and when that is longer than the spread window, that the release spreads
  them over that long. Bluesky's Community Guidelines forbid spam and platform
  manipulation: the identical-text warning covers Bluesky too.
- X's automation rules forbid posting identical content from several accounts
  (help.x.com/rules-and-policies/x-automation): wording variants and supporters' edits are
  how a pledge campaign stays within them, so we warn when more than
  IDENTICAL_TEXT_WARN_ACCOUNTS accounts would post the same text.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twitter_text.extract_urls import extract_urls

from bot.platforms import PLATFORM_LABELS
from bot.pledges import limits, texts
from bot.pledges.cutoff import LIVE
from bot.settings import Settings
from bot.storage.models import Account, Delivery, DeliveryState, Pledge, PledgeCampaign, PledgeState

X_DAY = timedelta(hours=24)
X_USER_POSTS_PER_WINDOW = 100
X_USER_WINDOW = timedelta(minutes=15)


@dataclass
class RulesReport:
    x_posts: int = 0
    facebook_posts: int = 0
    bluesky_posts: int = 0
    bluesky_minutes_at_worst: int = 0  # least minutes Bluesky's per-address limit needs
    mastodon_posts: int = 0
    window_minutes: int = 0  # the campaign's spread window
    durations: list[limits.Duration] = field(default_factory=list)  # per network with posts
    x_with_url: int = 0
    cost_usd: float = 0.0
    app_daily_limit: int = 0
    app_used_before: int = 0  # X posts the app sends (sent or queued) in the 24 h before
    go_at_release: int = 0  # X posts within the per-app cap
    deferred: int = 0  # X posts past the cap: they go when X's window resets
    deferred_until: datetime | None = None
    busiest_account_posts: int = 0  # most posts one X account makes in the release window
    identical: list[tuple[str, int]] = field(default_factory=list)  # (text, accounts)
    warnings: list[str] = field(default_factory=list)

    @property
    def release_minutes(self) -> int:
        """Least minutes for the whole release: its slowest network."""
        return max((d.minutes for d in self.durations), default=self.window_minutes)

    def durations_json(self) -> list[dict[str, object]]:
        return [
            {
                "platform": d.platform,
                "posts": d.posts,
                "minutes": d.minutes,
                "needed_minutes": d.needed_minutes,
                "bound": d.bound.value,
                "stretched": d.stretched,
                **(
                    {"instance": d.instance, "instance_posts": d.instance_posts}
                    if d.instance
                    else {}
                ),
            }
            for d in self.durations
        ]

    def lines(self) -> list[str]:
        """For people: what will go out, what it costs, what to watch for."""
        out = [
            f"X: {self.x_posts} posts ({self.x_with_url} with a link); "
            f"Facebook: {self.facebook_posts} posts; Bluesky: {self.bluesky_posts} posts"
            + (f"; Mastodon: {self.mastodon_posts} posts" if self.mastodon_posts else ""),
            f"estimated X cost: {dollars(self.cost_usd)} (pay-per-use; Facebook posts are free)",
            f"X per-app limit: {self.app_daily_limit:,} posts per 24 h; "
            f"{self.app_used_before:,} sent or queued in the 24 h before the release; "
            f"{self.go_at_release:,} would go at the release",
        ]
        out += [limits.sentence(d, PLATFORM_LABELS, self.window_minutes) for d in self.durations]
        if self.durations:
            out.append(f"the release takes at least {self.release_minutes} min")
        return out + [f"WARNING: {w}" for w in self.warnings]


def dollars(amount: float) -> str:
    """$150.00, or $0.015 when cents would round a price away (one post, $0.015)."""
    cents = f"${amount:,.2f}"
    return cents if abs(amount * 100 - round(amount * 100)) < 1e-9 else f"${amount:,.3f}"


def _has_url(text: str) -> bool:
    return bool(extract_urls(text))


def check(
    session: Session, pc: PledgeCampaign, settings: Settings, *, include_reconnect: bool = False
) -> RulesReport:
    """Rules and costs of releasing ``pc`` with its pledges as they are now."""
    states = LIVE if include_reconnect else (PledgeState.ACTIVE,)
    pledges = session.scalars(
        select(Pledge).where(Pledge.pledge_campaign_id == pc.id, Pledge.state.in_(states))
    ).all()
    report = RulesReport(
        app_daily_limit=settings.x_app_daily_post_limit, window_minutes=pc.window_minutes
    )
    handles = dict(
        session.execute(
            select(Account.id, Account.handle).where(
                Account.id.in_([p.account_id for p in pledges if p.account_id is not None])
            )
        ).all()
    )
    by_platform: dict[str, list[str]] = {}
    x_texts: Counter[str] = Counter()
    bluesky_texts: Counter[str] = Counter()
    for pledge in pledges:
        link = texts.tagged_link(pc, pledge.platform)
        text = texts.as_posted(
            pledge.platform,
            texts.base_text(pc, pledge.platform, pledge.variant, pledge.wording),
            link,
        )
        by_platform.setdefault(pledge.platform, []).append(handles.get(pledge.account_id or 0, ""))
        if pledge.platform == "x":
            report.x_posts += 1
            x_texts[text] += 1
            if _has_url(text):
                report.x_with_url += 1
        elif pledge.platform == "bluesky":
            report.bluesky_posts += 1
            bluesky_texts[text] += 1
        elif pledge.platform == "facebook":
            report.facebook_posts += 1
        elif pledge.platform == "mastodon":
            report.mastodon_posts += 1
    report.cost_usd = round(
        report.x_with_url * settings.x_post_with_url_cost_usd
        + (report.x_posts - report.x_with_url) * settings.x_post_cost_usd,
        4,
    )
    _app_limit(session, pc, report, settings.missed_grace_minutes)
    _user_limit(session, pc, report)
    for text, count in x_texts.most_common():
        if count > settings.identical_text_warn_accounts:
            report.identical.append((text, count))
            report.warnings.append(
                f"{count} X accounts would post identical text (more than "
                f"{settings.identical_text_warn_accounts}): X's automation rules forbid "
                "identical posts across accounts; add wording variants or let supporters "
                f"edit. Text: {text[:60]!r}"
            )
    report.durations = limits.durations(
        {p: by_platform[p] for p in PLATFORM_LABELS if p in by_platform},
        pc.window_minutes,
        limits.budgets_of(settings),
    )
    report.bluesky_minutes_at_worst = next(
        (d.needed_minutes for d in report.durations if d.platform == "bluesky"), 0
    )
    bluesky_rules(report, pc, bluesky_texts, settings.identical_text_warn_accounts)
    return report


def bluesky_rules(
    report: RulesReport, pc: PledgeCampaign, by_text: Counter[str], warn_above: int
) -> None:
    """Identical Bluesky texts (its per-address limit is in ``report.durations``)."""
    for text, count in by_text.most_common():
        if count > warn_above:
            report.warnings.append(
                f"{count} Bluesky accounts would post identical text (more than {warn_above}): "
                "Bluesky labels mass identical posting as spam; add wording variants or let "
                f"supporters edit. Text: {text[:60]!r}"
            )


def _app_limit(
    session: Session, pc: PledgeCampaign, report: RulesReport, grace_minutes: int
) -> None:
    """Posts this app sends inside X's 24 h window before the release count against it:
    those already sent, and those still queued for it (a check made days ahead sees
    nothing sent yet, but the evening's queued posts will have been by then)."""
    since = pc.release_at - X_DAY
    own = select(Pledge.delivery_id).where(
        Pledge.pledge_campaign_id == pc.id, Pledge.delivery_id.is_not(None)
    )
    in_window = (
        Delivery.platform == "x",
        Delivery.id.not_in(own),  # the release's own posts are counted as x_posts
    )
    sent_at = session.scalars(
        select(Delivery.sent_at).where(
            *in_window,
            Delivery.state == DeliveryState.SENT,
            Delivery.sent_at > since,
            Delivery.sent_at <= pc.release_at,
        )
    ).all()
    queued_at = session.scalars(
        select(Delivery.due_at).where(
            *in_window,
            Delivery.state.in_(DeliveryState.OPEN),
            Delivery.due_at > since,
            Delivery.due_at <= pc.release_at,
        )
    ).all()
    sent = sorted(_aware(t, pc.release_at) for t in (*sent_at, *queued_at) if t is not None)
    used = len(sent)
    report.app_used_before = used
    room = max(0, report.app_daily_limit - used)
    report.go_at_release = min(report.x_posts, room)
    report.deferred = report.x_posts - report.go_at_release
    if report.deferred:
        # X's window is rolling: room comes back as the posts that filled it age past 24 h;
        # when the release alone exceeds the cap, the release's own posts must age out.
        if used >= report.deferred:
            report.deferred_until = sent[report.deferred - 1] + X_DAY
        else:
            report.deferred_until = pc.release_at + X_DAY
        report.warnings.append(
            f"X allows {report.app_daily_limit:,} posts per app per 24 h: {report.go_at_release:,} "
            f"of the {report.x_posts:,} X posts would go at the release and {report.deferred:,} "
            f"would have to wait until {report.deferred_until:%Y-%m-%d %H:%M} UTC, but posts "
            f"more than {grace_minutes} minutes late (MISSED_GRACE_MINUTES) are not sent: "
            "they are marked missed; raise the app's limit with X or release fewer X accounts"
        )


def _aware(moment: datetime, like: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones.
    return moment if moment.tzinfo else moment.replace(tzinfo=like.tzinfo)


def _user_limit(session: Session, pc: PledgeCampaign, report: RulesReport) -> None:
    """The most posts any one X account would make within 15 minutes of the release:
    this release's one post plus others queued for it around the same time."""
    account_ids = select(Pledge.account_id).where(
        Pledge.pledge_campaign_id == pc.id, Pledge.state == PledgeState.ACTIVE
    )
    busiest = session.execute(
        select(Delivery.account_id, func.count())
        .where(
            Delivery.platform == "x",
            Delivery.account_id.in_(account_ids),
            Delivery.due_at > pc.release_at - X_USER_WINDOW,
            Delivery.due_at < pc.release_at + X_USER_WINDOW,
            Delivery.state != DeliveryState.CANCELLED,
        )
        .group_by(Delivery.account_id)
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    # before the release its own post is not a delivery yet: count it
    report.busiest_account_posts = (int(busiest[1]) if busiest else 0) + (
        1 if report.x_posts and pc.released_at is None else 0
    )
    if report.busiest_account_posts > X_USER_POSTS_PER_WINDOW:
        report.warnings.append(
            f"an X account would post {report.busiest_account_posts} times within 15 "
            f"minutes; X allows {X_USER_POSTS_PER_WINDOW} per user"
        )
