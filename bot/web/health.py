"""``/healthz``, ``/readyz`` and ``/metrics``: for a supervisor, a load balancer and
Prometheus.

Mounted beside the campaign pages when METRICS_BIND is empty (bot/web/app.py), or served
alone on METRICS_BIND by ``create_health_app`` (started by bot/runtime/process.py), and
then not on the public server. A scaled-out scheduler or worker serves them on
METRICS_BIND with its own readiness (``RoleReadiness``). None of the three shows a
secret: the readiness checks name a failing database by its error's class, never by its
URL (bot/monitoring/health.py).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.monitoring.health import Checks, Readiness
from bot.monitoring.metrics import CONTENT_TYPE
from bot.platforms import PLATFORM_NAMES
from bot.runtime.wiring import Runtime

# A probe's answer is about now: no proxy or browser may keep it.
NO_STORE = {"Cache-Control": "no-store"}


def routes(runtime: Runtime, readiness: Checks | None = None) -> list[Route]:
    """The three routes on ``runtime``'s database and metrics; /readyz runs
    ``readiness`` (by default the whole of Clarion's: ``Readiness``)."""
    if readiness is None:
        readiness = Readiness(
            runtime.sessions,
            runtime.metrics,
            platforms=PLATFORM_NAMES,
            poll_interval=runtime.settings.poll_interval_seconds,
        )
    checks = readiness
    metrics = runtime.metrics

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    # Plain functions: Starlette runs them in its thread pool, as they read the database.
    def readyz(request: Request) -> Response:
        report = checks.check()
        return JSONResponse(
            report.as_json(), status_code=200 if report.ready else 503, headers=NO_STORE
        )

    def scrape(request: Request) -> Response:
        return Response(metrics.exposition(), headers={**NO_STORE, "Content-Type": CONTENT_TYPE})

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", scrape, methods=["GET"]),
    ]


def create_health_app(runtime: Runtime, readiness: Checks | None = None) -> Starlette:
    """The three routes alone, for METRICS_BIND's server (anything else is a 404)."""
    return Starlette(routes=routes(runtime, readiness))
