"""The console's own scripts (``static/*.js``): small progressive enhancements, public like
any stylesheet, served from the console's address because its CSP allows scripts only
from itself."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from bot.console.routing import ConsoleRoute, route

STATIC = Path(__file__).parent / "static"
# Only the scripts shipped in the folder, named exactly: no path from the request is opened.
SCRIPTS = frozenset(path.name for path in STATIC.glob("*.js"))


async def script(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in SCRIPTS:
        raise HTTPException(404)
    return FileResponse(STATIC / name, media_type="text/javascript")


ROUTES: list[ConsoleRoute] = [
    route("/static/{name}", script, role=None, name="console_script"),
]
