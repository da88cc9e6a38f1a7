"""Console users: invites and reset links, argon2id passwords, the per-account lock,
roles, disabling, and the optional TOTP second factor.

Every change is written to the audit log in the same transaction (bot.people.audit).
Secrets never leave this module in a form that could be shown again: link secrets are
stored as SHA-256, passwords as argon2id (RFC 9106), TOTP secrets sealed by the vault.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.email_address import EmailAddressError, refuse_several
from bot.people import audit
from bot.people.roles import Role
from bot.platforms.base import Credentials
from bot.storage.models import ConsoleSession, ConsoleSetting, Invite, User
from bot.storage.vault import Vault

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only bounds the work per request
DEFAULT_LINK_LIFETIME = timedelta(hours=72)
# argon2-cffi's defaults are RFC 9106's second recommended option (argon2id, t=3,
# m=64 MiB, p=4).
HASHER = PasswordHasher()
# Verified when the email is unknown, so an unknown email takes as long to refuse as a
# wrong password: the answer's timing does not tell who has an account.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
REQUIRE_2FA = "require_2fa"
TOTP_ISSUER = "Clarion"


class PeopleError(ValueError):
    """A request about a person that cannot be done; the message says why and what to do."""


class LinkPurpose(StrEnum):
    INVITE = "invite"
    RESET = "reset"


class SignIn(StrEnum):
    """What a sign-in attempt came to."""

    OK = "ok"
    NEEDS_CODE = "needs_code"  # password right; the TOTP code comes next
    WRONG = "wrong"  # unknown email, wrong password, disabled, or not yet accepted
    LOCKED = "locked"  # too many failures: try again after ``locked_until``


class UserState(StrEnum):
    INVITED = "invited"  # has not set a password yet
    ACTIVE = "active"
    LOCKED = "locked"  # too many wrong passwords, for a while
    DISABLED = "disabled"


def state_of(user: User, now: datetime) -> UserState:
    if user.disabled_at is not None:
        return UserState.DISABLED
    if user.password_hash is None:
        return UserState.INVITED
    if user.locked_until is not None and user.locked_until > now:
        return UserState.LOCKED
    return UserState.ACTIVE


@dataclass(frozen=True)
class LockPolicy:
    failures: int = 5
    minutes: int = 15


@dataclass(frozen=True)
class SignInResult:
    outcome: SignIn
    user: User | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Link:
    """A freshly made invite or reset link: ``secret`` exists only in this object."""

    user: User
    purpose: LinkPurpose
    secret: str
    expires_at: datetime

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/console/{self.purpose.value}/{self.secret}"


def normal_email(raw: str) -> str:
    """The email as stored (trimmed, lower case); PeopleError when it is not one."""
    email = raw.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise PeopleError(f"email {raw.strip()!r} is not an email address (name@example.org)")
    try:
        refuse_several(email)  # invitations and reset links are mailed to it
    except EmailAddressError as exc:
        raise PeopleError(f"email {raw.strip()!r} is not one email address: {exc}") from None
    return email


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def summary(user: User) -> dict[str, Any]:
    """What the audit log keeps about a person (nothing secret)."""
    return {
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled_at is not None,
        "two_factor": user.totp_enabled_at is not None,
    }


def find(session: Session, email: str) -> User | None:
    try:
        normal = normal_email(email)
    except PeopleError:
        return None
    return session.scalars(select(User).where(User.email == normal)).one_or_none()


def get(session: Session, email: str) -> User:
    user = find(session, email)
    if user is None:
        raise PeopleError(
            f"no console user has the email {email.strip()!r}; see `python main.py users list`"
        )
    return user


def all_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def count_active_admins(session: Session) -> int:
    query = select(func.count()).where(
        User.role == Role.ADMIN.value, User.disabled_at.is_(None), User.password_hash.is_not(None)
    )
    return session.scalar(query.select_from(User)) or 0


# -- links: invites and resets -----------------------------------------------------------


def issue_link(
    session: Session,
    user: User,
    purpose: LinkPurpose,
    *,
    actor: str,
    now: datetime,
    lifetime: timedelta = DEFAULT_LINK_LIFETIME,
) -> Link:
    """A new one-time link for ``user``; earlier unused links of the same purpose die."""
    if lifetime <= timedelta(0):
        raise PeopleError("a link must last a while: give --expires as e.g. 24h or 3d")
    session.execute(
        update(Invite)
        .where(Invite.user_id == user.id, Invite.purpose == purpose.value)
        .where(Invite.used_at.is_(None))
        .values(used_at=now)
    )
    secret = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    session.add(
        Invite(
            user_id=user.id,
            purpose=purpose.value,
            token_hash=token_hash(secret),
            expires_at=expires_at,
            created_by=actor,
            created_at=now,
        )
    )
    return Link(user, purpose, secret, expires_at)


def invite(
    session: Session,
    *,
    email: str,
    role: Role,
    actor: str,
    now: datetime,
    name: str = "",
    lifetime: timedelta = DEFAULT_LINK_LIFETIME,
) -> Link:
    """Add a person (no password yet) and make their invite link; audited ``user.invite``."""
    normal = normal_email(email)
    existing = find(session, normal)
    if existing is not None:
        raise PeopleError(
            f"{normal} already has a console account; to let them in again use "
            f"`python main.py users reset {normal}`"
        )
    user = User(
        email=normal, name=name.strip()[:200], role=role.value, created_by=actor, created_at=now
    )
    session.add(user)
    session.flush()
    link = issue_link(session, user, LinkPurpose.INVITE, actor=actor, now=now, lifetime=lifetime)
    audit.record(
        session,
        actor=actor,
        action="user.invite",
        subject=normal,
        after={**summary(user), "link_expires_utc": f"{link.expires_at:%Y-%m-%d %H:%M}"},
        at=now,
    )
    return link


def reset_link(
    session: Session,
    email: str,
    *,
    actor: str,
    now: datetime,
    lifetime: timedelta = DEFAULT_LINK_LIFETIME,
) -> Link:
    """A link that sets a new password (and ends the person's sessions when used)."""
    user = get(session, email)
    if user.disabled_at is not None:
        raise PeopleError(f"{user.email} is disabled; an admin must enable them first")
    purpose = LinkPurpose.INVITE if user.password_hash is None else LinkPurpose.RESET
    link = issue_link(session, user, purpose, actor=actor, now=now, lifetime=lifetime)
    audit.record(
        session,
        actor=actor,
        action="user.reset" if purpose is LinkPurpose.RESET else "user.invite",
        subject=user.email,
        after={"link_expires_utc": f"{link.expires_at:%Y-%m-%d %H:%M}"},
        at=now,
    )
    return link


def open_link(session: Session, secret: str, now: datetime) -> Invite:
    """The unused, unexpired link with this secret; PeopleError otherwise."""
    row = session.scalars(select(Invite).where(Invite.token_hash == token_hash(secret))).first()
    if row is None or row.used_at is not None:
        raise PeopleError(
            "this link has already been used or was replaced by a newer one: ask an admin "
            "for a new link"
        )
    if row.expires_at <= now:
        raise PeopleError(
            f"this link expired at {row.expires_at:%Y-%m-%d %H:%M} UTC: ask an admin for a new link"
        )
    if row.user.disabled_at is not None:
        raise PeopleError("this account is disabled: ask an admin")
    return row


def password_problems(password: str, email: str) -> list[str]:
    """Why this password will not do, in words for the person choosing it (NIST SP
    800-63B §5.1.1.2: a minimum length, no composition rules, not the account's name)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(
            f"Use at least {MIN_PASSWORD_LENGTH} characters (this one has {len(password)})."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    lowered = password.strip().lower()
    if lowered and (lowered == email.lower() or lowered == email.lower().split("@")[0]):
        problems.append("Do not use your email address as your password.")
    if password and len(set(password)) == 1:
        problems.append("Use more than one repeated character.")
    return problems


def accept_link(session: Session, secret: str, *, password: str, name: str, now: datetime) -> User:
    """Use a link: set the name and password, end every old session; single use."""
    row = open_link(session, secret, now)
    user = row.user
    problems = password_problems(password, user.email)
    if problems:
        raise PeopleError(" ".join(problems))
    before = summary(user)
    row.used_at = now
    if name.strip():
        user.name = name.strip()[:200]
    user.password_hash = HASHER.hash(password)
    user.failed_sign_ins = 0
    user.locked_until = None
    end_sessions(session, user, now)
    audit.record(
        session,
        actor=user.email,
        action="user.accept_invite" if row.purpose == LinkPurpose.INVITE else "user.reset_password",
        subject=user.email,
        before=before,
        after=summary(user),
        at=now,
    )
    return user


FIRST_ADMIN = "admin@localhost"


def first_admin_invite(
    session: Session, *, actor: str, now: datetime, lifetime: timedelta = DEFAULT_LINK_LIFETIME
) -> Link | None:
    """On a database with no console users at all, an admin invite for
    ``admin@localhost`` (they change nothing but their name and password); None when
    anyone has been added already, so the link is made and printed once."""
    if count(session):
        return None
    return invite(
        session,
        email=FIRST_ADMIN,
        role=Role.ADMIN,
        name="Admin",
        actor=actor,
        now=now,
        lifetime=lifetime,
    )


# -- signing in --------------------------------------------------------------------------


def check_password(user: User | None, password: str) -> bool:
    """argon2id verification; as slow for an unknown user as for a known one."""
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        HASHER.verify(stored, password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        return False
    return user is not None and user.password_hash is not None


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    now: datetime,
    lock: LockPolicy = LockPolicy(),
) -> SignInResult:
    """Check a password against the per-account lock; record the outcome (audited)."""
    user = find(session, email)
    # The hash is always checked, locked or not, known or not: the time to answer
    # says nothing about the account.
    right = check_password(user, password)
    if user is None:
        return SignInResult(SignIn.WRONG)
    if user.locked_until is not None and user.locked_until > now:
        audit.record(
            session,
            actor=user.email,
            action="user.sign_in_locked",
            subject=user.email,
            at=now,
        )
        return SignInResult(SignIn.LOCKED, user, user.locked_until)
    if not right or user.disabled_at is not None:
        user.failed_sign_ins = (user.failed_sign_ins or 0) + 1
        after: dict[str, Any] = {"failures": user.failed_sign_ins}
        if user.failed_sign_ins >= lock.failures:
            user.locked_until = now + timedelta(minutes=lock.minutes)
            user.failed_sign_ins = 0
            after["locked_until_utc"] = f"{user.locked_until:%Y-%m-%d %H:%M}"
        audit.record(
            session,
            actor=user.email,
            action="user.sign_in_failed",
            subject=user.email,
            after=after,
            at=now,
        )
        if user.locked_until is not None and user.locked_until > now:
            return SignInResult(SignIn.LOCKED, user, user.locked_until)
        return SignInResult(SignIn.WRONG)
    user.failed_sign_ins = 0
    user.locked_until = None
    if user.totp_enabled_at is not None:
        return SignInResult(SignIn.NEEDS_CODE, user)
    return SignInResult(SignIn.OK, user)


def signed_in(session: Session, user: User, now: datetime, *, how: str = "password") -> None:
    user.last_sign_in_at = now
    audit.record(
        session,
        actor=user.email,
        action="user.sign_in",
        subject=user.email,
        after={"with": how},
        at=now,
    )


def signed_out(session: Session, user: User, now: datetime) -> None:
    audit.record(session, actor=user.email, action="user.sign_out", subject=user.email, at=now)


def code_failed(
    session: Session, user: User, *, now: datetime, lock: LockPolicy = LockPolicy()
) -> bool:
    """Count a wrong second-factor code against the same per-account lock as passwords;
    True when the account is now locked (its pending sessions end)."""
    user.failed_sign_ins = (user.failed_sign_ins or 0) + 1
    locked = user.failed_sign_ins >= lock.failures
    if locked:
        user.locked_until = now + timedelta(minutes=lock.minutes)
        user.failed_sign_ins = 0
        end_sessions(session, user, now)
    audit.record(
        session,
        actor=user.email,
        action="user.sign_in_failed",
        subject=user.email,
        after={"second_factor": True, "locked": locked},
        at=now,
    )
    return locked


# -- console sessions --------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


def start_session(
    session: Session, user: User, now: datetime, *, pending_second_factor: bool = False
) -> str:
    """A new session for ``user``; returns the cookie's secret (only its hash is kept)."""
    secret = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            user_id=user.id,
            token_hash=token_hash(secret),
            created_at=now,
            last_seen_at=now,
            pending_second_factor=pending_second_factor,
        )
    )
    return secret


