"""Request metrics middleware and the ``/metrics`` endpoint."""

from __future__ import annotations

import logging
import re
import time
import uuid
from time import monotonic

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lantern.contract import STATES
from lantern.logs import bind_request

from .errors import Handler
from .keys import JOBS, METRICS

__all__ = ["REQUEST_ID", "AccessLog", "metrics", "metrics_middleware", "request_id_middleware"]

REQUEST_ID = "X-Request-Id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id (the client's ``X-Request-Id`` when it is a sane one), put it
    on every log line of the request, its access-log line included, and answer it back."""
    given = request.headers.get(REQUEST_ID, "")
    request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    bind_request(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID] = request_id
        raise
    if not response.prepared:
        response.headers[REQUEST_ID] = request_id
    return response


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


class AccessLog(AccessLogger):
    """One line per request, except refusals (429) in a flood: the first from an address in
    each ``window`` seconds is written, the rest only counted, and the count is written with
    the next one written. A client hammering the API cannot fill the log (nor spend the
    API's CPU on it); every refusal is still counted in ``lantern_http_requests_total``."""

    window = 10.0

    def __init__(self, logger: logging.Logger, log_format: str = AccessLogger.LOG_FORMAT) -> None:
        super().__init__(logger, log_format)
        self._refused: dict[str, tuple[float, int]] = {}  # address → (window start, held back)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if response.status != 429:
            super().log(request, response, time)
            return
        address, now = request.remote or "unknown", monotonic()
        started, held = self._refused.get(address, (0.0, 0))
        if now - started < self.window:
            self._refused[address] = (started, held + 1)
            return
        if len(self._refused) > 10_000:
            self._refused.clear()  # bounded: forget old addresses (only counts are lost)
        self._refused[address] = (now, 0)
        super().log(request, response, time)
        if held:
            self.logger.info("%s: %d more 429 answers not logged", address, held)
