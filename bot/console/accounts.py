"""The campaign's own accounts: status and last check for everyone; connect, reconnect,
check and disconnect for admins.

GET  /console/accounts                       the list (viewer)
POST /console/accounts/{id}/check            ask the platform about the token (admin)
GET  /console/accounts/{id}/disconnect       confirm; POST forgets the token (admin)
POST /console/accounts/x/connect             X's three-legged OAuth 1.0a (admin) ...
GET  /console/accounts/x/callback            ... X sends the browser back here
POST /console/accounts/facebook/connect      Facebook Login (admin) ...
GET  /console/accounts/facebook/callback     ... Facebook sends the browser back here
GET  /console/accounts/facebook/pages        pick the Page; POST connects it (admin)
POST /console/accounts/bluesky/connect       handle and app password, signed in at once (admin)
POST /console/accounts/mastodon/connect      the server's OAuth 2 (admin) ...
GET  /console/accounts/mastodon/callback     ... the Mastodon server sends the browser back here

The sign-ins are the campaign pages' own (bot.web.pledge_x, bot.web.pledge_facebook,
bot.web.signins), with the console's callbacks: register
``{WEB_BASE_URL}/console/accounts/x/callback`` with the X app and
``{WEB_BASE_URL}/console/accounts/facebook/callback`` as a valid OAuth redirect URI of
the Facebook app. Mastodon needs nothing registered by hand: Clarion registers its app on
each server the first time with the console's callback (bot.campaigns.mastodon_signin, as
the CLI and the pledge pages do). Bluesky's campaign accounts sign in with an app password
(https://bsky.app/settings/app-passwords), used once to make a session and never kept,
as ``accounts connect bluesky`` does. A connect form answers with a page that goes on to
the platform: the console's CSP allows forms to post only to itself (form-action 'self'),
and browsers apply that to a form's redirects too.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.campaigns import mastodon_signin
from bot.campaigns.account_admin import (
    AccountProblem,
    CheckOutcome,
    Disconnected,
    campaign_account,
    campaign_accounts,
    check_account,
    connect_account,
    disconnect_account,
    waiting_deliveries,
)
from bot.console.pages import (
    Form,
    NavItem,
    base_url_of,
    flash,
    now_of,
    read_form,
    render,
    runtime_of,
    see_other,
    user_of,
)
from bot.console.roles import Role
from bot.console.routing import route
from bot.platforms import PLATFORM_LABELS
from bot.platforms.base import (
    AccountInfo,
    AuthError,
    Credentials,
    PermanentError,
    PlatformError,
)
from bot.platforms.bluesky import BlueskyPlatform
from bot.platforms.mastodon import instance_url
from bot.pledges import oauth_requests
from bot.storage.ids import row_id
from bot.storage.models import AccountStatus
from bot.web import signins
from bot.web.pledge_facebook import SCOPES, facebook_of, pages_offered
from bot.web.pledge_mastodon import mastodon_of
from bot.web.pledge_x import x_web_signin
from bot.web.security import Refused

logger = logging.getLogger(__name__)

X_KEY = "console_x_oauth"
FB_STATE_KEY = "console_fb_state"
FB_PICK_KEY = "console_fb_pick"
RECONNECT_KEY = "console_reconnect"
MD_STATE_KEY = "console_md_state"
MASTODON = "mastodon"
PAGES_PROVIDER = "facebook_pages"
HERE = "/console/accounts"

STATUS_WORDS: dict[str, str] = {
    AccountStatus.ACTIVE: "working",
    AccountStatus.NEEDS_RECONNECT: "needs reconnecting",
    AccountStatus.DISABLED: "disconnected",
}
CHECK_WORDS = {
    CheckOutcome.WORKS: "The token works",
    CheckOutcome.NEEDS_RECONNECT: "The platform refused the token: reconnect the account",
    CheckOutcome.NOT_ANSWERING: "The platform did not answer; nothing was changed, try again",
    CheckOutcome.NOT_CONNECTED: "This account is not connected",
}


def _account_id(request: Request) -> int:
    number = row_id(request.path_params["account_id"])
    if number is None:
        raise Refused(404, "No such account", "Go back to Accounts and pick one from the list.")
    return number


def _problem(exc: AccountProblem) -> Refused:
    return Refused(409, "Nothing was changed", str(exc)[:1].upper() + str(exc)[1:] + ".")


def _not_reachable(platform: str, exc: PlatformError) -> Refused:
    logger.warning("%s sign-in for the console failed: %s", platform, exc.message)
    return Refused(
        503,
        f"{platform} is not answering right now",
        "Nothing was connected. Go back to Accounts and try again in a few minutes.",
    )


def _app_keys_or_refuse(request: Request, platform: str) -> None:
    """Connecting signs in through the app's own keys: say which settings are missing
    rather than fail at the platform."""
    s = runtime_of(request).settings
    if platform == "x" and not (s.x_consumer_key and s.x_consumer_secret):
        missing, where = "X_CONSUMER_KEY and X_CONSUMER_SECRET", "X developer portal"
    elif platform == "facebook" and not (s.facebook_app_id and s.facebook_app_secret):
        missing, where = "FACEBOOK_APP_ID and FACEBOOK_APP_SECRET", "Meta app dashboard"
    else:
        return
    raise Refused(
        409,
        "Clarion's app keys are not set",
        f"Connecting an account needs {missing} in config.env (from the {where}); "
        "an operator sets them and restarts Clarion. Nothing was connected.",
    )


def _rows(request: Request) -> list[dict[str, Any]]:
    with runtime_of(request).sessions() as session:
        return [
            {
                "id": a.id,
                "platform": PLATFORM_LABELS.get(a.platform, a.platform),
                "platform_key": a.platform,
                "handle": a.handle,
                "name": a.name,
                "default": a.is_default,
                "status": a.status,
                "status_words": STATUS_WORDS.get(a.status, a.status),
                "reason": a.status_reason,
                "last_checked_at": a.last_checked_at,
                "followers": a.followers,
                "source": a.source,
                "connected": bool(a.credentials),
            }
            for a in campaign_accounts(session)
        ]


def _blank_form() -> dict[str, str]:
    return {"handle": "", "server": "", "account": "", "error": ""}


async def _page(
    request: Request,
    *,
    bluesky: dict[str, str] | None = None,
    mastodon: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The Accounts page; ``bluesky`` / ``mastodon``: a connect form sent back with what was
    typed (never the app password) and the error to show beside its field."""
    rows = await run_in_threadpool(_rows, request)
    settings = runtime_of(request).settings
    return render(
        request,
        "accounts.html",
        {
            "accounts": rows,
            "zone": settings.timezone,
            "admin": user_of(request).role.allows(Role.ADMIN),
            "callbacks": {
                "x": f"{base_url_of(request)}{HERE}/x/callback",
                "facebook": f"{base_url_of(request)}{HERE}/facebook/callback",
            },
            "bluesky": bluesky or _blank_form(),
            "mastodon": mastodon or _blank_form(),
        },
        status=status,
    )


