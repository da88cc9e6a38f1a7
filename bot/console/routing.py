"""Every console view declares the role it needs, here, and one wrapper checks it.

    ROUTES = [route("/people", people_page, role=Role.ADMIN, name="people")]

``role=None`` is a public page (sign-in, invite links). For every other page the wrapper
finds the signed-in person from the session cookie (bot.console.pages.current_user):
signed out → a redirect to the sign-in page; a role too low → the 403 page; an approver
or admin who must set up a second factor first → the set-up page. The person is then
``request.state.user`` (a ConsoleUser).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import quote

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.pages import current_user, message, see_other
from bot.console.roles import Role
from bot.storage.ids import row_id
from bot.web.security import Refused

logger = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
TOTP_SETUP_PATH = "/console/account/2fa"


class ConsoleRoute(Route):
    """A Starlette route that knows the role its view needs (the security test reads it)."""

    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        role: Role | None,
        methods: Sequence[str],
        name: str | None,
        before_2fa: bool,
    ) -> None:
        self.role = role
        self.before_2fa = before_2fa
        super().__init__(
            path, guarded(endpoint, role, before_2fa), methods=list(methods), name=name
        )


class RowIdConvertor(Convertor[int]):
    """``{post_id:int}`` in a console path: at most 10 digits, and a number no row can
    have (bot.storage.ids) becomes 0, which no row has either, so the page answers "not
    found" rather than the database overflowing."""

    regex = "[0-9]{1,10}"

    def convert(self, value: str) -> int:
        return row_id(value) or 0

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("rowid", RowIdConvertor())


def route(
    path: str,
    endpoint: Endpoint,
    *,
    role: Role | None,
    methods: Sequence[str] = ("GET",),
    name: str | None = None,
    before_2fa: bool = False,
) -> ConsoleRoute:
    """A console route. ``before_2fa``: reachable by someone who must still set up a
    second factor (the set-up page itself and signing out)."""
    return ConsoleRoute(
        path.replace(":int}", ":rowid}"),
        endpoint,
        role=role,
        methods=methods,
        name=name,
        before_2fa=before_2fa,
    )


def guarded(endpoint: Endpoint, role: Role | None, before_2fa: bool) -> Endpoint:
    async def view(request: Request) -> Response:
        user = await current_user(request)
        request.state.user = user
        try:
            if role is not None:
                if user is None:
                    target = request.url.path
                    if request.url.query:
                        target += "?" + request.url.query
                    return see_other(f"/console/sign-in?next={quote(target, safe='')}")
                if user.must_set_up_2fa and not before_2fa:
                    return see_other(TOTP_SETUP_PATH)
                if not user.role.allows(role):
                    logger.info(
                        "refused %s (%s) to a %s: needs %s",
                        request.url.path,
                        request.method,
                        user.role.value,
                        role.value,
                    )
                    return message(
                        request,
                        403,
                        "You cannot open this page",
                        f"It needs the {role.value} role; you are signed in as "
                        f"{user.role.value}. Ask an admin if you need it.",
                    )
            return await endpoint(request)
        except Refused as exc:
            return message(request, exc.status, exc.title, exc.text, retry_after=exc.retry_after)

    view.__name__ = getattr(endpoint, "__name__", "view")
    view.__doc__ = endpoint.__doc__
    return view
