"""Request metrics middleware and the ``/metrics`` endpoint."""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lantern.contract import STATES

from .errors import Handler
from .keys import JOBS, METRICS

__all__ = ["metrics", "metrics_middleware"]


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every request by its route template (never by raw path: fixed labels)."""
    started = time.perf_counter()
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        m = request.app[METRICS]
        m.requests.labels(route, request.method, str(status)).inc()
        m.request_seconds.labels(route).observe(time.perf_counter() - started)


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics`` in the Prometheus text format."""
    m, jobs = request.app[METRICS], request.app[JOBS]
    for state in STATES:  # counts kept by the job view as jobs change: no walk per scrape
        m.jobs_known.labels(state).set(jobs.states.get(state, 0))
    m.pending_frames.set(jobs.pending_frames)
    return web.Response(
        body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
