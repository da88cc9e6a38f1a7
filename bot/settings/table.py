"""Every setting, once, as data: name, default, parser, help text and section.

``config.env.example`` is generated from this table (a test keeps the two in step).
"""

from __future__ import annotations

from bot.settings.values import (
    Setting,
    parse_choice,
    parse_database_url,
    parse_float_at_least,
    parse_graph_version,
    parse_int_at_least,
    parse_offsets,
    parse_secret,
    parse_text,
    parse_timezone,
    parse_url,
    parse_yes_no,
    setting,
)

SETTINGS: tuple[Setting, ...] = (
    setting(
        "DATABASE_URL",
        "sqlite:///clarion.db",
        parse_database_url,
        "Where Clarion keeps its queue and ledger. SQLite file by default; PostgreSQL as "
        "postgresql+psycopg://user:pass@host/db",
        "Storage",
    ),
    setting(
        "TIMEZONE",
        "Europe/London",
        parse_timezone,
        "Time zone for times written without one (CLI and schedule files)",
        "Scheduling",
    ),
    setting(
        "SCHEDULES_DIR",
        "schedules",
        parse_text,
        "Folder of schedule files (*.yaml) that `apply` reads by default",
        "Scheduling",
    ),
    setting(
        "MISSED_GRACE_MINUTES",
        "15",
        parse_int_at_least(1),
        "Posts are never sent later than this after their time: after downtime or long "
        "rate-limit waits they are marked missed and reported instead",
        "Scheduling",
    ),
    setting(
        "POLL_INTERVAL_SECONDS",
        "1",
        parse_float_at_least(0.1),
        "How often the daemon looks for posts queued by other processes",
        "Scheduling",
    ),
    setting(
        "DELIVERY_CONCURRENCY",
        "16",
        parse_int_at_least(1),
        "Threads for posts that need one: threads, checks after an unknown outcome, posts "
        "Facebook holds",
        "Delivery",
    ),
    setting(
        "DELIVERY_MAX_IN_FLIGHT",
        "1000",
        parse_int_at_least(1),
        "Most posts claimed and unanswered at once; plain single posts (a pledge release) "
        "go out on asyncio up to this many at a time",
        "Delivery",
    ),
    setting(
        "MAX_ATTEMPTS",
        "5",
        parse_int_at_least(1),
        "Attempts before a post that keeps failing transiently is marked failed",
        "Delivery",
    ),
    setting(
        "RETRY_BASE_SECONDS",
        "2",
        parse_float_at_least(0.0),
        "First retry delay; doubles each attempt, with jitter",
        "Delivery",
    ),
    setting(
        "RETRY_MAX_SECONDS",
        "300",
        parse_float_at_least(0.0),
        "Longest wait between two attempts",
        "Delivery",
    ),
    setting(
        "HTTP_TIMEOUT_SECONDS",
        "30",
        parse_float_at_least(1.0),
        "How long one request to X or Facebook may take",
        "Delivery",
    ),
    setting("X_CONSUMER_KEY", "", parse_secret, "X app's API key (consumer key)", "X"),
    setting("X_CONSUMER_SECRET", "", parse_secret, "X app's API key secret", "X"),
    setting(
        "X_ACCESS_TOKEN",
        "",
        parse_secret,
        "The campaign's own X account: OAuth 1.0a access token (or use "
        "`python main.py accounts connect x`)",
        "X",
    ),
    setting(
        "X_ACCESS_TOKEN_SECRET", "", parse_secret, "The campaign account's access token secret", "X"
    ),
    setting(
        "X_BEARER_TOKEN", "", parse_secret, "X app-only bearer token, for reading metrics", "X"
    ),
    setting(
        "X_API_BASE_URL",
        "",
        parse_url,
        "Send X API calls here instead of https://api.twitter.com (empty = the real X)",
        "X",
    ),
    setting("FACEBOOK_PAGE_ID", "", parse_text, "The campaign's own Facebook Page id", "Facebook"),
    setting(
        "FACEBOOK_PAGE_TOKEN",
        "",
        parse_secret,
        "A Page access token for that Page (pages_manage_posts, pages_read_engagement)",
        "Facebook",
    ),
    setting("FACEBOOK_APP_ID", "", parse_text, "Facebook app id (for Facebook Login)", "Facebook"),
    setting("FACEBOOK_APP_SECRET", "", parse_secret, "Facebook app secret", "Facebook"),
    setting(
        "FACEBOOK_GRAPH_VERSION",
        "v25.0",
        parse_graph_version,
        "Graph API version to call; facebook-sdk's own default (v2.8) is long gone",
        "Facebook",
    ),
    setting(
        "FACEBOOK_GRAPH_BASE_URL",
        "",
        parse_url,
        "Send Graph calls here instead of https://graph.facebook.com (empty = real)",
        "Facebook",
    ),
    setting(
        "FACEBOOK_WWW_BASE_URL",
        "",
        parse_url,
        "Send Facebook Login dialogs here instead of https://www.facebook.com",
        "Facebook",
    ),
    setting(
        "SANDBOX",
        "auto",
        parse_choice("auto", "on", "off"),
        "Use the built-in sandbox instead of the real X and Facebook: auto = when no real "
        "credentials are set",
        "Sandbox",
    ),
    setting(
        "SANDBOX_URL",
        "",
        parse_url,
        "An already running sandbox to use (sets every base URL above); empty = the daemon "
        "starts its own on SANDBOX_PORT",
        "Sandbox",
    ),
    setting(
        "SANDBOX_PORT", "8700", parse_int_at_least(1), "Port of the embedded sandbox", "Sandbox"
    ),
    setting(
        "SANDBOX_STATE_FILE",
        "sandbox-state.db",
        parse_text,
        "Where the embedded sandbox keeps its accounts and posts between runs (SQLite)",
        "Sandbox",
    ),
    setting(
        "SANDBOX_TIME_ACCELERATION",
        "1000",
        parse_float_at_least(1.0),
        "Sandbox seconds per real second for the built-in sandbox: 1000 runs a week of "
        "engagement in about 10 minutes (snapshots 1h, 24h, 7d come 3.6 s, 86 s, 10 min after "
        "a post). Posting times never change; ignored (1) on the real X and Facebook",
        "Sandbox",
    ),
    setting(
        "WEB_PORT",
        "8080",
        parse_int_at_least(1),
        "Port of the campaign pages (served by `run` and by `web`)",
        "Pledge campaigns",
    ),
    setting(
        "WEB_HOST",
        "127.0.0.1",
        parse_text,
        "Interface the campaign pages listen on; put a TLS proxy in front for the public",
        "Pledge campaigns",
    ),
    setting(
        "WEB_BASE_URL",
        "http://127.0.0.1:8080",
        parse_url,
        "The public address of the campaign pages, used in links, OAuth callbacks and share cards",
        "Pledge campaigns",
    ),
    setting(
        "WEB_SECRET_KEY",
        "",
        parse_secret,
        "Signs session cookies, CSRF tokens and withdraw links; `python main.py init` "
        "generates one",
        "Pledge campaigns",
    ),
    setting(
        "RELEASE_WINDOW_MINUTES",
        "10",
        parse_int_at_least(0),
        "Default spread of a pledge release: posts go out over this many minutes, with "
        "jitter (0 = all at once)",
        "Pledge campaigns",
    ),
    setting(
        "READINESS_HOURS",
        "24",
        parse_float_at_least(0.0),
        "How long before a release every pledged token is checked",
        "Pledge campaigns",
    ),
    setting(
        "IDENTICAL_TEXT_WARN_ACCOUNTS",
        "10",
        parse_int_at_least(1),
        "Warn when more accounts than this would post identical text (X forbids automated "
        "identical posts across accounts)",
        "Pledge campaigns",
    ),
    setting(
        "X_APP_DAILY_POST_LIMIT",
        "10000",
        parse_int_at_least(1),
        "X's per-app limit on posts per 24 hours, checked before a release",
        "Pledge campaigns",
    ),
    setting(
        "X_POST_COST_USD",
        "0.015",
        parse_float_at_least(0.0),
        "X pay-per-use price of one post",
        "Pledge campaigns",
    ),
    setting(
        "X_POST_WITH_URL_COST_USD",
        "0.20",
        parse_float_at_least(0.0),
        "X pay-per-use price of one post that contains a URL",
        "Pledge campaigns",
    ),
    setting(
        "PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT",
        "true",
        parse_yes_no,
        "Keep a supporter's token after the release only to read their post's engagement, "
        "until its last ENGAGEMENT_OFFSETS snapshot plus a day, then delete it (false = "
        "delete at the release's end: Facebook pledge posts then get no figures)",
        "Pledge campaigns",
    ),
    setting(
        "SMTP_HOST",
        "",
        parse_text,
        "Mail server for supporters' reminder and reconnect emails (empty = no email)",
        "Email",
    ),
    setting("SMTP_PORT", "587", parse_int_at_least(1), "Mail server port", "Email"),
    setting("SMTP_USERNAME", "", parse_text, "Mail server login (empty = none)", "Email"),
    setting("SMTP_PASSWORD", "", parse_secret, "Mail server password", "Email"),
    setting("SMTP_STARTTLS", "on", parse_choice("on", "off"), "Use STARTTLS", "Email"),
    setting(
        "MAIL_FROM",
        "clarion@localhost",
        parse_text,
        "Sender address of supporters' emails",
        "Email",
    ),
    setting(
        "ENGAGEMENT_OFFSETS",
        "1h,24h,7d,29d",
        parse_offsets,
        "When to record each sent post's engagement, after it went out; the last stays "
        "inside X's 30-day window for impressions and link clicks",
        "Engagement",
    ),
    setting(
        "ENGAGEMENT_POLL_SECONDS",
        "300",
        parse_float_at_least(1.0),
        "How often the daemon looks for snapshots that are due",
        "Engagement",
    ),
    setting(
        "ENGAGEMENT_CONCURRENCY",
        "8",
        parse_int_at_least(1),
        "How many metric reads run at the same time",
        "Engagement",
    ),
    setting(
        "X_READ_COST_USD",
        "0.005",
        parse_float_at_least(0.0),
        "X pay-per-use price of reading one post; X charges it once per post per UTC day",
        "Engagement",
    ),
    setting(
        "TOKEN_ENCRYPTION_KEYS",
        "",
        parse_secret,
        "Fernet keys that encrypt stored account tokens, newest first, comma-separated. "
        "`python main.py init` generates one; `keys rotate` adds a new one",
        "Security",
    ),
    setting(
        "LOG_LEVEL",
        "INFO",
        parse_choice("debug", "info", "warning", "error"),
        "How much the daemon logs",
        "Logging",
    ),
)