def resume_session(
    session: Session, secret: str, now: datetime, policy: SessionPolicy
) -> ConsoleSession | None:
    """The live session for this cookie, its last-seen time moved to ``now``; None when
    unknown, ended, idle too long, past its absolute limit, or its person is disabled."""
    row = session.scalars(
        select(ConsoleSession).where(ConsoleSession.token_hash == token_hash(secret))
    ).first()
    if row is None or row.ended_at is not None:
        return None
    expired = now - row.last_seen_at > policy.idle or now - row.created_at > policy.absolute
    if expired or row.user.disabled_at is not None:
        row.ended_at = now
        return None
    row.last_seen_at = now
    return row


def resume_pending(
    session: Session, secret: str, now: datetime, policy: SessionPolicy
) -> ConsoleSession | None:
    """The session waiting for its second factor (password already right), if live."""
    row = resume_session(session, secret, now, policy)
    return row if row is not None and row.pending_second_factor else None


def end_session(session: Session, secret: str, now: datetime) -> User | None:
    row = session.scalars(
        select(ConsoleSession).where(ConsoleSession.token_hash == token_hash(secret))
    ).first()
    if row is None or row.ended_at is not None:
        return None
    row.ended_at = now
    return row.user


def end_sessions(session: Session, user: User, now: datetime) -> None:
    """End every session of ``user`` at once (disable, reset, role change)."""
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
    )


