"""The database is the queue. These tables are the whole state of Clarion.

Times are stored as naive UTC and come back timezone-aware (``UTCDateTime``), so SQLite
and PostgreSQL behave the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum, nonmember
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from bot.platforms.record_keys import new_record_key


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive UTC on disk."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite raw text in some code paths
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    posts: Mapped[list[Post]] = relationship(back_populates="campaign")


class AccountStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_RECONNECT = "needs_reconnect"
    DISABLED = "disabled"


class Account(Base):
    """An X account or Facebook Page we can post as.

    ``owner_kind`` is ``campaign`` (the organisation's own accounts) or ``supporter``
    (pledged accounts). ``credentials`` is Fernet ciphertext (bot.storage.vault); it is never
    decrypted except right before a platform call.
    """

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id", "owner_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    handle: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300), default="")
    owner_kind: Mapped[str] = mapped_column(String(20), default="campaign")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    platform_user_id: Mapped[str] = mapped_column(String(100))
    credentials: Mapped[str] = mapped_column(Text, default="")
    # How the account came: config (config.env), connect (CLI), sandbox (rehearsal),
    # pledge (a supporter). ``token_fingerprint`` is an HMAC of the token under the vault
    # key: it tells whether config.env's token changed without storing or sending it.
    source: Mapped[str] = mapped_column(String(20), default="connect")
    token_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(20), default=AccountStatus.ACTIVE)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    followers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # When the account's token was last checked against the platform (the console's
    # accounts page shows it); NULL: never checked.
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The longest post the account's server takes, where each server sets its own (a
    # Mastodon instance's max_characters, read when the account is connected); NULL: the
    # platform's one limit.
    max_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class TokenRevocation(Base):
    """A supporter's token Clarion deleted and still has to revoke at its network: queued
    in the transaction that deletes it from the account (bot/pledges/revocations.py), so
    the withdrawal never waits for the network, and removed once the network has let go
    (or Clarion gave up and said so in the log). ``credentials`` is sealed like the
    account's were; ``last_error`` names the failure, never a token."""

    __tablename__ = "token_revocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # for the log
    credentials: Mapped[str] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(300), default="")


class MastodonApp(Base):
    """Clarion as an app on one Mastodon instance (POST /api/v1/apps), registered the first
    time someone signs in from that instance and reused after: instances are many and
    not known in advance. ``client_secret`` is sealed (bot.storage.vault.seal_text)."""

    __tablename__ = "mastodon_apps"
    __table_args__ = (UniqueConstraint("server", "redirect_uri", "scopes"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server: Mapped[str] = mapped_column(String(300))  # https://host, as rules.instance_url
    redirect_uri: Mapped[str] = mapped_column(String(1000))
    scopes: Mapped[str] = mapped_column(String(300))
    client_id: Mapped[str] = mapped_column(Text)
    client_secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PostState(StrEnum):
    SCHEDULED = "scheduled"  # due at its time (approved, or needing no approval)
    # Needs a second person's approval (bot.campaigns.approvals): its deliveries stay
    # pending but are never claimed, because the claim takes only scheduled posts.
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"  # an approver said no; an edit puts it back in the queue
    CANCELLED = "cancelled"

    # The states that wait for a decision: ``.in_(PostState.UNAPPROVED)``.
    UNAPPROVED = nonmember((AWAITING_APPROVAL, REJECTED))


class PostKind(StrEnum):
    POST = "post"
    THREAD = "thread"
    REMINDER = "reminder"  # an event's reminder (bot.campaigns.schedules.events)
    # One supporter's post in a pledge release (bot.pledges.release writes one per pledge,
    # in their own wording): a release is thousands of these due at once.
    PLEDGE = "pledge"


class Post(Base):
    """One message at one time to one or more accounts.

    ``parts`` maps platform → list of texts (several = an X thread). ``targets`` keeps
    what the volunteer wrote in ``to:``; the deliveries are what it resolved to.
    """

    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("campaign_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="post")
    event_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    parts: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    link: Mapped[str | None] = mapped_column(Text, nullable=True)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    timezone: Mapped[str] = mapped_column(String(64))
    targets: Mapped[list[str]] = mapped_column(JSON)
    hold_on_facebook: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default=PostState.SCHEDULED)
    source: Mapped[str] = mapped_column(Text, default="")
    # Who queued it: a console user's email or ``cli:<os user>`` (NULL: before the console).
    created_by: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Two-person approval and embargo (bot.campaigns.approvals, bot.campaigns.embargo).
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    embargoed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="posts")
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="post")


