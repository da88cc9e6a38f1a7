"""Configuration: every setting declared once, as data, with its help text.

Values come from the environment, then ``config.env`` (python-dotenv; the environment
wins). A bad value stops start-up with the variable's name and what is expected.
Secrets are wrapped in ``Secret`` so they never print. ``config.env.example`` lists every
setting (the table is bot/settings/table.py, the parsers bot/settings/values.py); a test
keeps the two in step.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.safe_files import FileRefused, read_regular
from bot.settings.table import SETTINGS
from bot.settings.values import (
    ConfigError,
    Offsets,
    Secret,
    Setting,
    split_bind,
    without_password,
)
from bot.utf8 import not_utf8
from bot.utf8 import shown as utf8_shown

__all__ = [
    "SETTINGS",
    "ConfigError",
    "Offsets",
    "Secret",
    "Setting",
    "Settings",
    "base_url_mismatch",
    "describe",
    "load_settings",
    "local_base_url",
    "missing_credentials",
]

DEFAULT_ENV_FILE = Path("config.env")
MAX_CONFIG_BYTES = 1024 * 1024
# After a pledge post's last engagement snapshot is due, its token is kept this much
# longer (platform time) so a late round still finds it; 29 d + 1 d = the 30 days the
# pledge pages promise.
PLEDGE_READ_MARGIN = timedelta(days=1)
# WEB_HOST values that mean "every interface": a browser cannot open them, so links made
# from them name the loopback address instead.
ANY_INTERFACE = {"0.0.0.0", "::", "[::]", ""}  # noqa: S104 - recognised, never bound
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Each platform's real credentials that only work together: (the group's purpose, names).
# Part of a group set is a mistake to report, never a reason to post to the sandbox.
CREDENTIAL_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the X app", ("X_CONSUMER_KEY", "X_CONSUMER_SECRET")),
    ("the campaign's X account", ("X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")),
    ("the campaign's Facebook Page", ("FACEBOOK_PAGE_ID", "FACEBOOK_PAGE_TOKEN")),
    ("the Facebook app (Facebook Login)", ("FACEBOOK_APP_ID", "FACEBOOK_APP_SECRET")),
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
    bluesky_oauth_key: Secret
    sandbox: str
    sandbox_url: str
    sandbox_admin_token: Secret
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
    bluesky_requests_per_5_minutes: int
    mastodon_requests_per_5_minutes: int
    x_post_cost_usd: float
    x_post_with_url_cost_usd: float
    pledge_tokens_kept_for_engagement: bool
    console_enabled: bool
    console_idle_minutes: int
    console_session_hours: int
    console_invite_hours: int
    console_lock_failures: int
    console_lock_minutes: int
    console_address_attempts: int
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: Secret
    smtp_starttls: str
    mail_from: str
    alerts_check_seconds: float
    alerts_group_quiet_seconds: float
    alerts_group_max_seconds: float
    alerts_daemon_stale_seconds: float
    alerts_approval_lead_minutes: int
    engagement_offsets: tuple[tuple[str, int], ...]
    engagement_poll_seconds: float
    engagement_concurrency: int
    x_read_cost_usd: float
    token_encryption_keys: Secret
    log_level: str
    log_format: str
    metrics_bind: str
    # Whether WEB_BASE_URL was left empty and so follows WEB_HOST and WEB_PORT (and a
    # `web --port` given on the command line).
    web_base_url_follows: bool = False

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """METRICS_BIND as (host, port); None: served with the campaign pages."""
        return split_bind(self.metrics_bind) if self.metrics_bind else None

    @property
    def has_real_x(self) -> bool:
        return bool(self.x_consumer_key and self.x_consumer_secret)

    @property
    def has_real_facebook(self) -> bool:
        """A Page set in config.env, or the Facebook app whose Login connects Pages
        (`accounts connect facebook`, the console, supporters' pledges)."""
        page = self.facebook_page_id and self.facebook_page_token
        app = self.facebook_app_id and self.facebook_app_secret
        return bool(page or app)

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
        always 1 on the real networks, whose clocks are the world's."""
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
        try:
            data = read_regular(env_file, MAX_CONFIG_BYTES)
        except FileRefused as error:
            raise ConfigError(f"bad configuration: {env_file} {error}") from None
        from_file = dotenv_values(stream=io.StringIO(_utf8(data, env_file)))
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
        shown = "***" if setting.secret else repr(without_password(raw))
        why = not_utf8(raw)
        if why is not None:
            shown = "***" if setting.secret else utf8_shown(without_password(raw))
            problems.append(
                f"{setting.name}={shown} (from {where}): is not valid text: {why}; write it "
                "again as UTF-8"
            )
            continue
        try:
            values[setting.name.lower()] = setting.parse(raw)
        except (ValueError, OverflowError) as exc:
            problems.append(f"{setting.name}={shown} (from {where}): expected {exc}")
    if not problems:
        problems = missing_credentials(values)
    if problems:
        raise ConfigError("bad configuration:\n  " + "\n  ".join(problems))
    if not values["web_base_url"]:
        values["web_base_url"] = local_base_url(values["web_host"], values["web_port"])
        values["web_base_url_follows"] = True
    return Settings(**values)


def _utf8(data: bytes, env_file: Path) -> str:
    """The settings file as text; ConfigError naming the line of a byte that is not UTF-8
    (a file saved in Latin-1 or Windows-1252 by an editor)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError(
            f"bad configuration: {env_file} line {line}: the byte 0x{data[error.start]:02X} is "
            "not UTF-8; save the file as UTF-8 (and retype that line's accented letters)"
        ) from None


def folder_problems(settings: Settings) -> list[str]:
    """Settings naming a folder or a file whose folder does not exist, each said with its
    variable: checked by `config check` and before the daemon starts."""
    problems = []
    schedules = Path(settings.schedules_dir)
    if schedules.exists() and not schedules.is_dir():
        problems.append(f"SCHEDULES_DIR={settings.schedules_dir!r}: is a file, not a folder")
    files = {"SANDBOX_STATE_FILE": settings.sandbox_state_file}
    if settings.database_url.startswith("sqlite:///"):
        database = settings.database_url.removeprefix("sqlite:///").partition("?")[0]
        if database and database != ":memory:":
            files["DATABASE_URL"] = database
    for name, value in files.items():
        folder = Path(value).expanduser().parent
        if not folder.is_dir():
            problems.append(
                f"{name}: the folder {str(folder)!r} does not exist; create it or change {name}"
            )
    return problems


def local_base_url(host: str, port: int) -> str:
    """The address of pages listening on ``host``:``port``, as a browser on this machine
    opens it."""
    host = "127.0.0.1" if host.strip() in ANY_INTERFACE else host.strip()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def missing_credentials(values: Mapping[str, Any]) -> list[str]:
    """A problem for each group of real credentials set only in part, naming what is
    missing. SANDBOX=on (or SANDBOX_URL) asks for the sandbox whatever is set; otherwise
    half a set of credentials would silently mean the sandbox (or a failing platform)."""
    if values.get("sandbox") == "on" or values.get("sandbox_url"):
        return []
    problems = []
    for purpose, names in CREDENTIAL_GROUPS:
        given = [name for name in names if values.get(name.lower())]
        missing = [name for name in names if name not in given]
        if given and missing:
            problems.append(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing: "
                f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} set, and "
                f"{purpose} needs {' and '.join(names)} together. Set "
                f"{'it' if len(missing) == 1 else 'them'} too, or empty "
                f"{'it' if len(given) == 1 else 'them'} (no credentials = the sandbox)"
            )
    x_account = [n for n in ("X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET") if values.get(n.lower())]
    x_app = [n for n in ("X_CONSUMER_KEY", "X_CONSUMER_SECRET") if values.get(n.lower())]
    if x_account and not x_app:
        problems.append(
            "X_CONSUMER_KEY and X_CONSUMER_SECRET are missing: the campaign's X account "
            f"({' and '.join(x_account)}) posts through an X app, whose API key and secret "
            "they are (developer.x.com, your app's Keys and tokens)"
        )
    if values.get("x_bearer_token") and not x_app:
        problems.append(
            "X_CONSUMER_KEY and X_CONSUMER_SECRET are missing: X_BEARER_TOKEN is set, and "
            "it belongs to an X app whose API key and secret Clarion needs as well "
            "(developer.x.com, your app's Keys and tokens); set them, or empty X_BEARER_TOKEN "
            "(no credentials = the sandbox)"
        )
    return problems


def base_url_mismatch(settings: Settings) -> str | None:
    """A warning when WEB_BASE_URL names this machine but not the port the pages listen
    on (WEB_PORT): its links, OAuth callbacks and share cards would lead nowhere. An
    address on another host is taken to be a proxy in front and left alone."""
    if settings.web_base_url_follows:
        return None
    parts = urlsplit(settings.web_base_url)
    host = (parts.hostname or "").lower()
    if host not in LOOPBACK:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if port == settings.web_port:
        return None
    return (
        f"WEB_BASE_URL={settings.web_base_url} names port {port} on this machine, but the "
        f"pages listen on WEB_PORT={settings.web_port}: links, sign-in callbacks and share "
        "cards would lead nowhere. Empty WEB_BASE_URL to follow WEB_PORT, or make them agree"
    )


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(variable, value as safe to show, section) for `config check`."""
    rows = []
    for setting in SETTINGS:
        value = getattr(settings, setting.name.lower())
        shown = value.masked() if isinstance(value, Secret) else str(value)
        rows.append((setting.name, shown or "(empty)", setting.section))
    return rows
