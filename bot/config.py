"""Configuration: every setting declared once, as data, with its help text.

Values come from the environment, then ``config.env`` (python-dotenv; the environment
wins). A bad value stops start-up with the variable's name and what is expected.
Secrets are wrapped in ``Secret`` so they never print. ``config.env.example`` lists every
setting below; a test keeps the two in step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

N = TypeVar("N", int, float)

DEFAULT_ENV_FILE = Path("config.env")
# After a pledge post's last engagement snapshot is due, its token is kept this much
# longer (platform time) so a late round still finds it; 29 d + 1 d = the 30 days the
# pledge pages promise.
PLEDGE_READ_MARGIN = timedelta(days=1)


class ConfigError(Exception):
    """A setting has a bad value; the message names the variable and what is expected."""


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        if not self._value:
            return "(not set)"
        return (
            f"set, {len(self._value)} characters, ending …{self._value[-2:]}"
            if len(self._value) >= 12
            else "set"
        )

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _str(raw: str) -> str:
    return raw.strip()


def _without_password(raw: str) -> str:
    """A URL as safe to print: any password replaced by ***."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", raw)


def _database_url(raw: str) -> str:
    """SQLite or PostgreSQL, in any usual spelling; ``postgres://`` (as many hosts give
    it) becomes SQLAlchemy's ``postgresql+psycopg://``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    value = raw.strip()
    if value.startswith("postgres://"):
        value = "postgresql+psycopg://" + value[len("postgres://") :]
    elif value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value[len("postgresql://") :]
    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError:
        backend = ""
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(
            "a database URL: sqlite:///clarion.db or postgresql+psycopg://user:pass@host/db"
        )
    return value


def _at_least(kind: Callable[[str], N], low: N, noun: str) -> Callable[[str], N]:
    """A parser for a number of ``kind`` (int or float) no smaller than ``low``."""

    def parse(raw: str) -> N:
        try:
            value = kind(raw.strip())
        except ValueError:
            raise ValueError(f"{noun} (at least {low})") from None
        if value < low:
            raise ValueError(f"{noun} (at least {low})")
        return value

    return parse


def _int_at_least(low: int) -> Callable[[str], int]:
    return _at_least(int, low, "a whole number")


def _float_at_least(low: float) -> Callable[[str], float]:
    return _at_least(float, low, "a number")


def _timezone(raw: str) -> str:
    name = raw.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("an IANA time zone name such as Europe/London") from None
    return name


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError("one of: " + ", ".join(options))
        return value

    return parse


def _yes_no(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise ValueError("true or false")


def _url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("a URL starting with http:// or https:// (or empty)")
    return value


def _graph_version(raw: str) -> str:
    value = raw.strip()
    digits = value[1:] if value.startswith("v") else value
    major, _, minor = digits.partition(".")
    minor = minor or "0"
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError("a Graph API version such as v25.0")
    return f"v{int(major)}.{int(minor)}"


_UNITS = {"m": 60, "h": 3600, "d": 86400}


class Offsets(tuple[tuple[str, int], ...]):
    """(label, seconds) pairs that print as they were written: 1h,24h,7d,29d."""

    def __str__(self) -> str:
        return ",".join(label for label, _ in self)


def _offsets(raw: str) -> Offsets:
    """ "1h,24h,7d,29d" -> (("1h", 3600), ...): ascending, each a number and m, h or d."""
    expected = "offsets such as 1h,24h,7d,29d (numbers with m, h or d, ascending)"
    out: list[tuple[str, int]] = []
    for part in raw.replace(" ", "").split(","):
        number, unit = part[:-1], part[-1:].lower()
        if not number.isdigit() or unit not in _UNITS or int(number) == 0:
            raise ValueError(expected)
        seconds = int(number) * _UNITS[unit]
        if out and seconds <= out[-1][1]:
            raise ValueError(expected)
        out.append((part, seconds))
    return Offsets(out)


def _secret(raw: str) -> Secret:
    return Secret(raw.strip())


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    parse: Callable[[str], Any]
    help: str
    section: str
    secret: bool = False


def _s(name: str, default: str, parse: Callable[[str], Any], help: str, section: str) -> Setting:
    return Setting(name, default, parse, help, section, secret=parse is _secret)


SETTINGS: tuple[Setting, ...] = (
    _s(
        "DATABASE_URL",
        "sqlite:///clarion.db",
        _database_url,
        "Where Clarion keeps its queue and ledger. SQLite file by default; PostgreSQL as "
        "postgresql+psycopg://user:pass@host/db",
        "Storage",
    ),
    _s(
        "TIMEZONE",
        "Europe/London",
        _timezone,
        "Time zone for times written without one (CLI and schedule files)",
        "Scheduling",
    ),
    _s(
        "SCHEDULES_DIR",
        "schedules",
        _str,
        "Folder of schedule files (*.yaml) that `apply` reads by default",
        "Scheduling",
    ),
    _s(
        "MISSED_GRACE_MINUTES",
        "15",
        _int_at_least(1),
        "Posts are never sent later than this after their time: after downtime or long "
        "rate-limit waits they are marked missed and reported instead",
        "Scheduling",
    ),
    _s(
        "POLL_INTERVAL_SECONDS",
        "1",
        _float_at_least(0.1),
        "How often the daemon looks for posts queued by other processes",
        "Scheduling",
    ),
    _s(
        "DELIVERY_CONCURRENCY",
        "16",
        _int_at_least(1),
        "Threads for posts that need one: threads, checks after an unknown outcome, posts "
        "Facebook holds",
        "Delivery",
    ),
    _s(
        "DELIVERY_MAX_IN_FLIGHT",
        "1000",
        _int_at_least(1),
        "Most posts claimed and unanswered at once; plain single posts (a pledge release) "
        "go out on asyncio up to this many at a time",
        "Delivery",
    ),
    _s(
        "MAX_ATTEMPTS",
        "5",
        _int_at_least(1),
        "Attempts before a post that keeps failing transiently is marked failed",
        "Delivery",
    ),
    _s(
        "RETRY_BASE_SECONDS",
        "2",
        _float_at_least(0.0),
        "First retry delay; doubles each attempt, with jitter",
        "Delivery",
    ),
    _s(
        "RETRY_MAX_SECONDS",
        "300",
        _float_at_least(0.0),
        "Longest wait between two attempts",
        "Delivery",
    ),
    _s(
        "HTTP_TIMEOUT_SECONDS",
        "30",
        _float_at_least(1.0),
        "How long one request to X or Facebook may take",
        "Delivery",
    ),
    _s("X_CONSUMER_KEY", "", _secret, "X app's API key (consumer key)", "X"),
    _s("X_CONSUMER_SECRET", "", _secret, "X app's API key secret", "X"),
    _s(
        "X_ACCESS_TOKEN",
        "",
        _secret,
        "The campaign's own X account: OAuth 1.0a access token (or use "
        "`python main.py accounts connect x`)",
        "X",
    ),
    _s("X_ACCESS_TOKEN_SECRET", "", _secret, "The campaign account's access token secret", "X"),
    _s("X_BEARER_TOKEN", "", _secret, "X app-only bearer token, for reading metrics", "X"),
    _s(
        "X_API_BASE_URL",
        "",
        _url,
        "Send X API calls here instead of https://api.twitter.com (empty = the real X)",
        "X",
    ),
    _s("FACEBOOK_PAGE_ID", "", _str, "The campaign's own Facebook Page id", "Facebook"),
    _s(
        "FACEBOOK_PAGE_TOKEN",
        "",
        _secret,
        "A Page access token for that Page (pages_manage_posts, pages_read_engagement)",
        "Facebook",
    ),
    _s("FACEBOOK_APP_ID", "", _str, "Facebook app id (for Facebook Login)", "Facebook"),
    _s("FACEBOOK_APP_SECRET", "", _secret, "Facebook app secret", "Facebook"),
    _s(
        "FACEBOOK_GRAPH_VERSION",
        "v25.0",
        _graph_version,
        "Graph API version to call; facebook-sdk's own default (v2.8) is long gone",
        "Facebook",
    ),
    _s(
        "FACEBOOK_GRAPH_BASE_URL",
        "",
        _url,
        "Send Graph calls here instead of https://graph.facebook.com (empty = real)",
        "Facebook",
    ),
    _s(
        "FACEBOOK_WWW_BASE_URL",
        "",
        _url,
        "Send Facebook Login dialogs here instead of https://www.facebook.com",
        "Facebook",
    ),
    _s(
        "SANDBOX",
        "auto",
        _choice("auto", "on", "off"),
        "Use the built-in sandbox instead of the real X and Facebook: auto = when no real "
        "credentials are set",
        "Sandbox",
    ),
    _s(
        "SANDBOX_URL",
        "",
        _url,
        "An already running sandbox to use (sets every base URL above); empty = the daemon "
        "starts its own on SANDBOX_PORT",
        "Sandbox",
    ),
    _s("SANDBOX_PORT", "8700", _int_at_least(1), "Port of the embedded sandbox", "Sandbox"),
    _s(
        "SANDBOX_STATE_FILE",
        "sandbox-state.db",
        _str,
        "Where the embedded sandbox keeps its accounts and posts between runs (SQLite)",
        "Sandbox",
    ),
    _s(
        "SANDBOX_TIME_ACCELERATION",
        "1000",
        _float_at_least(1.0),
        "Sandbox seconds per real second for the built-in sandbox: 1000 runs a week of "
        "engagement in about 10 minutes (snapshots 1h, 24h, 7d come 3.6 s, 86 s, 10 min after "
        "a post). Posting times never change; ignored (1) on the real X and Facebook",
        "Sandbox",
    ),
    _s(
        "WEB_PORT",
        "8080",
        _int_at_least(1),
        "Port of the campaign pages (served by `run` and by `web`)",
        "Pledge campaigns",
    ),
    _s(
        "WEB_HOST",
        "127.0.0.1",
        _str,
        "Interface the campaign pages listen on; put a TLS proxy in front for the public",
        "Pledge campaigns",
    ),
    _s(
        "WEB_BASE_URL",
        "http://127.0.0.1:8080",
        _url,
        "The public address of the campaign pages, used in links, OAuth callbacks and share cards",
        "Pledge campaigns",
    ),
    _s(
        "WEB_SECRET_KEY",
        "",
        _secret,
        "Signs session cookies, CSRF tokens and withdraw links; `python main.py init` "
        "generates one",
        "Pledge campaigns",
    ),
    _s(
        "RELEASE_WINDOW_MINUTES",
        "10",
        _int_at_least(0),
        "Default spread of a pledge release: posts go out over this many minutes, with "
        "jitter (0 = all at once)",
        "Pledge campaigns",
    ),
    _s(
        "READINESS_HOURS",
        "24",
        _float_at_least(0.0),
        "How long before a release every pledged token is checked",
        "Pledge campaigns",
    ),
    _s(
        "IDENTICAL_TEXT_WARN_ACCOUNTS",
        "10",
        _int_at_least(1),
        "Warn when more accounts than this would post identical text (X forbids automated "
        "identical posts across accounts)",
        "Pledge campaigns",
    ),
    _s(
        "X_APP_DAILY_POST_LIMIT",
        "10000",
        _int_at_least(1),
        "X's per-app limit on posts per 24 hours, checked before a release",
        "Pledge campaigns",
    ),
    _s(
        "X_POST_COST_USD",
        "0.015",
        _float_at_least(0.0),
        "X pay-per-use price of one post",
        "Pledge campaigns",
    ),
    _s(
        "X_POST_WITH_URL_COST_USD",
        "0.20",
        _float_at_least(0.0),
        "X pay-per-use price of one post that contains a URL",
        "Pledge campaigns",
    ),
    _s(
        "PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT",
        "true",
        _yes_no,
        "Keep a supporter's token after the release only to read their post's engagement, "
        "until its last ENGAGEMENT_OFFSETS snapshot plus a day, then delete it (false = "
        "delete at the release's end: Facebook pledge posts then get no figures)",
        "Pledge campaigns",
    ),
    _s(
        "SMTP_HOST",
        "",
        _str,
        "Mail server for supporters' reminder and reconnect emails (empty = no email)",
        "Email",
    ),
    _s("SMTP_PORT", "587", _int_at_least(1), "Mail server port", "Email"),
    _s("SMTP_USERNAME", "", _str, "Mail server login (empty = none)", "Email"),
    _s("SMTP_PASSWORD", "", _secret, "Mail server password", "Email"),
    _s("SMTP_STARTTLS", "on", _choice("on", "off"), "Use STARTTLS", "Email"),
    _s("MAIL_FROM", "clarion@localhost", _str, "Sender address of supporters' emails", "Email"),
    _s(
        "ENGAGEMENT_OFFSETS",
        "1h,24h,7d,29d",
        _offsets,
        "When to record each sent post's engagement, after it went out; the last stays "
        "inside X's 30-day window for impressions and link clicks",
        "Engagement",
    ),
    _s(
        "ENGAGEMENT_POLL_SECONDS",
        "300",
        _float_at_least(1.0),
        "How often the daemon looks for snapshots that are due",
        "Engagement",
    ),
    _s(
        "ENGAGEMENT_CONCURRENCY",
        "8",
        _int_at_least(1),
        "How many metric reads run at the same time",
        "Engagement",
    ),
    _s(
        "X_READ_COST_USD",
        "0.005",
        _float_at_least(0.0),
        "X pay-per-use price of reading one post; X charges it once per post per UTC day",
        "Engagement",
    ),
    _s(
        "TOKEN_ENCRYPTION_KEYS",
        "",
        _secret,
        "Fernet keys that encrypt stored account tokens, newest first, comma-separated. "
        "`python main.py init` generates one; `keys rotate` adds a new one",
        "Security",
    ),
    _s(
        "LOG_LEVEL",
        "INFO",
        _choice("debug", "info", "warning", "error"),
        "How much the daemon logs",
        "Logging",
    ),
)


@dataclass(frozen=True)
class Settings:
    database_url: str
    timezone: str
    schedules_dir: str
    missed_grace_minutes: int
    poll_interval_seconds: float
    delivery_concurrency: int
    delivery_max_in_flight: int
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    http_timeout_seconds: float
    x_consumer_key: Secret
    x_consumer_secret: Secret
    x_access_token: Secret
    x_access_token_secret: Secret
    x_bearer_token: Secret
    x_api_base_url: str
    facebook_page_id: str
    facebook_page_token: Secret
    facebook_app_id: str
    facebook_app_secret: Secret
    facebook_graph_version: str
    facebook_graph_base_url: str
    facebook_www_base_url: str
    sandbox: str
    sandbox_url: str
    sandbox_port: int
    sandbox_state_file: str
    sandbox_time_acceleration: float
    web_port: int
    web_host: str
    web_base_url: str
    web_secret_key: Secret
    release_window_minutes: int
    readiness_hours: float
    identical_text_warn_accounts: int
    x_app_daily_post_limit: int
    x_post_cost_usd: float
    x_post_with_url_cost_usd: float
    pledge_tokens_kept_for_engagement: bool
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: Secret
    smtp_starttls: str
    mail_from: str
    engagement_offsets: tuple[tuple[str, int], ...]
    engagement_poll_seconds: float
    engagement_concurrency: int
    x_read_cost_usd: float
    token_encryption_keys: Secret
    log_level: str

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)

    @property
    def has_real_x(self) -> bool:
        return bool(self.x_consumer_key and self.x_consumer_secret)

    @property
    def has_real_facebook(self) -> bool:
        return bool(self.facebook_page_id and self.facebook_page_token)

    @property
    def uses_sandbox(self) -> bool:
        """True when posts go to the sandbox rather than the real platforms."""
        if self.sandbox == "on" or self.sandbox_url:
            return True
        if self.sandbox == "off":
            return False
        return not (self.has_real_x or self.has_real_facebook)

    @property
    def clock_acceleration(self) -> float:
        """Platform seconds per real second: the sandbox's acceleration on a sandbox, and
        always 1 on the real X and Facebook, whose clocks are the world's."""
        return self.sandbox_time_acceleration if self.uses_sandbox else 1.0

    @property
    def pledge_token_read_window(self) -> timedelta | None:
        """How long after a pledge post went out its supporter's token is kept to read
        engagement, in the platforms' time: the last snapshot plus a day's margin (a round
        that is late, a daemon briefly down). None: tokens go at the release's end."""
        if not (self.pledge_tokens_kept_for_engagement and self.engagement_offsets):
            return None
        return timedelta(seconds=self.engagement_offsets[-1][1]) + PLEDGE_READ_MARGIN

    @property
    def pledge_token_read_days(self) -> int:
        """``pledge_token_read_window`` in whole days, rounded up, as the pledge pages
        promise it (0: tokens go at the release's end)."""
        window = self.pledge_token_read_window
        return 0 if window is None else -(-window // timedelta(days=1))


def load_settings(
    env_file: Path | None = DEFAULT_ENV_FILE, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read settings; raise ConfigError naming every bad variable at once."""
    env = dict(os.environ if environ is None else environ)
    from_file: dict[str, str | None] = {}
    if env_file is not None and env_file.exists():
        from_file = dotenv_values(env_file)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for setting in SETTINGS:
        raw = env.get(setting.name)
        where = "environment"
        if raw is None:
            file_value = from_file.get(setting.name)
            raw, where = (
                (file_value, str(env_file))
                if file_value is not None
                else (setting.default, "default")
            )
        try:
            values[setting.name.lower()] = setting.parse(raw)
        except ValueError as exc:
            shown = "***" if setting.secret else repr(_without_password(raw))
            problems.append(f"{setting.name}={shown} (from {where}): expected {exc}")
    if problems:
        raise ConfigError("bad configuration:\n  " + "\n  ".join(problems))
    return Settings(**values)


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(variable, value as safe to show, section) for `config check`."""
    rows = []
    for setting in SETTINGS:
        value = getattr(settings, setting.name.lower())
        shown = value.masked() if isinstance(value, Secret) else str(value)
        rows.append((setting.name, shown or "(empty)", setting.section))
    return rows
