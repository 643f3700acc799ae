"""The OpenAPI 3.1 document of the v1 API, served at ``/api/v1/openapi.json``.

The settings schema mirrors ``render/settings.py`` (GEN1_SPEC §1); a unit test checks both
agree at every bound, so the document cannot drift from what the API enforces.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

__all__ = ["SETTINGS_SCHEMA", "document", "openapi"]


def _num(lo: float, hi: float, default: float) -> dict[str, Any]:
    return {"type": "number", "minimum": lo, "maximum": hi, "default": default}


def _int(lo: int, hi: int, default: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi, "default": default}


_BOOL = {"type": "boolean"}
_DIRECTION = {"type": "integer", "enum": [1, -1], "description": "1 clockwise, -1 mirrored"}
_COLOUR = {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"}


def _layer(props: dict[str, Any], freq_default: float | None) -> dict[str, Any]:
    """A settings section; ``baseFreq`` is the original's name for ``baseFrequency``."""
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    if freq_default is not None:
        props["baseFrequency"] = _num(0.001, 0.05, freq_default)
        props["baseFreq"] = _num(0.001, 0.05, freq_default)
        schema["not"] = {"required": ["baseFrequency", "baseFreq"]}
    return schema


SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Gen1 settings (GEN1_SPEC §1); missing fields take their defaults.",
    "properties": {
        "flowField": _layer(
            {
                "enabled": _BOOL,
                "color1": {**_COLOUR, "default": "#4ade80"},
                "color2": {**_COLOUR, "default": "#22d3ee"},
                "direction": _DIRECTION,
                "amplitude": _num(0.1, 3, 1.0),
                "octaves": _int(1, 8, 1),
                "rotation": _num(0, 360, 0),
            },
            0.02,
        ),
        "flowFields": _layer(
            {
                "enabled": _BOOL,
                "amplitude": _num(0.1, 3, 1.0),
                "octaves": _int(1, 8, 1),
                "lineLength": _num(5, 100, 20),
                "lineDensity": _num(0.01, 0.5, 0.1),
                "rotation": _num(0, 360, 0),
                "direction": _DIRECTION,
            },
            0.01,
        ),
        "contour": _layer(
            {
                "enabled": _BOOL,
                "amplitude": _num(0.1, 3, 1.0),
                "octaves": _int(1, 8, 4),
                "levels": _int(2, 20, 5),
                "smoothness": _num(0, 1, 0.3),
            },
            0.01,
        ),
        "contourAffectsFlow": _BOOL,
    },
}

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "size": _int(64, 1024, 512),
        "frames": _int(1, 1000, 100),
        "delay_ms": {**_int(20, 10000, 30), "multipleOf": 10},
        "timing": {"type": "string", "enum": ["loop", "legacy"], "default": "loop"},
    },
}

_WALLET = {
    "type": "string",
    "pattern": "^0x[0-9a-fA-F]{40}$",
    "description": "EIP-55: all-lower or all-upper hex is accepted; mixed case must checksum.",
    "example": "0x52908400098527886E0F7030069857D2E4169EE7",
}

_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}

_JOB: dict[str, Any] = {
    "type": "object",
    "required": ["job_id", "state", "progress"],
    "properties": {
        "job_id": {"type": "string"},
        "state": {
            "type": "string",
            "enum": ["queued", "rendering", "encoding", "pinning", "completed", "failed"],
        },
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "stage": {"type": "string"},
        "detail": {"type": "string"},
        "error": {"type": "string"},
        "result": {"type": "object"},
        "created_at": {"type": ["number", "null"]},
        "updated_at": {"type": ["number", "null"]},
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Error"}
    return {
        str(c): {"description": _REASONS[c], "content": {"application/json": {"schema": ref}}}
        for c in codes
    }


_REASONS = {
    400: "malformed JSON or parameter",
    401: "missing or wrong operator token",
    403: "operator routes are off",
    404: "unknown job or content",
    409: "conflict (idempotency key reused, or a job not in a retryable state)",
    413: "body too large",
    415: "not application/json",
    422: "invalid field; `field` is its path",
    429: "over a rate or the queue limit; see Retry-After",
    503: "the broker cannot take the request; nothing was accepted",
}

_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
_ADMIN: list[dict[str, list[str]]] = [{"admin": []}]


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    job_ref = {"$ref": "#/components/schemas/Job"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lantern",
            "version": "1",
            "description": "Render, encode and pin animated Gen1 NFTs.",
        },
        "paths": {
            "/api/v1/mints": {
                "post": {
                    "summary": "Submit a job",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["wallet"],
                                    "properties": {
                                        "settings": SETTINGS_SCHEMA,
                                        "options": OPTIONS_SCHEMA,
                                        "wallet": _WALLET,
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "accepted: on the broker's log",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_errors(400, 409, 413, 415, 422, 429, 503),
                    },
                }
            },
            "/api/v1/jobs/{job_id}": {
                "get": {
                    "summary": "A job's state, progress, error and result",
                    "parameters": [_JOB_ID],
                    "responses": {
                        "200": {
                            "description": "the job",
                            "content": {"application/json": {"schema": job_ref}},
                        },
                        **_errors(404),
                    },
                }
            },
            "/api/v1/jobs": {
                "get": {
                    "summary": "Jobs by state, newest first, with counts (operator)",
                    "security": _ADMIN,
                    "parameters": [
                        {"name": "state", "in": "query", "schema": _JOB["properties"]["state"]},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "jobs and counts",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_errors(401, 403, 422),
                    },
                }
            },
            "/api/v1/jobs/{job_id}/retry": {
                "post": {
                    "summary": "Drive a failed job again (operator)",
                    "security": _ADMIN,
                    "parameters": [_JOB_ID],
                    "responses": {
                        "202": {
                            "description": "queued again",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_errors(401, 403, 404, 409, 503),
                    },
                }
            },
            "/api/v1/dead-letters": {
                "get": {
                    "summary": "The newest dead letters (operator)",
                    "security": _ADMIN,
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "dead letters",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_errors(401, 403, 422),
                    },
                }
            },
            "/ipfs/{cid}": {
                "get": {
                    "summary": "Content by CID (the local gateway)",
                    "parameters": [
                        {
                            "name": "cid",
                            "in": "path",
                            "required": True,
                            "schema": {
                                "type": "string",
                                "pattern": "^(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{58})$",
                            },
                        }
                    ],
                    "responses": {
                        "200": {"description": "the bytes"},
                        "304": {"description": "not modified"},
                        **_errors(400, 404),
                    },
                }
            },
            "/healthz": {
                "get": {"summary": "Process up", "responses": {"200": {"description": "up"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "Broker reachable and status caught up",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "not ready"},
                    },
                }
            },
        },
        "components": {
            "schemas": {"Error": _ERROR, "Job": _JOB},
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(request: web.Request) -> web.Response:
    """``GET /api/v1/openapi.json``."""
    return web.json_response(document())
