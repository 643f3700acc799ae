"""The aiohttp application: ``create_app(settings)``, run by ``lantern api``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from lantern.settings import Settings
from lantern.tracing import setup_tracing
from monitoring.metrics import ApiMetrics
from pinning import LocalStore

from .errors import error_middleware
from .jobs import JobView
from .keys import JOBS, LIMITS, METRICS, SETTINGS, STORE, STREAMS, SUBMITTER
from .limits import TARPIT, Admission, StreamSlots, Tarpit, tarpit_middleware
from .mint import chain_access
from .observe import AccessLog, metrics_middleware, request_id_middleware
from .preview import preview_pool
from .routes import setup_routes
from .submit import Submitter

__all__ = ["create_app", "run_api", "server_options"]


def create_app(settings: Settings) -> web.Application:
    """The API with its routes, error handling and Kafka clients opened at start-up."""
    app = web.Application(
        middlewares=[
            request_id_middleware,  # first: every line of a request, errors too, has its id
            metrics_middleware,
            error_middleware,
            tarpit_middleware,
        ],
        client_max_size=settings.api.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[SUBMITTER] = Submitter(settings)
    metrics = ApiMetrics.create()
    metrics.admission_limit.set(settings.api.max_backlog_frames)
    app[METRICS] = metrics
    app[JOBS] = JobView(settings, metrics)
    app[STORE] = LocalStore(settings.store.root)
    app[LIMITS] = Admission(settings, metrics)
    app[TARPIT] = Tarpit(settings.api.tarpit_after, settings.api.tarpit_s)
    app[STREAMS] = StreamSlots(settings.api.event_streams, settings.api.event_streams_per_client)
    app.cleanup_ctx.append(_kafka_clients)
    app.cleanup_ctx.append(chain_access)  # the chain's client, when one is configured
    app.cleanup_ctx.append(preview_pool)  # previews render in processes of their own
    setup_routes(app)
    _known_routes(app, metrics)
    return app


def _known_routes(app: web.Application, metrics: ApiMetrics) -> None:
    """Every route's series at 0 from the start (its usual success), so the first requests
    after a start show in rates, not only from the second scrape on."""
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        status = "202" if route.method == "POST" else "200"
        metrics.requests.labels(resource.canonical, route.method, status)
        metrics.request_seconds.labels(resource.canonical)


async def _kafka_clients(app: web.Application) -> AsyncIterator[None]:
    await app[SUBMITTER].start()
    await app[JOBS].start()
    await app[LIMITS].lag.start()
    yield
    await app[LIMITS].lag.stop()
    await app[JOBS].stop()
    await app[SUBMITTER].stop()


def server_options(settings: Settings) -> dict[str, Any]:
    """How the HTTP server treats connections (``web.run_app`` / ``web.AppRunner`` keywords)."""
    return {
        # one line per request (operator actions included); never headers such as the token
        "access_log": logging.getLogger("api.access"),
        "access_log_class": AccessLog,  # a flood of refusals is counted, not written out
        "access_log_format": '%a "%r" %s %b %Tfs "%{User-Agent}i"',
        # the server's keep-alive timer runs from a connection's opening and from each
        # response: a client that has not sent a whole request's headers by then is cut off
        # (slow headers), as is an idle keep-alive connection. A running handler (an event
        # stream, a body being read under body_timeout_s) is never cut by it.
        "keepalive_timeout": settings.api.header_timeout_s,
    }


def run_api(settings: Settings) -> None:
    """Serve until interrupted."""
    setup_tracing(settings.trace, "lantern-api")
    web.run_app(
        create_app(settings),
        host=settings.api.host,
        port=settings.api.port,
        print=None,
        **server_options(settings),
    )
