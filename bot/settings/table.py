"""Every setting, once, as data: name, default, parser, help text and section, each by
keyword.

``config.env.example`` is generated from this table (a test keeps the two in step).
"""

from __future__ import annotations

from bot.settings.values import (
    Setting,
    parse_bind,
    parse_choice,
    parse_database_url,
    parse_float_at_least,
    parse_graph_version,
    parse_host,
    parse_int_at_least,
    parse_offsets,
    parse_port,
    parse_secret,
    parse_sender,
    parse_text,
    parse_timezone,
    parse_url,
    parse_yes_no,
)

SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="DATABASE_URL",
        default="sqlite:///clarion.db",
        parse=parse_database_url,
        help="Where Clarion keeps its queue and ledger. SQLite file by default; PostgreSQL as "
        "postgresql+psycopg://user:pass@host/db",
        section="Storage",
    ),
    Setting(
        name="TIMEZONE",
        default="Europe/London",
        parse=parse_timezone,
        help="Time zone for times written without one (CLI and schedule files)",
        section="Scheduling",
    ),
    Setting(
        name="SCHEDULES_DIR",
        default="schedules",
        parse=parse_text,
        help="Folder of schedule files (*.yaml) that `apply` reads by default",
        section="Scheduling",
    ),
    Setting(
        name="MISSED_GRACE_MINUTES",
        default="15",
        parse=parse_int_at_least(1),
        help="Posts are never sent later than this after their time. Until then a platform "
        "that cannot be reached or rate-limits is tried again (at most 30 s apart); after "
        "downtime, an outage or a rate-limit wait this long they are marked missed and "
        "reported instead",
        section="Scheduling",
    ),
    Setting(
        name="POLL_INTERVAL_SECONDS",
        default="1",
        parse=parse_float_at_least(0.1),
        help="How often the daemon looks for posts queued by other processes",
        section="Scheduling",
    ),
    Setting(
        name="DELIVERY_CONCURRENCY",
        default="16",
        parse=parse_int_at_least(1),
        help="Threads for posts that need one: threads, checks after an unknown outcome, posts "
        "Facebook holds",
        section="Delivery",
    ),
    Setting(
        name="DELIVERY_MAX_IN_FLIGHT",
        default="1000",
        parse=parse_int_at_least(1),
        help="Most posts claimed and unanswered at once; plain single posts (a pledge release) "
        "go out on asyncio up to this many at a time",
        section="Delivery",
    ),
    Setting(
        name="MAX_ATTEMPTS",
        default="5",
        parse=parse_int_at_least(1),
        help="Attempts before a post that keeps failing transiently is marked failed (refused "
        "connections and rate limits are not counted: they are waited out until "
        "MISSED_GRACE_MINUTES)",
        section="Delivery",
    ),
    Setting(
        name="RETRY_BASE_SECONDS",
        default="2",
        parse=parse_float_at_least(0.0),
        help="First retry delay; doubles each attempt, with jitter",
        section="Delivery",
    ),
    Setting(
        name="RETRY_MAX_SECONDS",
        default="300",
        parse=parse_float_at_least(0.0),
        help="Longest wait between two attempts",
        section="Delivery",
    ),
    Setting(
        name="HTTP_TIMEOUT_SECONDS",
        default="30",
        parse=parse_float_at_least(1.0),
        help="How long one request to X or Facebook may take",
        section="Delivery",
    ),
    Setting(
        name="X_CONSUMER_KEY",
        default="",
        parse=parse_secret,
        help="X app's API key (consumer key)",
        section="X",
    ),
    Setting(
        name="X_CONSUMER_SECRET",
        default="",
        parse=parse_secret,
        help="X app's API key secret",
        section="X",
    ),
    Setting(
        name="X_ACCESS_TOKEN",
        default="",
        parse=parse_secret,
        help="The campaign's own X account: OAuth 1.0a access token (or use "
        "`python main.py accounts connect x`)",
        section="X",
    ),
    Setting(
        name="X_ACCESS_TOKEN_SECRET",
        default="",
        parse=parse_secret,
        help="The campaign account's access token secret",
        section="X",
    ),
    Setting(
        name="X_BEARER_TOKEN",
        default="",
        parse=parse_secret,
        help="X app-only bearer token, for reading metrics",
        section="X",
    ),
    Setting(
        name="X_API_BASE_URL",
        default="",
        parse=parse_url,
        help="Send X API calls here instead of https://api.x.com (empty = the real X)",
        section="X",
    ),
    Setting(
        name="FACEBOOK_PAGE_ID",
        default="",
        parse=parse_text,
        help="The campaign's own Facebook Page id",
        section="Facebook",
    ),
    Setting(
        name="FACEBOOK_PAGE_TOKEN",
        default="",
        parse=parse_secret,
        help="A Page access token for that Page (pages_manage_posts, pages_read_engagement)",
        section="Facebook",
    ),
    Setting(
        name="FACEBOOK_APP_ID",
        default="",
        parse=parse_text,
        help="Facebook app id (for Facebook Login)",
        section="Facebook",
    ),
    Setting(
        name="FACEBOOK_APP_SECRET",
        default="",
        parse=parse_secret,
        help="Facebook app secret (also signs every Graph call: appsecret_proof)",
        section="Facebook",
    ),
    Setting(
        name="FACEBOOK_GRAPH_VERSION",
        default="v25.0",
        parse=parse_graph_version,
        help="Graph API version to call; facebook-sdk's own default (v2.8) is long gone",
        section="Facebook",
    ),
    Setting(
        name="FACEBOOK_GRAPH_BASE_URL",
        default="",
        parse=parse_url,
        help="Send Graph calls here instead of https://graph.facebook.com (empty = real)",
        section="Facebook",
    ),
    Setting(
        name="FACEBOOK_WWW_BASE_URL",
        default="",
        parse=parse_url,
        help="Send Facebook Login dialogs here instead of https://www.facebook.com",
        section="Facebook",
    ),
    Setting(
        name="BLUESKY_OAUTH_KEY",
        default="",
        parse=parse_secret,
        help="Private key (a JWK) that signs Clarion's Bluesky OAuth client assertions, so "
        "supporters' sign-ins last until the release; make one with `python -m "
        "bot.platforms.bluesky.oauth new-key`. Empty = a public client (sessions end after "
        "two weeks)",
        section="Bluesky",
    ),
    Setting(
        name="SANDBOX",
        default="auto",
        parse=parse_choice("auto", "on", "off"),
        help="Use the built-in sandbox instead of the real networks: auto = when no real "
        "credentials are set",
        section="Sandbox",
    ),
    Setting(
        name="SANDBOX_URL",
        default="",
        parse=parse_url,
        help="An already running sandbox to use (for every base URL above left empty, and "
        "standing in for every Mastodon server and Bluesky host); empty = the daemon starts "
        "its own on SANDBOX_PORT",
        section="Sandbox",
    ),
    Setting(
        name="SANDBOX_ADMIN_TOKEN",
        default="",
        parse=parse_secret,
        help="A token the sandbox's admin API (/_sandbox/) then requires of every call; "
        "Clarion sends it. Set the same value for a separate `python main.py sandbox` "
        "(--admin-token). Empty = no token (cross-site browser requests are refused anyway)",
        section="Sandbox",
    ),
    Setting(
        name="SANDBOX_PORT",
        default="8700",
        parse=parse_port,
        help="Port of the embedded sandbox",
        section="Sandbox",
    ),
    Setting(
        name="SANDBOX_STATE_FILE",
        default="sandbox-state.db",
        parse=parse_text,
        help="Where the embedded sandbox keeps its accounts and posts between runs (SQLite)",
        section="Sandbox",
    ),
    Setting(
        name="SANDBOX_TIME_ACCELERATION",
        default="1000",
        parse=parse_float_at_least(1.0),
        help="Sandbox seconds per real second for the built-in sandbox: 1000 runs a week of "
        "engagement in about 10 minutes (snapshots 1h, 24h, 7d come 3.6 s, 86 s, 10 min after "
        "a post). Posting times never change; ignored (1) on the real networks",
        section="Sandbox",
    ),
    Setting(
        name="WEB_PORT",
        default="8080",
        parse=parse_port,
        help="Port of the campaign pages (served by `run` and by `web`)",
        section="Pledge campaigns",
    ),
    Setting(
        name="WEB_HOST",
        default="127.0.0.1",
        parse=parse_host,
        help="Interface the campaign pages listen on; put a TLS proxy in front for the public",
        section="Pledge campaigns",
    ),
    Setting(
        name="WEB_BASE_URL",
        default="",
        parse=parse_url,
        help="The public address of the campaign pages, used in links, OAuth callbacks and "
        "share cards. Empty = http://WEB_HOST:WEB_PORT, following them (127.0.0.1 when "
        "WEB_HOST is every interface); set it to the address behind your TLS proxy, e.g. "
        "https://campaigns.example.org",
        section="Pledge campaigns",
    ),
    Setting(
        name="WEB_SECRET_KEY",
        default="",
        parse=parse_secret,
        help="Signs session cookies, CSRF tokens and withdraw links; `python main.py init` "
        "generates one",
        section="Pledge campaigns",
    ),
    Setting(
        name="RELEASE_WINDOW_MINUTES",
        default="10",
        parse=parse_int_at_least(0),
        help="Default spread of a pledge release: posts go out over this many minutes, with "
        "jitter (0 = all at once)",
        section="Pledge campaigns",
    ),
    Setting(
        name="READINESS_HOURS",
        default="24",
        parse=parse_float_at_least(0.0),
        help="How long before a release every pledged token is checked",
        section="Pledge campaigns",
    ),
    Setting(
        name="IDENTICAL_TEXT_WARN_ACCOUNTS",
        default="10",
        parse=parse_int_at_least(1),
        help="Warn when more accounts than this would post identical text (X forbids automated "
        "identical posts across accounts)",
        section="Pledge campaigns",
    ),
    Setting(
        name="X_APP_DAILY_POST_LIMIT",
        default="10000",
        parse=parse_int_at_least(1),
        help="X's per-app limit on posts per 24 hours, checked before a release (and counted "
        "at send time by scaled-out workers, per UTC day)",
        section="Pledge campaigns",
    ),
    Setting(
        name="BLUESKY_REQUESTS_PER_5_MINUTES",
        default="3000",
        parse=parse_int_at_least(0),
        help="Requests per 5 minutes one address may make to Bluesky-hosted servers; a release "
        "spreads its Bluesky posts to stay under it (0 = no such limit: supporters' own servers)",
        section="Pledge campaigns",
    ),
    Setting(
        name="MASTODON_REQUESTS_PER_5_MINUTES",
        default="300",
        parse=parse_int_at_least(0),
        help="Requests per 5 minutes one address may make to one Mastodon server; a release "
        "spreads each server's posts to stay under it (0 = no such limit)",
        section="Pledge campaigns",
    ),
    Setting(
        name="X_POST_COST_USD",
        default="0.015",
        parse=parse_float_at_least(0.0),
        help="X pay-per-use price of one post",
        section="Pledge campaigns",
    ),
    Setting(
        name="X_POST_WITH_URL_COST_USD",
        default="0.20",
        parse=parse_float_at_least(0.0),
        help="X pay-per-use price of one post that contains a URL",
        section="Pledge campaigns",
    ),
    Setting(
        name="PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT",
        default="true",
        parse=parse_yes_no,
        help="Keep a supporter's token after the release only to read their post's engagement, "
        "until its last ENGAGEMENT_OFFSETS snapshot plus a day, then delete it (false = "
        "delete at the release's end: Facebook pledge posts then get no figures)",
        section="Pledge campaigns",
    ),
    Setting(
        name="CONSOLE_ENABLED",
        default="true",
        parse=parse_yes_no,
        help="Serve the volunteer console at WEB_BASE_URL/console/ beside the campaign pages "
        "(false = not served at all)",
        section="Console",
    ),
    Setting(
        name="CONSOLE_IDLE_MINUTES",
        default="30",
        parse=parse_int_at_least(1),
        help="A console sign-in ends after this many minutes without a page being opened",
        section="Console",
    ),
    Setting(
        name="CONSOLE_SESSION_HOURS",
        default="12",
        parse=parse_int_at_least(1),
        help="A console sign-in ends this many hours after it started, however busy",
        section="Console",
    ),
    Setting(
        name="CONSOLE_INVITE_HOURS",
        default="72",
        parse=parse_int_at_least(1),
        help="How long an invite or password-reset link works",
        section="Console",
    ),
    Setting(
        name="CONSOLE_LOCK_FAILURES",
        default="5",
        parse=parse_int_at_least(1),
        help="Wrong passwords in a row that lock a console account for CONSOLE_LOCK_MINUTES",
        section="Console",
    ),
    Setting(
        name="CONSOLE_LOCK_MINUTES",
        default="15",
        parse=parse_int_at_least(1),
        help="How long a console account stays locked after too many wrong passwords",
        section="Console",
    ),
    Setting(
        name="CONSOLE_ADDRESS_ATTEMPTS",
        default="20",
        parse=parse_int_at_least(1),
        help="Wrong sign-in attempts allowed from one address (IPv4, or IPv6 /64) per 15 minutes",
        section="Console",
    ),
    Setting(
        name="SMTP_HOST",
        default="",
        parse=parse_host,
        help="Mail server for supporters' reminder and reconnect emails (empty = no email)",
        section="Email",
    ),
    Setting(
        name="SMTP_PORT",
        default="587",
        parse=parse_port,
        help="Mail server port",
        section="Email",
    ),
    Setting(
        name="SMTP_USERNAME",
        default="",
        parse=parse_text,
        help="Mail server login (empty = none)",
        section="Email",
    ),
    Setting(
        name="SMTP_PASSWORD",
        default="",
        parse=parse_secret,
        help="Mail server password",
        section="Email",
    ),
    Setting(
        name="SMTP_STARTTLS",
        default="on",
        parse=parse_choice("on", "off"),
        help="Use STARTTLS",
        section="Email",
    ),
    Setting(
        name="MAIL_FROM",
        default="clarion@localhost",
        parse=parse_sender,
        help="Sender address of supporters' emails",
        section="Email",
    ),
    Setting(
        name="ENGAGEMENT_OFFSETS",
        default="1h,24h,7d,29d",
        parse=parse_offsets,
        help="When to record each sent post's engagement, after it went out; the last stays "
        "inside X's 30-day window for impressions and link clicks",
        section="Engagement",
    ),
    Setting(
        name="ENGAGEMENT_POLL_SECONDS",
        default="300",
        parse=parse_float_at_least(1.0),
        help="How often the daemon looks for snapshots that are due",
        section="Engagement",
    ),
    Setting(
        name="ENGAGEMENT_CONCURRENCY",
        default="8",
        parse=parse_int_at_least(1),
        help="How many metric reads run at the same time",
        section="Engagement",
    ),
    Setting(
        name="X_READ_COST_USD",
        default="0.005",
        parse=parse_float_at_least(0.0),
        help="X pay-per-use price of reading one post; X charges it once per post per UTC day",
        section="Engagement",
    ),
    Setting(
        name="TOKEN_ENCRYPTION_KEYS",
        default="",
        parse=parse_secret,
        help="Fernet keys that encrypt stored account tokens, newest first, comma-separated. "
        "`python main.py init` generates one; `keys rotate` adds a new one",
        section="Security",
    ),
    Setting(
        name="ALERTS_CHECK_SECONDS",
        default="10",
        parse=parse_float_at_least(1.0),
        help="How often the alert watcher reads the database for failed or missed posts, accounts "
        "to reconnect, finished releases and a stopped daemon (it never slows posting)",
        section="Alerts",
    ),
    Setting(
        name="ALERTS_GROUP_QUIET_SECONDS",
        default="20",
        parse=parse_float_at_least(0.0),
        help="Alerts of one kind for one campaign are grouped into one message, sent once no new "
        "one has come for this long",
        section="Alerts",
    ),
    Setting(
        name="ALERTS_GROUP_MAX_SECONDS",
        default="40",
        parse=parse_float_at_least(0.0),
        help="…or once the group's first alert is this old, whichever comes first",
        section="Alerts",
    ),
    Setting(
        name="ALERTS_DAEMON_STALE_SECONDS",
        default="120",
        parse=parse_float_at_least(10.0),
        help="Alert that the daemon has stopped when its last heartbeat is older than this",
        section="Alerts",
    ),
    Setting(
        name="ALERTS_APPROVAL_LEAD_MINUTES",
        default="60",
        parse=parse_int_at_least(1),
        help="Alert when a post still awaiting approval is due within this many minutes",
        section="Alerts",
    ),
    Setting(
        name="LOG_LEVEL",
        default="INFO",
        parse=parse_choice("debug", "info", "warning", "error"),
        help="How much the daemon logs",
        section="Logging",
    ),
    Setting(
        name="LOG_FORMAT",
        default="text",
        parse=parse_choice("text", "json"),
        help="text: one readable line a record; json: one JSON object a line (time, level, "
        "logger, message, and delivery_id, post_id, campaign_id where known) for journald, "
        "Docker or a log shipper",
        section="Logging",
    ),
    Setting(
        name="METRICS_BIND",
        default="",
        parse=parse_bind,
        help="Where /healthz, /readyz and /metrics (Prometheus) are served. Empty: on the "
        "campaign pages' server, beside the pages; HOST:PORT (e.g. 127.0.0.1:9464): on a "
        "separate small server there, and not on the public one. A scaled-out scheduler "
        "or worker (run --role) serves them only here, one HOST:PORT per process",
        section="Monitoring",
    ),
)
