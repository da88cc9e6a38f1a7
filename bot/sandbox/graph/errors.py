"""Graph API errors, in the body format and with the messages the real API sends.

Body: ``{"error": {"message", "type", "code", "error_subcode"?, "is_transient"?,
"fbtrace_id"}}`` (https://developers.facebook.com/docs/graph-api/guides/error-handling).
The real API answers almost every error with HTTP 400, including expired tokens (190) and
the throttling codes; we do the same. Messages below are the ones seen in public issue
trackers (quoted by many SDK users); where no recording exists the comment says so.
"""

from __future__ import annotations

import secrets
from typing import Any

OAUTH = "OAuthException"
METHOD = "GraphMethodException"


class GraphError(Exception):
    """One Graph error response. Raised by state and handlers, rendered by graph_api."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        subcode: int | None = None,
        type_: str = OAUTH,
        status: int = 400,
        transient: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.type = type_
        self.status = status
        self.transient = transient
        self.headers: dict[str, str] = {}  # e.g. usage headers on a throttled call

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.transient is not None:
            error["is_transient"] = self.transient
        error["fbtrace_id"] = trace_id()
        return {"error": error}


def trace_id() -> str:
    """An opaque id like Graph's ``fbtrace_id`` (it only helps Facebook support)."""
    return "A" + secrets.token_urlsafe(16)[:22]


# --- tokens (code 190) -----------------------------------------------------------------
# Subcodes: https://developers.facebook.com/docs/facebook-login/guides/access-tokens/debugging


def no_token() -> GraphError:
    return GraphError("An active access token must be used to query information.", code=2500)


def invalid_token() -> GraphError:
    """A token the sandbox never issued (Graph cannot parse or find it)."""
    return GraphError("Invalid OAuth access token - Cannot parse access token", code=190)


def deauthorized(app_id: str) -> GraphError:
    return GraphError(
        f"Error validating access token: The user has not authorized application {app_id}.",
        code=190,
        subcode=458,
    )


def password_changed() -> GraphError:
    return GraphError(
        "Error validating access token: The session has been invalidated because the user "
        "changed their password or Facebook has changed the session for security reasons.",
        code=190,
        subcode=460,
    )


def expired(expired_at: str, now: str) -> GraphError:
    return GraphError(
        f"Error validating access token: Session has expired on {expired_at}. "
        f"The current time is {now}.",
        code=190,
        subcode=463,
    )


def logged_out() -> GraphError:
    return GraphError(
        "Error validating access token: The session is invalid because the user logged out.",
        code=190,
        subcode=467,
    )


# Reasons an operator can give when revoking a token in the sandbox, and what they become.
REVOKE_REASONS = ("deauthorized", "password_changed", "logged_out")


# --- objects, paths, parameters (code 100 and friends) -----------------------------------


def no_such_object(object_id: str, method: str) -> GraphError:
    return GraphError(
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this operation. "
        "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        code=100,
        subcode=33,
        type_=METHOD,
    )


def aliases_not_found(ids: list[str]) -> GraphError:
    """A multi-id lookup (``GET /?ids=a,b``) naming ids that do not exist (any more).

    One missing id fails the whole call. Message and code as recorded by many SDK users
    (e.g. koala, fb_graph, facepager issues); the HTTP status is not documented (old
    mocks and fb_graph's ``"not_found"`` challenge say 404).
    """
    return GraphError(
        f"(#803) Some of the aliases you requested do not exist: {','.join(ids)}",
        code=803,
        status=404,
    )


def too_many_ids(provided: int, maximum: int) -> GraphError:
    # "Max. 50 ids per request" for ?ids= since v2.2
    # (https://developers.facebook.com/docs/apps/upgrading#v21tov22); wording not recorded.
    return GraphError(f"(#100) Too many IDs. Maximum: {maximum}. Provided: {provided}.", code=100)


def no_public_content_access() -> GraphError:
    """Reading a post of a Page the token does not stand for (message as seen in the
    wild, e.g. pdir/social-feed-bundle#184, sns-sdks/python-facebook#102)."""
    return GraphError(
        "(#10) This endpoint requires the 'pages_read_engagement' permission or the "
        "'Page Public Content Access' feature. Refer to "
        "https://developers.facebook.com/docs/apps/review/login-permissions#manage-pages "
        "and https://developers.facebook.com/docs/apps/review/feature#reference-PAGES_ACCESS "
        "for details.",
        code=10,
    )


def invalid_metric() -> GraphError:
    # Retired Page Insights metrics: "the API will return an invalid metric error when
    # calling any of these metrics" (developers.facebook.com/docs/pages-api/changelog,
    # Nov 2025 and Jun 2025 deprecations).
    return bad_parameter("The value must be a valid insights metric")


def metric_required(field: str) -> GraphError:
    # Asking for ``insights`` as a field without ``.metric(...)``.
    return bad_parameter(f"For field '{field}': The parameter metric is required")


def unknown_path(path: str) -> GraphError:
    return GraphError(f"Unknown path components: {path}", code=2500)


def nonexisting_field(field: str, node_type: str) -> GraphError:
    return GraphError(
        f"(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})",
        code=100,
    )


def bad_parameter(message: str) -> GraphError:
    return GraphError(f"(#100) {message}", code=100)


def deprecated_version(latest: str) -> GraphError:
    # Recorded by many SDK users, e.g. facebook/facebook-python-business-sdk#356.
    return GraphError(
        "(#2635) You are calling a deprecated version of the Ads API. "
        f"Please update to the latest version: {latest}.",
        code=2635,
    )


def permission(message: str = "Permissions error") -> GraphError:
    return GraphError(f"(#200) {message}", code=200)


def page_post_permission() -> GraphError:
    return permission(
        "If posting to a page, requires both pages_read_engagement and pages_manage_posts "
        "as an admin with sufficient administrative permission"
    )


# --- posting rules and throttling --------------------------------------------------------


def duplicate() -> GraphError:
    return GraphError("(#506) Duplicate status message", code=506)


def blocked() -> GraphError:
    return GraphError(
        "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
        code=368,
    )


def app_limit() -> GraphError:
    return GraphError("(#4) Application request limit reached", code=4, transient=True)


def user_limit() -> GraphError:
    return GraphError("(#17) User request limit reached", code=17, transient=True)


def page_limit() -> GraphError:
    return GraphError("(#32) Page request limit reached", code=32, transient=True)


def custom_limit() -> GraphError:
    return GraphError("(#613) Calls to this api have exceeded the rate limit.", code=613)


# --- appsecret_proof (https://developers.facebook.com/docs/graph-api/securing-requests) ---
# Bodies as reported from the real API (facebook/facebook-python-business-sdk#528,
# howdyai/botkit#1455): code 100, type GraphMethodException, HTTP 400.


def invalid_appsecret_proof() -> GraphError:
    return GraphError(
        "Invalid appsecret_proof provided in the API argument", code=100, type_=METHOD
    )


def appsecret_proof_required() -> GraphError:
    # Not recorded here; the wording users quote for apps with "Require App Secret" on.
    return GraphError(
        "API calls from the server require an appsecret_proof argument", code=100, type_=METHOD
    )