async def accounts_page(request: Request) -> Response:
    return await _page(request)


async def check(request: Request) -> Response:
    await read_form(request)
    account_id = _account_id(request)
    user = user_of(request)
    runtime = runtime_of(request)
    try:
        result = await run_in_threadpool(
            check_account, runtime, account_id, actor=user.email, now=now_of(request)
        )
    except AccountProblem as exc:
        raise _problem(exc) from None
    flash(request, f"{CHECK_WORDS[result.outcome]}.")
    return see_other(HERE)


def _one(request: Request, account_id: int) -> dict[str, Any]:
    with runtime_of(request).sessions() as session:
        try:
            account = campaign_account(session, account_id)
        except AccountProblem as exc:
            raise _problem(exc) from None
        return {
            "id": account.id,
            "platform": account.platform,
            "handle": account.handle,
            "waiting": waiting_deliveries(session, account.id),
        }


async def disconnect_confirm(request: Request) -> Response:
    account = await run_in_threadpool(_one, request, _account_id(request))
    return render(request, "accounts_disconnect.html", {"account": account})


async def disconnect(request: Request) -> Response:
    await read_form(request)
    account_id = _account_id(request)
    user = user_of(request)

    def run() -> Disconnected:
        with runtime_of(request).sessions() as session:
            try:
                done = disconnect_account(session, account_id, actor=user.email)
            except AccountProblem as exc:
                raise _problem(exc) from None
            session.commit()
            return done

    done = await run_in_threadpool(run)
    cancelled = f"; {done.cancelled} waiting posts to it were cancelled" if done.cancelled else ""
    flash(request, f"Disconnected @{done.handle}: its token is deleted{cancelled}.")
    return see_other(HERE)


