"""Settings of one sandbox run, declared once as data (with help text for the CLI).

Defaults follow the limits X documents (see /work/shared/contracts/README.md, "Limits
(2026 docs)"): POST /2/tweets 100 per 15 min per user and 10,000 per 24 h per app;
GET /2/tweets 5,000 per 15 min per user and 3,500 per 15 min per app.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

PLATFORMS = ("x", "facebook", "bluesky", "mastodon")
# The header that carries the admin token, when the sandbox has one (bot/sandbox/admin_guard.py).
ADMIN_TOKEN_HEADER = "X-Sandbox-Admin-Token"  # noqa: S105 - a header name, not a token
LATENCY_DISTRIBUTIONS = ("fixed", "exponential", "normal")


@dataclass
class FaultConfig:
    """Latency and failure rates for one platform. Rates are probabilities 0..1 per request."""

    latency_ms: float = 0.0
    latency_distribution: str = "fixed"  # fixed | exponential | normal (mean latency_ms)
    error_rate: float = 0.0  # answer 503 with the platform's 5xx body
    timeout_rate: float = 0.0  # hold the connection timeout_hold_s, then drop it unanswered
    reset_rate: float = 0.0  # reset the TCP connection (RST) without an answer
    accept_then_drop_rate: float = 0.0  # run the request (the post IS created), drop the answer
    # run the request (the post IS created), then answer 5xx as an overloaded gateway can
    accept_then_error_rate: float = 0.0
    timeout_hold_s: float = 30.0

    def validate(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if self.latency_distribution not in LATENCY_DISTRIBUTIONS:
            raise ValueError(f"latency_distribution must be one of {LATENCY_DISTRIBUTIONS}")
        for name in (
            "error_rate",
            "timeout_rate",
            "reset_rate",
            "accept_then_drop_rate",
            "accept_then_error_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.timeout_hold_s < 0:
            raise ValueError("timeout_hold_s must be >= 0")

    def update(self, **changes: object) -> None:
        """Apply run-time changes from the admin API; unknown names are an error."""
        known = {f.name: f.type for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault setting {name!r}")
            if name == "latency_distribution":
                setattr(self, name, str(value))
            else:
                setattr(self, name, float(value))  # type: ignore[arg-type]
        self.validate()

    @property
    def active(self) -> bool:
        return bool(
            self.latency_ms
            or self.error_rate
            or self.timeout_rate
            or self.reset_rate
            or self.accept_then_drop_rate
            or self.accept_then_error_rate
        )


@dataclass
class RateLimits:
    """X rate limits: (requests, window seconds). Windows reset in wall time, as on X."""

    x_posts_per_user: int = 100
    x_posts_user_window_s: int = 15 * 60
    x_posts_per_app: int = 10_000
    x_posts_app_window_s: int = 24 * 3600
    x_deletes_per_user: int = 50  # recorded: x-rate-limit-limit 50 on DELETE /2/tweets/:id
    x_reads_per_user: int = 5_000
    x_reads_per_app: int = 3_500
    x_reads_window_s: int = 15 * 60
    x_me_per_user: int = 75  # recorded on GET /2/users/me
    x_timeline_per_user: int = 900
    x_timeline_per_app: int = 1_500  # recorded on GET /2/users/:id/tweets
    # Monthly product cap on posts created by the whole app; None = no cap. When reached,
    # X answers 429 with the usage-capped problem type.
    x_monthly_post_cap: int | None = None

    def update(self, **changes: object) -> None:
        known = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown rate-limit setting {name!r}")
            if value is None:
                if name != "x_monthly_post_cap":
                    raise ValueError(f"{name} cannot be empty")
                setattr(self, name, None)
                continue
            number = int(value)  # type: ignore[call-overload]
            if number < 0:
                raise ValueError(f"{name} must be >= 0")
            setattr(self, name, number)


@dataclass
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 8700
    state_file: str | None = None  # SQLite file; None keeps everything in memory
    seed: int = 1
    # Engagement seconds per real second; protocol time stays real (bot/sandbox/clock.py).
    time_acceleration: float = 1.0
    # Shorthand applied to every platform whose own FaultConfig has no latency.
    latency_ms: float = 0.0
    latency_distribution: str = "fixed"
    faults: dict[str, FaultConfig] = field(
        default_factory=lambda: {p: FaultConfig() for p in PLATFORMS}
    )
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # X rejects the same text from the same account as a duplicate. X does not publish the
    # window; 24 h is a conservative choice for rehearsals.
    duplicate_window_s: float = 24 * 3600
    consumer_key: str = "clarion-sandbox-consumer-key"
    consumer_secret: str = field(default="clarion-sandbox-consumer-secret", repr=False)
    bearer_token: str = field(default="clarion-sandbox-bearer-token", repr=False)
    fb_app_id: str = "100000000000001"
    fb_app_secret: str = field(default="clarion-sandbox-fb-app-secret", repr=False)
    # The app's "Require App Secret" setting: Graph calls without appsecret_proof fail.
    fb_require_appsecret_proof: bool = False
    log_level: str = "warning"
    # When set, every /_sandbox/ admin call must carry it in ADMIN_TOKEN_HEADER.
    admin_token: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        for platform in PLATFORMS:
            self.faults.setdefault(platform, FaultConfig())
        if self.time_acceleration <= 0:
            raise ValueError("time_acceleration must be > 0")
        if self.latency_distribution not in LATENCY_DISTRIBUTIONS:
            raise ValueError(f"latency_distribution must be one of {LATENCY_DISTRIBUTIONS}")

    def effective_faults(self, platform: str) -> FaultConfig:
        """A fresh copy of the platform's faults with the shorthand latency applied."""
        own = self.faults[platform]
        copy = FaultConfig(**{f.name: getattr(own, f.name) for f in fields(own)})
        if not copy.latency_ms and self.latency_ms:
            copy.latency_ms = self.latency_ms
            copy.latency_distribution = self.latency_distribution
        copy.validate()
        return copy


def admin_headers(token: str) -> dict[str, str]:
    """Headers for a call to the sandbox's admin API with ``token`` (none when empty)."""
    return {ADMIN_TOKEN_HEADER: token} if token else {}