# -- admin changes -----------------------------------------------------------------------


def _keep_an_admin(session: Session, user: User) -> None:
    if user.role == Role.ADMIN.value and count_active_admins(session) <= 1:
        raise PeopleError(
            f"{user.email} is the only admin who can sign in: make someone else admin first"
        )


def set_role(session: Session, email: str, role: Role, *, actor: str, now: datetime) -> User:
    user = get(session, email)
    if user.role == role.value:
        return user
    if role is not Role.ADMIN:
        _keep_an_admin(session, user)
    before = summary(user)
    user.role = role.value
    audit.record(
        session,
        actor=actor,
        action="user.role",
        subject=user.email,
        before={"role": before["role"]},
        after={"role": role.value},
        at=now,
    )
    return user


def disable(session: Session, email: str, *, actor: str, now: datetime) -> User:
    """Disable a person: their sessions end now and their links stop working."""
    user = get(session, email)
    if user.disabled_at is not None:
        return user
    _keep_an_admin(session, user)
    user.disabled_at = now
    end_sessions(session, user, now)
    session.execute(
        update(Invite)
        .where(Invite.user_id == user.id, Invite.used_at.is_(None))
        .values(used_at=now)
    )
    audit.record(
        session,
        actor=actor,
        action="user.disable",
        subject=user.email,
        before={"disabled": False},
        after={"disabled": True},
        at=now,
    )
    return user