async def _reconnecting(request: Request, form: Form | None = None) -> int | None:
    """The account a Reconnect button named (checked to exist), or None for Connect."""
    form = form or await read_form(request)
    raw = form["account"]
    if not raw:
        request.session.pop(RECONNECT_KEY, None)
        return None
    number = row_id(raw)
    if number is None:
        raise Refused(400, "No such account", "Go back to Accounts and pick one from the list.")
    await run_in_threadpool(_one, request, number)
    request.session[RECONNECT_KEY] = number
    return number


def _onwards(request: Request, platform: str, url: str) -> Response:
    return render(request, "accounts_onwards.html", {"platform": platform, "url": url})


async def x_connect(request: Request) -> Response:
    await _reconnecting(request)
    _app_keys_or_refuse(request, "x")
    runtime, now = runtime_of(request), now_of(request)
    callback = f"{base_url_of(request)}{HERE}/x/callback"

    def begin() -> tuple[str, str]:
        try:
            url, token, secret = x_web_signin(runtime).start(callback)
        except PlatformError as exc:
            raise _not_reachable("X", exc) from None
        with runtime.sessions() as session:
            oauth_requests.remember(
                session,
                runtime.vault,
                provider="x",
                key=token,
                secret=secret,
                pledge_campaign_id=None,
                now=now,
            )
        return url, token

    url, token = await run_in_threadpool(begin)
    request.session[X_KEY] = token
    return _onwards(request, "X", url)


def _connect(
    request: Request,
    platform: str,
    creds: Credentials,
    who: AccountInfo,
    *,
    max_length: int | None = None,
) -> tuple[str, bool]:
    """Store the account (with the server's post limit, ``max_length``, for Mastodon);
    (handle, reconnected)."""
    user = user_of(request)
    reconnecting = request.session.get(RECONNECT_KEY)
    account_id = reconnecting if isinstance(reconnecting, int) else None
    with runtime_of(request).sessions() as session:
        try:
            account = connect_account(
                session,
                runtime_of(request),
                platform,
                creds,
                who,
                actor=user.email,
                now=now_of(request),
                reconnecting=account_id,
            )
        except AccountProblem as exc:
            raise _problem(exc) from None
        if max_length is not None:
            account.max_length = max_length
        session.commit()
        return account.handle, account_id is not None


async def x_callback(request: Request) -> Response:
    runtime, now = runtime_of(request), now_of(request)
    query = request.query_params
    if "denied" in query:
        denied = query["denied"]
        if signins.in_this_browser(request, X_KEY, denied):

            def forget() -> None:
                with runtime.sessions() as session:
                    oauth_requests.claim(
                        session,
                        runtime.vault,
                        provider="x",
                        key=denied,
                        pledge_campaign_id=None,
                        now=now,
                    )

            await run_in_threadpool(forget)
        request.session.pop(X_KEY, None)
        flash(request, "You cancelled on X: nothing was connected.")
        return see_other(HERE)
    token, verifier = query.get("oauth_token", ""), query.get("oauth_verifier", "")
    if not token or not verifier or not signins.in_this_browser(request, X_KEY, token):
        raise Refused(
            400,
            "This sign-in link is not valid",
            "It did not come from a sign-in started in this browser. Nothing was connected; "
            "go back to Accounts and press Connect again.",
        )

    def finish() -> tuple[str, bool]:
        with runtime.sessions() as session:
            secret = oauth_requests.claim(
                session, runtime.vault, provider="x", key=token, pledge_campaign_id=None, now=now
            )
        if secret is None:
            raise Refused(
                400,
                "This sign-in link was already used",
                "Each sign-in works once. Go back to Accounts and press Connect again.",
            )
        # No database session is held across X's two calls.
        try:
            access, access_secret, who = x_web_signin(runtime).finish(token, secret, verifier)
        except AuthError:
            raise Refused(
                400,
                "X did not confirm this sign-in",
                "Nothing was connected. Go back to Accounts and try again.",
            ) from None
        except PlatformError as exc:
            raise _not_reachable("X", exc) from None
        creds = Credentials(access, access_secret, who.platform_user_id)
        return _connect(request, "x", creds, who)

    handle, reconnected = await run_in_threadpool(finish)
    request.session.pop(X_KEY, None)
    request.session.pop(RECONNECT_KEY, None)
    flash(request, f"{'Reconnected' if reconnected else 'Connected'} the X account @{handle}.")
    return see_other(HERE)


