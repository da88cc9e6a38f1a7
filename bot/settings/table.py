"""Every setting, once, as data: name, default, parser, help text and section.

``config.env.example`` is generated from this table (a test keeps the two in step).
"""

from __future__ import annotations

from bot.settings.values import (
    Setting,
    _choice,
    _database_url,
    _float_at_least,
    _graph_version,
    _int_at_least,
    _offsets,
    _s,
    _secret,
    _str,
    _timezone,
    _url,
    _yes_no,
)

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
        "CONSOLE_ENABLED",
        "true",
        _yes_no,
        "Serve the volunteer console at WEB_BASE_URL/console/ beside the campaign pages "
        "(false = not served at all)",
        "Console",
    ),
    _s(
        "CONSOLE_IDLE_MINUTES",
        "30",
        _int_at_least(1),
        "A console sign-in ends after this many minutes without a page being opened",
        "Console",
    ),
    _s(
        "CONSOLE_SESSION_HOURS",
        "12",
        _int_at_least(1),
        "A console sign-in ends this many hours after it started, however busy",
        "Console",
    ),
    _s(
        "CONSOLE_INVITE_HOURS",
        "72",
        _int_at_least(1),
        "How long an invite or password-reset link works",
        "Console",
    ),
    _s(
        "CONSOLE_LOCK_FAILURES",
        "5",
        _int_at_least(1),
        "Wrong passwords in a row that lock a console account for CONSOLE_LOCK_MINUTES",
        "Console",
    ),
    _s(
        "CONSOLE_LOCK_MINUTES",
        "15",
        _int_at_least(1),
        "How long a console account stays locked after too many wrong passwords",
        "Console",
    ),
    _s(
        "CONSOLE_ADDRESS_ATTEMPTS",
        "20",
        _int_at_least(1),
        "Sign-in attempts allowed from one address (IPv4, or IPv6 /64) per 15 minutes",
        "Console",
    ),
    _s(
        "SMTP_HOST",
        "",
        _str,
        "Mail server for supporters' reminder and reconnect emails and for alerts (empty = "
        "no email)",
        "Email",
    ),
    _s("SMTP_PORT", "587", _int_at_least(1), "Mail server port", "Email"),
    _s("SMTP_USERNAME", "", _str, "Mail server login (empty = none)", "Email"),
    _s("SMTP_PASSWORD", "", _secret, "Mail server password", "Email"),
    _s("SMTP_STARTTLS", "on", _choice("on", "off"), "Use STARTTLS", "Email"),
    _s(
        "MAIL_FROM",
        "clarion@localhost",
        _str,
        "Sender address of Clarion's emails (supporters' and alerts)",
        "Email",
    ),
    _s(
        "ALERTS_CHECK_SECONDS",
        "10",
        _float_at_least(1.0),
        "How often the alert watcher reads the database for failed or missed posts, accounts "
        "to reconnect, finished releases and a stopped daemon (it never slows posting)",
        "Alerts",
    ),
    _s(
        "ALERTS_GROUP_QUIET_SECONDS",
        "20",
        _float_at_least(0.0),
        "Alerts of one kind for one campaign are grouped into one message, sent once no new "
        "one has come for this long",
        "Alerts",
    ),
    _s(
        "ALERTS_GROUP_MAX_SECONDS",
        "40",
        _float_at_least(0.0),
        "…or once the group's first alert is this old, whichever comes first",
        "Alerts",
    ),
    _s(
        "ALERTS_DAEMON_STALE_SECONDS",
        "120",
        _float_at_least(10.0),
        "Alert that the daemon has stopped when its last heartbeat is older than this",
        "Alerts",
    ),
    _s(
        "ALERTS_APPROVAL_LEAD_MINUTES",
        "60",
        _int_at_least(1),
        "Alert when a post still awaiting approval is due within this many minutes",
        "Alerts",
    ),
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