def enable(session: Session, email: str, *, actor: str, now: datetime) -> User:
    user = get(session, email)
    if user.disabled_at is None:
        return user
    user.disabled_at = None
    user.failed_sign_ins = 0
    user.locked_until = None
    audit.record(
        session,
        actor=actor,
        action="user.enable",
        subject=user.email,
        before={"disabled": True},
        after={"disabled": False},
        at=now,
    )
    return user


# -- console settings --------------------------------------------------------------------


def require_2fa(session: Session) -> bool:
    row = session.get(ConsoleSetting, REQUIRE_2FA)
    return bool(row and row.value)


def set_require_2fa(session: Session, value: bool, *, actor: str, now: datetime) -> None:
    row = session.get(ConsoleSetting, REQUIRE_2FA)
    before = bool(row and row.value)
    if before == value:
        return
    if row is None:
        session.add(ConsoleSetting(key=REQUIRE_2FA, value=value, updated_by=actor, updated_at=now))
    else:
        row.value = value
        row.updated_by = actor
    audit.record(
        session,
        actor=actor,
        action="setting.require_2fa",
        subject=REQUIRE_2FA,
        before={"value": before},
        after={"value": value},
        at=now,
    )


def must_set_up_2fa(session: Session, user: User) -> bool:
    """Approvers and admins without a second factor, when an admin requires one."""
    needs = Role(user.role).allows(Role.APPROVER)
    return needs and user.totp_enabled_at is None and require_2fa(session)