async def facebook_connect(request: Request) -> Response:
    await _reconnecting(request)
    _app_keys_or_refuse(request, "facebook")
    runtime, now = runtime_of(request), now_of(request)
    state = secrets.token_urlsafe(32)
    redirect_uri = f"{base_url_of(request)}{HERE}/facebook/callback"

    def begin() -> str:
        with runtime.sessions() as session:
            oauth_requests.remember(
                session,
                runtime.vault,
                provider="facebook",
                key=state,
                secret="",
                pledge_campaign_id=None,
                now=now,
            )
        app_id = runtime.settings.facebook_app_id
        return facebook_of(runtime).login_url(app_id, redirect_uri, state, SCOPES)

    url = await run_in_threadpool(begin)
    request.session[FB_STATE_KEY] = state
    return _onwards(request, "Facebook", url)


async def facebook_callback(request: Request) -> Response:
    runtime, now = runtime_of(request), now_of(request)
    query = request.query_params
    state = query.get("state", "")
    if not signins.in_this_browser(request, FB_STATE_KEY, state):
        raise Refused(
            400,
            "This sign-in link is not valid",
            "It did not come from a sign-in started in this browser. Nothing was connected; "
            "go back to Accounts and press Connect again.",
        )
    request.session.pop(FB_STATE_KEY, None)
    code, cancelled = query.get("code", ""), "error" in query
    redirect_uri = f"{base_url_of(request)}{HERE}/facebook/callback"

    def finish() -> str:
        with runtime.sessions() as session:
            used = oauth_requests.claim(
                session,
                runtime.vault,
                provider="facebook",
                key=state,
                pledge_campaign_id=None,
                now=now,
            )
        if used is None:
            raise Refused(
                400,
                "This sign-in link was already used",
                "Each sign-in works once. Go back to Accounts and press Connect again.",
            )
        if cancelled:
            return ""
        if not code:
            raise Refused(400, "This sign-in link is not valid", "Facebook sent no code.")
        try:
            offered = pages_offered(runtime, redirect_uri, code)
        except AuthError:
            raise Refused(
                400,
                "Facebook did not confirm this sign-in",
                "Nothing was connected. Go back to Accounts and try again.",
            ) from None
        except PlatformError as exc:
            raise _not_reachable("Facebook", exc) from None
        pick = secrets.token_urlsafe(32)
        # The Page tokens stay on the server, sealed, until a Page is picked; the pick
        # (oauth_requests.claim) blanks them, and unpicked ones go after oauth_requests.MAX_AGE.
        with runtime.sessions() as session:
            oauth_requests.remember(
                session,
                runtime.vault,
                provider=PAGES_PROVIDER,
                key=pick,
                secret=json.dumps(offered),
                pledge_campaign_id=None,
                now=now,
            )
        return pick

    pick = await run_in_threadpool(finish)
    if cancelled:
        request.session.pop(RECONNECT_KEY, None)
        flash(request, "You cancelled on Facebook: nothing was connected.")
        return see_other(HERE)
    request.session[FB_PICK_KEY] = pick
    return see_other(f"{HERE}/facebook/pages")


def _offered(request: Request, *, use: bool) -> list[dict[str, Any]]:
    runtime, now = runtime_of(request), now_of(request)
    key = request.session.get(FB_PICK_KEY)
    raw = None
    if isinstance(key, str):
        fetch = oauth_requests.claim if use else oauth_requests.peek
        with runtime.sessions() as session:
            raw = fetch(
                session,
                runtime.vault,
                provider=PAGES_PROVIDER,
                key=key,
                pledge_campaign_id=None,
                now=now,
            )
    if raw is None:
        raise Refused(
            400,
            "This choice has expired or was already made",
            "Go back to Accounts and press Connect a Facebook Page again.",
        )
    pages: list[dict[str, Any]] = json.loads(raw)
    return pages


