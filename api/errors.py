"""HTTP errors: every failure answers JSON ``{"error": {"code", "message", "field"?}}``.

ApiError (LanternError)       an error with its HTTP status; views raise it
 ├── 400 bad_json             the body is not JSON
 ├── 404 not_found            no such job or content
 ├── 413 too_large            the body exceeds the limit
 ├── 415 unsupported_media    the body is not application/json
 ├── 422 invalid              a field failed validation (``field`` is its dotted path)
 └── 503 unavailable          the broker cannot take the request; nothing was accepted
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from render.errors import FieldError, LanternError

__all__ = ["ApiError", "error_middleware", "invalid"]

log = logging.getLogger(__name__)


class ApiError(LanternError):
    """An error the API answers with ``status`` and a JSON body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.details, self.headers = field, details, headers

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid(errors: list[FieldError], prefix: str = "") -> ApiError:
    """422 naming the first bad field; ``details`` lists every one."""
    paths = [_join(prefix, e.field) for e in errors]
    first = errors[0]
    return ApiError(
        422,
        "invalid",
        f"{paths[0] or 'body'}: {first.reason}",
        field=paths[0],
        details=[{"field": p, "reason": e.reason} for p, e in zip(paths, errors, strict=True)],
    )


def _join(prefix: str, field: str) -> str:
    return ".".join(part for part in (prefix, field) if part)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors → their JSON; aiohttp's own HTTP errors → JSON; anything else → logged 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        return web.json_response(exc.body(), status=exc.status, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        body = {"error": {"code": code, "message": exc.reason}}
        return web.json_response(body, status=exc.status, headers=_keep(exc.headers))
    except Exception:
        request_id = uuid.uuid4().hex[:12]
        log.exception("unexpected error request_id=%s path=%s", request_id, request.path)
        body = {"error": {"code": "internal", "message": f"internal error ({request_id})"}}
        return web.json_response(body, status=500)


def _keep(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() in {"allow", "retry-after"}}
