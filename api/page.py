"""The creator page: ``/`` and the shareable job page ``/jobs/{id}`` (one HTML document), and
its hand-written assets under ``/static/``.

Nothing is built: the files in ``api/static/`` are served as they are, revalidated by ETag.
The page only sends settings and shows progress; the work happens in the pipeline.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from .errors import ApiError

__all__ = ["STATIC", "index", "job_page", "static_file"]

STATIC = Path(__file__).with_name("static")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(css|js|svg|html|ico)$")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_TYPES = {
    "css": "text/css",
    "js": "text/javascript",
    "svg": "image/svg+xml",
    "html": "text/html",
    "ico": "image/x-icon",
}
# Everything the page loads comes from this origin; no inline script, no third party.
_SECURITY = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


async def index(request: web.Request) -> web.FileResponse:
    """``GET /`` → the creator page."""
    return _html()


async def job_page(request: web.Request) -> web.FileResponse:
    """``GET /jobs/{id}`` → the same page, following that job (anyone with the link)."""
    if not _JOB_ID.match(request.match_info["job_id"]):
        raise ApiError(404, "not_found", "no such job page")
    return _html()


async def static_file(request: web.Request) -> web.FileResponse:
    """``GET /static/{name}`` → one of the page's assets (no directories, no listing)."""
    name = request.match_info["name"]
    match = _NAME.match(name)
    path = STATIC / name
    if match is None or not path.is_file():
        raise ApiError(404, "not_found", f"no static file {name}")
    headers = {"Content-Type": _TYPES[match.group(1)], "Cache-Control": "no-cache", **_SECURITY}
    return web.FileResponse(path, headers=headers)


def _html() -> web.FileResponse:
    headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"}
    return web.FileResponse(STATIC / "index.html", headers={**headers, **_SECURITY})