# -- TOTP (RFC 6238) ---------------------------------------------------------------------


@dataclass(frozen=True)
class TotpSetup:
    """A secret being set up: shown to its owner once, as text and as an otpauth URI."""

    secret: str
    uri: str


def begin_totp(user: User, vault: Vault) -> TotpSetup:
    """A new secret, sealed into ``user`` but not enabled until a code is verified."""
    secret = pyotp.random_base32()
    user.totp_secret = vault.seal(Credentials(token=secret, secret="", platform_user_id="totp"))
    user.totp_enabled_at = None
    user.totp_last_step = None
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    return TotpSetup(secret, uri)


def pending_totp(user: User, vault: Vault) -> TotpSetup | None:
    """The secret being set up (the page is shown again after a wrong code)."""
    if user.totp_secret is None or user.totp_enabled_at is not None:
        return None
    secret = vault.open(user.totp_secret).token
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    return TotpSetup(secret, uri)


def check_code(user: User, code: str, vault: Vault, now: datetime) -> bool:
    """A 6-digit code from the person's app: the current step or one either side (clock
    drift, RFC 6238 §5.2), and never a step already used."""
    digits = re.sub(r"\s+", "", code)
    if user.totp_secret is None or not re.fullmatch(r"\d{6}", digits):
        return False
    totp = pyotp.TOTP(vault.open(user.totp_secret).token)
    step = int(now.timestamp()) // totp.interval
    for candidate in (step, step - 1, step + 1):
        if candidate <= (user.totp_last_step or -1):
            continue
        expected = totp.generate_otp(candidate)
        if secrets.compare_digest(expected, digits):
            user.totp_last_step = candidate
            return True
    return False


def enable_totp(session: Session, user: User, code: str, vault: Vault, *, now: datetime) -> bool:
    if not check_code(user, code, vault, now):
        return False
    user.totp_enabled_at = now
    audit.record(
        session,
        actor=user.email,
        action="user.2fa_on",
        subject=user.email,
        before={"two_factor": False},
        after={"two_factor": True},
        at=now,
    )
    return True


def remove_totp(session: Session, email: str, *, actor: str, now: datetime) -> User:
    """Turn the second factor off (a lost phone): the person sets it up again."""
    user = get(session, email)
    if user.totp_secret is None:
        return user
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    audit.record(
        session,
        actor=actor,
        action="user.2fa_off",
        subject=user.email,
        before={"two_factor": True},
        after={"two_factor": False},
        at=now,
    )
    return user