def _shown(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Never the Page tokens: only what the picker shows.
    return [{k: p[k] for k in ("id", "name", "followers", "usable")} for p in pages]


async def facebook_pages(request: Request) -> Response:
    pages = await run_in_threadpool(_offered, request, use=False)
    return render(request, "accounts_pages.html", {"pages": _shown(pages), "error": ""})


async def facebook_pick(request: Request) -> Response:
    form = await read_form(request)
    chosen = form["page"]
    if not chosen:
        pages = await run_in_threadpool(_offered, request, use=False)
        return render(
            request,
            "accounts_pages.html",
            {"pages": _shown(pages), "error": "Choose the Page Clarion should post as."},
            status=400,
        )

    def run() -> tuple[str, bool]:
        pages = _offered(request, use=True)
        page = next((p for p in pages if p["id"] == chosen and p["usable"]), None)
        if page is None:
            raise Refused(
                400,
                "That Page cannot be connected",
                "You need to be able to create content on it. Go back to Accounts and "
                "connect again.",
            )
        creds = Credentials(token=page["token"], platform_user_id=page["id"])
        who = AccountInfo(page["id"], page["name"], page["name"], page["followers"])
        return _connect(request, "facebook", creds, who)

    name, reconnected = await run_in_threadpool(run)
    request.session.pop(FB_PICK_KEY, None)
    request.session.pop(RECONNECT_KEY, None)
    flash(request, f"{'Reconnected' if reconnected else 'Connected'} the Facebook Page {name}.")
    return see_other(HERE)


def _account_handle(request: Request, account_id: int | None) -> str:
    if account_id is None:
        return ""
    handle: str = _one(request, account_id)["handle"]
    return handle


async def bluesky_connect(request: Request) -> Response:
    form = await read_form(request)
    reconnecting = await _reconnecting(request, form)
    handle = form["handle"].strip().lstrip("@")
    password = form["app_password"].strip()
    shown = {**_blank_form(), "handle": handle, "account": form["account"]}
    if reconnecting is not None and not handle:
        shown["handle"] = await run_in_threadpool(_account_handle, request, reconnecting)
        shown["error"] = f"Type an app password for @{shown['handle']} to reconnect it."
        return await _page(request, bluesky=shown, status=200)
    if not handle or not password:
        shown["error"] = "Type the account's handle and an app password made for Clarion."
        return await _page(request, bluesky=shown, status=400)
    platform = runtime_of(request).platform("bluesky")
    assert isinstance(platform, BlueskyPlatform)  # noqa: S101 - the registry's adapter

    def run() -> tuple[str, bool]:
        # The app password makes one session here and is forgotten with this frame: only
        # the session's tokens are stored, sealed, and refreshed by the adapter.
        creds = platform.sign_in(handle, password)
        who = platform.verify(creds)
        return _connect(request, "bluesky", creds, who)

    try:
        done, reconnected = await run_in_threadpool(run)
    except (AuthError, PermanentError) as exc:
        logger.info("Bluesky refused the console sign-in of %s: %s", handle, exc.message)
        shown["error"] = (
            f"Bluesky refused the sign-in: {exc.message}. Check the handle, and make a new "
            "app password if this one was revoked."
        )
        return await _page(request, bluesky=shown, status=400)
    except PlatformError as exc:
        raise _not_reachable("Bluesky", exc) from None
    request.session.pop(RECONNECT_KEY, None)
    flash(request, f"{'Reconnected' if reconnected else 'Connected'} the Bluesky account @{done}.")
    return see_other(HERE)


def _server_of(request: Request, account_id: int) -> str:
    """The Mastodon server a stored account lives on (for Reconnect)."""
    with runtime_of(request).sessions() as session:
        try:
            account = campaign_account(session, account_id)
        except AccountProblem as exc:
            raise _problem(exc) from None
        if account.platform != MASTODON or not account.credentials:
            return ""
        return runtime_of(request).vault.open(account.credentials).server


async def mastodon_connect(request: Request) -> Response:
    form = await read_form(request)
    reconnecting = await _reconnecting(request, form)
    typed = form["server"]
    if not typed.strip() and reconnecting is not None:
        typed = await run_in_threadpool(_server_of, request, reconnecting)
    shown = {**_blank_form(), "server": typed, "account": form["account"]}
    try:
        server = instance_url(typed)
    except ValueError:
        shown["error"] = (
            "That is not a Mastodon server's name: type the server the account is on, like "
            "mastodon.social (the part after the second @ of its address)."
        )
        return await _page(request, mastodon=shown, status=400)
    runtime, now = runtime_of(request), now_of(request)
    state = secrets.token_urlsafe(32)
    redirect_uri = f"{base_url_of(request)}{HERE}/mastodon/callback"

    def begin() -> str:
        with runtime.sessions() as session:
            oauth_requests.remember(
                session,
                runtime.vault,
                provider=MASTODON,
                key=state,
                secret=server,
                pledge_campaign_id=None,
                now=now,
            )
            try:
                url = mastodon_signin.authorize_url(
                    session, runtime.vault, mastodon_of(runtime), server, redirect_uri, state
                )
            except PlatformError as exc:
                raise _not_reachable(server, exc) from None
            session.commit()
            return url

    url = await run_in_threadpool(begin)
    request.session[MD_STATE_KEY] = state
    return _onwards(request, server.split("://", 1)[1], url)


async def mastodon_callback(request: Request) -> Response:
    runtime, now = runtime_of(request), now_of(request)
    query = request.query_params
    state = query.get("state", "")
    if not signins.in_this_browser(request, MD_STATE_KEY, state):
        raise Refused(
            400,
            "This sign-in link is not valid",
            "It did not come from a sign-in started in this browser. Nothing was connected; "
            "go back to Accounts and press Connect again.",
        )
    request.session.pop(MD_STATE_KEY, None)
    code, cancelled = query.get("code", ""), "error" in query
    redirect_uri = f"{base_url_of(request)}{HERE}/mastodon/callback"

    def finish() -> tuple[str, bool]:
        with runtime.sessions() as session:
            server = oauth_requests.claim(
                session,
                runtime.vault,
                provider=MASTODON,
                key=state,
                pledge_campaign_id=None,
                now=now,
            )
        if server is None:
            raise Refused(
                400,
                "This sign-in link was already used",
                "Each sign-in works once. Go back to Accounts and press Connect again.",
            )
        if cancelled:
            return "", False
        if not code or not server:
            raise Refused(400, "This sign-in link is not valid", "The server sent no code.")
        # No database session is held across the server's three calls.
        platform = mastodon_of(runtime)
        try:
            done = mastodon_signin.finish_with_app(
                runtime.sessions, runtime.vault, platform, server, redirect_uri, code
            )
        except AuthError:
            raise Refused(
                400,
                f"{server} did not confirm this sign-in",
                "Nothing was connected. Go back to Accounts and try again.",
            ) from None
        except PlatformError as exc:
            raise _not_reachable(server, exc) from None
        return _connect(request, MASTODON, done.creds, done.who, max_length=done.max_length)

    handle, reconnected = await run_in_threadpool(finish)
    request.session.pop(RECONNECT_KEY, None)
    if cancelled:
        flash(request, "You cancelled on the Mastodon server: nothing was connected.")
        return see_other(HERE)
    flash(
        request, f"{'Reconnected' if reconnected else 'Connected'} the Mastodon account @{handle}."
    )
    return see_other(HERE)


ROUTES = [
    route("/accounts", accounts_page, role=Role.VIEWER, name="accounts"),
    route(
        "/accounts/{account_id}/check",
        check,
        role=Role.ADMIN,
        methods=("POST",),
        name="accounts_check",
    ),
    route(
        "/accounts/{account_id}/disconnect",
        disconnect_confirm,
        role=Role.ADMIN,
        name="accounts_disconnect_confirm",
    ),
    route(
        "/accounts/{account_id}/disconnect",
        disconnect,
        role=Role.ADMIN,
        methods=("POST",),
        name="accounts_disconnect",
    ),
    route("/accounts/x/connect", x_connect, role=Role.ADMIN, methods=("POST",), name="accounts_x"),
    route("/accounts/x/callback", x_callback, role=Role.ADMIN, name="accounts_x_callback"),
    route(
        "/accounts/facebook/connect",
        facebook_connect,
        role=Role.ADMIN,
        methods=("POST",),
        name="accounts_facebook",
    ),
    route(
        "/accounts/facebook/callback",
        facebook_callback,
        role=Role.ADMIN,
        name="accounts_facebook_callback",
    ),
    route(
        "/accounts/facebook/pages",
        facebook_pages,
        role=Role.ADMIN,
        name="accounts_facebook_pages",
    ),
    route(
        "/accounts/facebook/pages",
        facebook_pick,
        role=Role.ADMIN,
        methods=("POST",),
        name="accounts_facebook_pick",
    ),
    route(
        "/accounts/bluesky/connect",
        bluesky_connect,
        role=Role.ADMIN,
        methods=("POST",),
        name="accounts_bluesky",
    ),
    route(
        "/accounts/mastodon/connect",
        mastodon_connect,
        role=Role.ADMIN,
        methods=("POST",),
        name="accounts_mastodon",
    ),
    route(
        "/accounts/mastodon/callback",
        mastodon_callback,
        role=Role.ADMIN,
        name="accounts_mastodon_callback",
    ),
]
NAV = [NavItem("Accounts", "/accounts", Role.VIEWER)]