class ApprovalStep(StrEnum):
    SUBMIT = "submit"  # the post (or its new version) waits for an approver
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAWN = "withdrawn"  # an edit after approval took the approval back


class PostApproval(Base):
    """One step of a post's approval, with the text as it stood then: the approver's
    queue shows a diff against the version they last decided on."""

    __tablename__ = "post_approvals"
    __table_args__ = (Index("ix_post_approvals_post", "post_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    step: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text, default="")
    parts: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def _due_at(context: Any) -> Any:
    """``next_attempt_at`` when an INSERT does not give one: the delivery's ``due_at``."""
    return context.get_current_parameters()["due_at"]


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for due_at
    SENDING = "sending"  # claimed; a network call may be in flight (written before it)
    UNKNOWN = "unknown"  # crashed or timed out mid-call: reconcile before resending
    SENT = "sent"
    FAILED = "failed"
    MISSED = "missed"  # due too long ago (daemon was down): reported, never sent late
    CANCELLED = "cancelled"

    # Groups of states, not states: ``.in_(DeliveryState.OPEN)``, ``state in FINAL``.
    OPEN = nonmember((PENDING, SENDING, UNKNOWN))
    FINAL = nonmember((SENT, FAILED, MISSED, CANCELLED))


class Delivery(Base):
    """One post on one account: the ledger row that makes posting exactly-once.

    ``parts_done`` counts thread parts already on the platform (their ids in
    ``platform_ids``); while ``sending``, part number ``parts_done`` may be in flight.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("post_id", "account_id"),
        Index("ix_deliveries_state_due", "state", "due_at"),
        Index("ix_deliveries_state_next", "state", "next_attempt_at"),
        Index("ix_deliveries_engagement_next", "engagement_next_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    platform: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default=DeliveryState.PENDING)
    # When it is due: the post's time (a release's spread time). Never moved by a retry:
    # lateness and ``deliveries list`` read it.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When it is next claimed: ``due_at`` until a retry, a wait or a check moves it.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_due_at)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    parts_done: Mapped[int] = mapped_column(Integer, default=0)
    platform_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    first_sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the attempt whose outcome is unknown started: a post it made may take a while
    # to show on the timeline, so its absence is trusted only settle_seconds after this.
    uncertain_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Engagement snapshots (bot.engagement): the index of the next snapshot offset and
    # when it is due (NULL: not planned yet, or every offset taken). A post deleted on the
    # platform gets ``platform_deleted_at`` and is never polled again.
    engagement_stage: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    engagement_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    platform_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Chosen when the row is written, before anything is sent, and the same on every
    # attempt: the record key of a platform that lets the client name its records
    # (Bluesky), so a retry cannot make a second post (bot/platforms/record_keys.py).
    record_key: Mapped[str | None] = mapped_column(
        String(16), nullable=True, default=new_record_key
    )

    post: Mapped[Post] = relationship(back_populates="deliveries")
    account: Mapped[Account] = relationship()


class EngagementSnapshot(Base):
    """One metric of one delivery at one moment; rows are only ever added.

    ``value`` NULL with ``available`` false: the platform did not return the metric
    (retired, not permitted, past X's 30-day window), which is not the same as 0.
    Estimated rows (``estimated``) have no delivery: they extrapolate a sampled release
    (``post_id``, ``platform``) from ``sample_size`` of ``population`` deliveries, with
    ``low``..``high`` the confidence interval.
    """

    __tablename__ = "engagement_snapshots"
    # One index only: every extra index slowed the bulk insert of a round's ~800,000 rows
    # by about a third; reports read by delivery (estimates are few).
    __table_args__ = (Index("ix_engagement_delivery_taken", "delivery_id", "taken_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), nullable=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    platform: Mapped[str] = mapped_column(String(20))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    label: Mapped[str] = mapped_column(String(20))  # the offset ("1h", "24h") or "refresh"
    metric: Mapped[str] = mapped_column(String(40))
    value: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    source: Mapped[str] = mapped_column(String(60))
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    low: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    high: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sample_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    population: Mapped[int | None] = mapped_column(Integer, nullable=True)


class EngagementPolicy(Base):
    """Per-campaign read settings: a cap on X read spending and a sample size for large
    releases (NULL = no cap / poll every post)."""

    __tablename__ = "engagement_policies"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    cap_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    sample_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class XReadDay(Base):
    """An X post read on a UTC day: X bills a post read once per UTC day, so this is what
    the campaign has spent (rows × X_READ_COST_USD)."""

    __tablename__ = "x_read_days"

    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD (UTC)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)


class GoalPolicy(StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"  # as Thunderclap did: goal missed, nothing is posted
    RELEASE_ANYWAY = "release_anyway"


class PledgeCampaignState(StrEnum):
    OPEN = "open"  # taking pledges
    HELD = "held"  # an approver put the release on hold: pledging goes on, the release waits
    RELEASING = "releasing"  # deliveries created; the ledger sends them
    RELEASED = "released"
    GOAL_MISSED = "goal_missed"  # all-or-nothing and short of the goal at release time
    CANCELLED = "cancelled"  # cancelled before the release: nothing went out
    STOPPING = "stopping"  # stopped mid-release: posts in flight finish, no others start
    STOPPED = "stopped"  # stopped mid-release, and every post is final

    # Groups of states, not states: ``.in_(PledgeCampaignState.TAKING_PLEDGES)``.
    TAKING_PLEDGES = nonmember((OPEN, HELD))
    GOING_OUT = nonmember((RELEASING, STOPPING))  # the ledger still has its posts


class PledgeCampaign(Base):
    """A Thunderclap-style release: supporters pledge accounts; at ``release_at`` the
    message goes out from every pledged account (spread over ``window_minutes``).

    ``message`` maps platform → text; ``variants`` are extra wordings handed out across
    supporters so that many accounts do not post identical text (X's automation policy).
    """

    __tablename__ = "pledge_campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[dict[str, str]] = mapped_column(JSON)
    variants: Mapped[list[str]] = mapped_column(JSON, default=list)
    link: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The campaign page's picture (bot.pledges.images): the path as the volunteer gave it,
    # the checked bytes and what the page and its share card need. The bytes are deferred:
    # only the image route reads them, not every page view or release.
    image_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    image_data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    image_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    image_alt: Mapped[str | None] = mapped_column(Text, nullable=True)
    image_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    image_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    image_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    goal: Mapped[int] = mapped_column(Integer)
    release_at: Mapped[datetime] = mapped_column(UTCDateTime())
    timezone: Mapped[str] = mapped_column(String(64))
    goal_policy: Mapped[str] = mapped_column(String(20), default=GoalPolicy.ALL_OR_NOTHING)
    window_minutes: Mapped[int] = mapped_column(Integer, default=10)
    allow_edit: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(20), default=PledgeCampaignState.OPEN)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    source: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship()
    pledges: Mapped[list[Pledge]] = relationship(back_populates="pledge_campaign")


class PledgeState(StrEnum):
    ACTIVE = "active"
    NEEDS_RECONNECT = "needs_reconnect"  # the token failed a readiness check or the release
    WITHDRAWN = "withdrawn"  # tokens and email deleted; nothing is posted


class Pledge(Base):
    """One supporter account pledged to one campaign.

    The account (owner_kind "supporter") holds the sealed tokens. ``email`` is sealed by
    the vault like a token. ``withdraw_key_hash`` is the SHA-256 of the secret in the
    supporter's private withdraw link; the secret itself is never stored.
    """

    __tablename__ = "pledges"
    __table_args__ = (
        UniqueConstraint("pledge_campaign_id", "account_id"),
        # An account's pledges (is its token still needed?) and a delivery's pledge (after
        # a release): both asked for every supporter of an 11,000-pledge campaign.
        Index("ix_pledges_account", "account_id"),
        Index("ix_pledges_delivery", "delivery_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pledge_campaign_id: Mapped[int] = mapped_column(ForeignKey("pledge_campaigns.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    platform: Mapped[str] = mapped_column(String(20))
    wording: Mapped[str | None] = mapped_column(Text, nullable=True)  # the supporter's edit
    variant: Mapped[int | None] = mapped_column(Integer, nullable=True)  # index into variants
    email: Mapped[str | None] = mapped_column(Text, nullable=True)  # sealed
    withdraw_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    followers: Mapped[int | None] = mapped_column(Integer, nullable=True)  # at pledge time
    state: Mapped[str] = mapped_column(String(20), default=PledgeState.ACTIVE)
    state_reason: Mapped[str] = mapped_column(Text, default="")
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    pledge_campaign: Mapped[PledgeCampaign] = relationship(back_populates="pledges")
    account: Mapped[Account | None] = relationship()


class OAuthRequest(Base):
    """A sign-in in progress (X request token, Facebook Login ``state``), kept server-side.

    ``secret`` is sealed (X's request-token secret); ``used_at`` makes a replayed callback
    fail. Rows older than an hour are useless and may be deleted.
    """

    __tablename__ = "oauth_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(200), unique=True)  # oauth_token or state
    secret: Mapped[str] = mapped_column(Text, default="")
    pledge_campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("pledge_campaigns.id"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class User(Base):
    """A volunteer who signs in to the console (bot.people.users).

    ``role`` is a bot.people.roles.Role value. ``password_hash`` is argon2id (NULL until
    the invite is accepted). ``totp_secret`` is sealed by the vault like a token and used
    only once ``totp_enabled_at`` is set. ``failed_sign_ins`` and ``locked_until`` are the
    per-account brute-force lock.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The 30-second step of the last code accepted: a code is good once (RFC 6238 §5.2).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Invite(Base):
    """A one-time link that lets a person set their password: an invite or a reset.

    Only the SHA-256 of the link's secret is stored; ``used_at`` makes it single use.
    """

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # bot.people.users.LinkPurpose
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()


class ConsoleSession(Base):
    """A signed-in browser. The cookie holds a random secret; only its SHA-256 is here,
    so ending a session (sign-out, disable, expiry) is deleting its power at once."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Signed in with the password but the second factor not yet given: the session may
    # only reach the code page (or the set-up page when 2FA is required).
    pending_second_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    user: Mapped[User] = relationship()


class AuditEntry(Base):
    """Who changed what and when, from the console or the CLI; rows are only added.

    ``before`` and ``after`` never hold a token, password or secret."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ConsoleSetting(Base):
    """A console setting an admin may change at run time (e.g. require_2fa)."""

    __tablename__ = "console_settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DaemonHeartbeat(Base):
    """The daemon's last poll, one row per daemon (host:pid): the console warns when the
    newest is old or missing, or was stopped (``stopped_at``, written on a clean stop)."""

    __tablename__ = "daemon_heartbeat"

    holder: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AlertChannels(Base):
    """Where a campaign's alerts go (bot.alerts): which event kinds, which email
    addresses, one webhook. ``webhook_url`` and ``webhook_secret`` are sealed by the vault
    (a Slack or Discord URL is itself a credential); ``webhook_host`` is what may be shown.
    """

    __tablename__ = "alert_channels"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    webhook_url: Mapped[str] = mapped_column(Text, default="")
    webhook_host: Mapped[str] = mapped_column(String(300), default="")
    webhook_format: Mapped[str] = mapped_column(String(20), default="clarion")
    webhook_secret: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AlertCursor(Base):
    """How far one alert detector has read: it scans from ``scanned_at`` (less a margin
    for late commits) and never before ``started_at``, when alerts were first watched."""

    __tablename__ = "alert_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertEvent(Base):
    """One thing worth telling someone about, seen once (``key`` is unique), waiting to be
    grouped into an alert (``alert_id`` NULL) or part of one. ``subject_id`` is the row it
    is about (delivery, account, post, pledge campaign); ``resolved_at`` closes an ongoing
    condition (an account reconnected) so that a new episode alerts again."""

    __tablename__ = "alert_events"
    __table_args__ = (
        Index("ix_alert_events_subject", "kind", "subject_id"),
        Index("ix_alert_events_alert", "alert_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), nullable=True)
    subject_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    platform: Mapped[str | None] = mapped_column(String(20), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), nullable=True)


class Alert(Base):
    """One message in the inbox: ``count`` events of one kind for one campaign (NULL:
    the whole installation, e.g. the daemon stopped), grouped."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), nullable=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(Text, default="")
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    campaign: Mapped[Campaign | None] = relationship()
    sends: Mapped[list[AlertSend]] = relationship(back_populates="alert", order_by="AlertSend.id")


class AlertSend(Base):
    """One alert to one channel (a campaign's email addresses, or its webhook). Written
    ``pending`` before any network call; ``sending`` while claimed; then ``sent`` or, after
    the last attempt, ``undelivered`` with the reason (never the URL or the server's reply).
    """

    __tablename__ = "alert_sends"
    __table_args__ = (Index("ix_alert_sends_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    channel: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(Text, default="")  # the addresses, or the host
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    alert: Mapped[Alert] = relationship(back_populates="sends")


class LimitWindow(Base):
    """How much of one shared allowance (X's per-app posts per 24 h, a network's requests
    per address) the workers have taken in one fixed window (bot/delivery/shared_limits.py).
    ``granted`` is what the latest reservation got: its statement's own answer."""

    __tablename__ = "limit_windows"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    cap: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    granted: Mapped[int] = mapped_column(Integer, default=0)


class RateGate(Base):
    """Until when a platform told one account to wait (a 429's reset time), recorded once
    so that every worker waits (bot/delivery/shared_limits.py)."""

    __tablename__ = "rate_gates"

    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime())
