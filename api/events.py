"""``GET /api/v1/jobs/{id}/events``: the job's status as Server-Sent Events.

Each event's data is the same JSON object ``GET /api/v1/jobs/{id}`` answers, sent once at the
start and again whenever it changes; a comment line keeps idle connections (and proxies) alive.
The stream ends after a terminal state (``completed`` or ``failed``) has been sent. An unknown
job answers 404 JSON like the status route, before any stream starts.

``retry: 2000`` asks EventSource to reconnect after two seconds, the original clients' polling
interval; a reconnect simply starts again with the current status.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from lantern.contract import TERMINAL

from .keys import JOBS, STREAMS
from .views import find_job, public_job

__all__ = ["KEEPALIVE_S", "job_events"]

KEEPALIVE_S = 15.0  # below the usual 30–60 s idle timeouts of proxies and load balancers


async def job_events(request: web.Request) -> web.StreamResponse:
    """Stream the job's status on each change until it is terminal (or the client leaves)."""
    job_id = request.match_info["job_id"]
    job = find_job(request, job_id)  # 404 before the stream starts
    with request.app[STREAMS].take(request.remote or "unknown"):  # 429 before it starts
        return await _stream(request, job_id, job)


async def _stream(request: web.Request, job_id: str, job: dict[str, Any]) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache, no-transform",
            "X-Accel-Buffering": "no",  # nginx: pass events through unbuffered
        }
    )
    await response.prepare(request)
    view = request.app[JOBS]
    sent: dict[str, Any] | None = None
    try:
        await response.write(b"retry: 2000\n\n")
        quiet_since = time.monotonic()
        while True:
            current = public_job(job)
            if current != sent:
                await response.write(_event(current))
                sent, quiet_since = current, time.monotonic()
                if current["state"] in TERMINAL:
                    break
            elif time.monotonic() - quiet_since >= KEEPALIVE_S:
                await response.write(b": keep-alive\n\n")
                quiet_since = time.monotonic()
            if view.get(job_id) is job:  # unchanged while we wrote: wait for its next change
                quiet_for = time.monotonic() - quiet_since
                await view.wait_changed(job_id, max(0.0, KEEPALIVE_S - quiet_for))
            latest = view.get(job_id)
            if latest is None:  # cleaned up (a tombstone) while we watched
                break
            job = latest
    except ConnectionResetError:
        return response  # the client went away; nothing left to tell it
    await response.write_eof()
    return response


def _event(job: dict[str, Any]) -> bytes:
    data = json.dumps(job, separators=(",", ":"))
    return f"id: {job.get('updated_at') or ''}\ndata: {data}\n\n".encode()
