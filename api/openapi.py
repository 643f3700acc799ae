"""The OpenAPI 3.1 document of every route the API serves, served at ``/api/v1/openapi.json``.

The settings and options schemas are generated from ``render/settings.py``'s field specs
(GEN1_SPEC §1), the job states from ``lantern.contract.JobState``, and the preview's query
parameters are the settings schema flattened to dotted paths; unit tests check every bound
against what the API enforces, and that the document names exactly the routes of
``api/routes.py``.

Every GET route also answers HEAD (aiohttp adds it); the document lists the GETs only.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from lantern.contract import STATES, TERMINAL, JobState
from render import Gen1Settings, RenderOptions
from render.fields import json_schema

from .page import asset_names
from .preview import DEFAULT_SIZE, FRAMES, MAX_SIZE

__all__ = ["OPTIONS_SCHEMA", "PREVIEW_PARAMETERS", "SETTINGS_SCHEMA", "document", "openapi"]

Json = dict[str, Any]


def _int(lo: int, hi: int, default: int) -> Json:
    return {"type": "integer", "minimum": lo, "maximum": hi, "default": default}


# What the schemas generated from render/'s fields do not say themselves, by dotted path
_SETTINGS_NOTES = {
    "flowField.direction": "the gradient's sense of rotation: 1 clockwise, -1 counter-clockwise",
    "flowFields.direction": "1 along the wave, -1 mirrored (the lines' x component)",
}


def _described(schema: Json, notes: dict[str, str], prefix: str = "") -> Json:
    """``schema`` with a description added to each leaf that ``notes`` names by dotted path."""
    for key, sub in schema["properties"].items():
        path = f"{prefix}{key}"
        if sub.get("type") == "object":
            _described(sub, notes, f"{path}.")
        elif path in notes:
            sub["description"] = notes[path]
    return schema


# Both generated from the dataclasses' field specs (render/fields.py): every bound, default and
# alias is the one render/ enforces, by construction
SETTINGS_SCHEMA: Json = {
    **_described(json_schema(Gen1Settings), _SETTINGS_NOTES),
    "description": "Gen1 settings (GEN1_SPEC §1); missing fields take their defaults.",
}
OPTIONS_SCHEMA: Json = {
    **json_schema(RenderOptions),
    "description": "how to render (Lantern's own options); missing fields take their defaults",
}


def _flatten(schema: Json, prefix: str = "") -> list[tuple[str, Json]]:
    """Every leaf of a settings schema by its dotted path, in document order."""
    out: list[tuple[str, Json]] = []
    for key, sub in schema["properties"].items():
        if sub.get("type") == "object":
            out += _flatten(sub, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", sub))
    return out


def _query(name: str, schema: Json, description: str | None = None, **extra: Any) -> Json:
    param: Json = {"name": name, "in": "query", "required": False, "schema": copy.deepcopy(schema)}
    if description:
        param["description"] = description
    return {**param, **extra}


# GET /api/v1/preview.png: the settings as dotted query keys (api/preview.py), then the picture's
# size and frame; one value per key, at most LANTERN_API_PREVIEW_MAX_VALUE_CHARS characters
PREVIEW_PARAMETERS: list[Json] = [
    *(_query(path, leaf, leaf.get("description")) for path, leaf in _flatten(SETTINGS_SCHEMA)),
    _query("size", _int(64, MAX_SIZE, DEFAULT_SIZE), "the side of the square picture in pixels"),
    _query("frame", _int(0, FRAMES - 1, 0), f"the frame of the default {FRAMES}-frame loop"),
]

_WALLET = {
    "type": "string",
    "pattern": "^0x[0-9a-fA-F]{40}$",
    "description": "EIP-55: all-lower or all-upper hex is accepted; mixed case must checksum.",
    "example": "0x52908400098527886E0F7030069857D2E4169EE7",
}
_JOB_ID_SCHEMA = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_CID_SCHEMA = {"type": "string", "pattern": "^(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{58})$"}
_STAMP = {"type": ["number", "null"], "description": "Unix time in seconds"}

_ERROR: Json = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "the offending field's dotted path"},
                "details": {
                    "type": "array",
                    "description": "every bad field, the first of which is `field`",
                    "items": {
                        "type": "object",
                        "required": ["field", "reason"],
                        "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                    },
                },
            },
        }
    },
}

_TERMINAL = ", ".join(state for state in STATES if state in TERMINAL)
_STATE = {
    "type": "string",
    "enum": list(STATES),
    "description": f"in the order of a job that succeeds; terminal: {_TERMINAL}",
}

_RESULT: Json = {
    "type": "object",
    "description": "where the finished work lies (completed jobs)",
    "properties": {
        "gif_cid": {"type": "string"},
        "metadata_cid": {"type": "string"},
        "image_url": {"type": "string"},
        "metadata_url": {"type": "string"},
        "token_uri": {"type": "string"},
        "gif_bytes": {"type": "integer"},
        "pin_backend": {"type": "string"},
    },
}

_JOB: Json = {
    "type": "object",
    "required": ["job_id", "state", "progress", "stage", "detail", "created_at", "updated_at"],
    "properties": {
        "job_id": _JOB_ID_SCHEMA,
        "state": {"$ref": "#/components/schemas/State"},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "stage": {"type": "string"},
        "detail": {"type": "string"},
        "error": {"type": "string", "description": "why it failed, in plain words (failed jobs)"},
        "result": {"$ref": "#/components/schemas/Result"},
        "token": {"$ref": "#/components/schemas/Token"},
        "created_at": _STAMP,
        "updated_at": _STAMP,
    },
}

_ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
_HEX = {"type": "string", "pattern": "^0x[0-9a-f]*$"}

_TOKEN: Json = {
    "type": "object",
    "description": "the token minted with the job's metadata (minted jobs); `token_uri` and "
    "`metadata_*` once the token is named `Gen1 #<id>`",
    "required": ["token_id"],
    "properties": {
        "token_id": {"type": "integer", "minimum": 1},
        "owner": _ADDRESS,
        "tx_hash": _HEX,
        "block_number": {"type": "integer"},
        "chain_id": {"type": "integer"},
        "contract": _ADDRESS,
        "token_uri": {"type": "string"},
        "metadata_cid": {"type": "string"},
        "metadata_url": {"type": "string"},
        "named_tx": _HEX,
    },
}

_CHAIN: Json = {
    "type": "object",
    "required": ["chain_id", "chain_id_hex", "chain_name", "rpc_url", "contract"],
    "properties": {
        "chain_id": {"type": "integer"},
        "chain_id_hex": _HEX,
        "chain_name": {"type": "string"},
        "rpc_url": {"type": "string", "description": "for a wallet asked to add the chain"},
        "contract": _ADDRESS,
    },
}

_JOB_SUMMARY: Json = {
    "type": "object",
    "required": [
        "job_id",
        "state",
        "progress",
        "stage",
        "error",
        "wallet",
        "created_at",
        "updated_at",
    ],
    "properties": {
        "job_id": {"type": "string"},
        "state": {"$ref": "#/components/schemas/State"},
        "progress": {"type": "integer"},
        "stage": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
        "wallet": {"type": ["string", "null"]},
        "created_at": _STAMP,
        "updated_at": _STAMP,
    },
}

_EVENT: Json = {
    "type": "object",
    "description": "One Server-Sent Event: its data is the job as GET /api/v1/jobs/{job_id} "
    "answers it.",
    "required": ["data"],
    "properties": {
        "event": {"const": "message"},
        "id": {"type": "string", "description": "the job's updated_at"},
        "retry": {"type": "integer"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/Job"},
        },
    },
}

_READINESS: Json = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "not ready"]},
        "checks": {
            "type": "object",
            "required": ["broker", "status_table"],
            "properties": {"broker": {"type": "boolean"}, "status_table": {"type": "boolean"}},
        },
    },
}

_HEADERS: Json = {
    "RetryAfter": {
        "description": "seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWWAuthenticate": {
        "description": "the bearer challenge",
        "required": True,
        "schema": {"type": "string"},
    },
    "ETag": {"description": "the representation's entity tag", "schema": {"type": "string"}},
    "CacheControl": {
        "description": "how long the answer may be kept",
        "schema": {"type": "string"},
    },
}

_REASONS = {
    400: "the body is not JSON (or nests too deep), or the Idempotency-Key is malformed",
    401: "missing or wrong operator token",
    403: "operator routes are off (no LANTERN_API_ADMIN_TOKEN)",
    404: "unknown job or content",
    408: "the body did not arrive in whole within LANTERN_API_BODY_TIMEOUT_S",
    409: "an Idempotency-Key reused with a different request",
    413: "the body exceeds LANTERN_API_MAX_BODY_BYTES",
    415: "not application/json",
    422: "invalid field; `field` is its path, `details` lists every bad one",
    429: "over a rate or the queue limit; see Retry-After",
    503: "the broker cannot take the request; nothing was accepted",
}
# the status codes that always come with these headers
_ERROR_HEADERS: dict[int, Json] = {
    401: {"WWW-Authenticate": {"$ref": "#/components/headers/WWWAuthenticate"}},
    429: {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
}
_RETRY_AFTER = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}


def _ref(kind: str, name: str) -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def _error(status: int, description: str | None = None, headers: Json | None = None) -> Json:
    """A failure answered with the Error body (api/errors.py)."""
    response: Json = {
        "description": description or _REASONS[status],
        "content": {"application/json": {"schema": _ref("schemas", "Error")}},
    }
    headers = {**_ERROR_HEADERS.get(status, {}), **(headers or {})}
    if headers:
        response["headers"] = headers
    return response


def _errors(*codes: int, **described: str) -> Json:
    """Error responses by status; ``e404="…"`` overrides one's description."""
    return {str(c): _error(c, described.get(f"e{c}")) for c in codes}


def _json(description: str, schema: Json, headers: Json | None = None) -> Json:
    response: Json = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def _file_responses(media: dict[str, Json]) -> Json:
    """What aiohttp's FileResponse answers besides 200: conditional and range requests."""
    binary = {"type": "string", "format": "binary"}
    return {
        "206": {
            "description": "the requested byte range (a Range request)",
            "content": {m: {"schema": binary} for m in media},
        },
        "304": {"description": "not modified (If-None-Match / If-Modified-Since)"},
        "412": {"description": "an If-Match or If-Unmodified-Since precondition failed"},
        "416": {"description": "the requested byte range cannot be satisfied"},
    }


def _path(name: str, schema: Json, description: str) -> Json:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


_JOB_ID = _path("job_id", _JOB_ID_SCHEMA, "32 lowercase hex characters")
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "the same key (for the same wallet) gives the same job on any replica; "
    "reused with a different request it is refused with 409",
    "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "the ETag of a copy held: 304 if it is still current",
    "schema": {"type": "string"},
}
_ADMIN: list[dict[str, list[str]]] = [{"admin": []}]
_PAGE_MEDIA = {"text/html": {"schema": {"type": "string"}}}
_STATIC_TYPES = ["text/css", "text/javascript", "image/svg+xml", "text/html", "image/x-icon"]


def _page_paths() -> Json:
    page = {"description": "the creator page (HTML)", "content": _PAGE_MEDIA}
    return {
        "/": {
            "get": {
                "operationId": "creatorPage",
                "tags": ["page"],
                "summary": "The creator page",
                "responses": {"200": page, **_file_responses(_PAGE_MEDIA)},
            }
        },
        "/jobs/{job_id}": {
            "get": {
                "operationId": "jobPage",
                "tags": ["page"],
                "summary": "The same page, following one job (a shareable link)",
                "parameters": [_JOB_ID],
                "responses": {
                    "200": page,
                    **_file_responses(_PAGE_MEDIA),
                    **_errors(404, e404="not a job id"),
                },
            }
        },
        "/admin": {
            "get": {
                "operationId": "adminPage",
                "tags": ["page"],
                "summary": "The operator console (HTML; every call it makes needs the operator "
                "token)",
                "responses": {
                    "200": {"description": "the operator console (HTML)", "content": _PAGE_MEDIA},
                    **_file_responses(_PAGE_MEDIA),
                },
            }
        },
        "/static/{name}": {
            "get": {
                "operationId": "staticFile",
                "tags": ["page"],
                "summary": "One of the page's assets (no directories, no listing)",
                "parameters": [
                    _path(
                        "name",
                        {"type": "string", "enum": asset_names()},
                        "a file of the page; any other name is 404",
                    )
                ],
                "responses": {
                    "200": {
                        "description": "the asset, revalidated by ETag (Cache-Control: no-cache)",
                        "content": {t: {"schema": {"type": "string"}} for t in _STATIC_TYPES},
                    },
                    **_file_responses({t: {} for t in _STATIC_TYPES}),
                    **_errors(404, e404="no such asset"),
                },
            }
        },
    }


def _preview_paths() -> Json:
    cached = {"ETag": _ref("headers", "ETag"), "Cache-Control": _ref("headers", "CacheControl")}
    return {
        "/api/v1/preview.png": {
            "get": {
                "operationId": "preview",
                "tags": ["preview"],
                "summary": "One small frame of the artwork, for the page's live preview",
                "description": (
                    "The settings travel as dotted paths of the settings JSON "
                    "(`?flowFields.lineDensity=0.2&contour.enabled=false`), read as JSON scalars "
                    "(`true`, `0.2`, `5`) or else as strings; missing ones take their defaults. "
                    "Each key at most once, no key or value longer than "
                    "LANTERN_API_PREVIEW_MAX_VALUE_CHARS (64) characters, no unknown key. Frames "
                    "are cached by the normalised settings; a client may start "
                    "LANTERN_API_PREVIEW_RATE_PER_MIN new renders a minute (cache hits and 304s "
                    "are free). A client that leaves before its frame is ready is answered "
                    "nothing (logged as 499)."
                ),
                "parameters": [*PREVIEW_PARAMETERS, _IF_NONE_MATCH],
                "responses": {
                    "200": {
                        "description": "the frame",
                        "headers": {
                            **cached,
                            "X-Preview-Cache": {
                                "description": "whether the frame came from the cache",
                                "schema": {"type": "string", "enum": ["hit", "miss"]},
                            },
                        },
                        "content": {"image/png": {"schema": {"type": "string"}}},
                    },
                    "304": {
                        "description": "not modified: If-None-Match names it",
                        "headers": cached,
                    },
                    **_errors(
                        422,
                        429,
                        503,
                        e422="invalid field; `field` is `settings.<path>`, `size` or `frame`",
                        e429="every render slot and queue place is taken, or this client "
                        "started too many renders; see Retry-After",
                        e503="the preview renderer restarted; retry",
                    ),
                },
            }
        }
    }


def _mint_body(wallet: str, options: bool) -> Json:
    properties: Json = {"settings": SETTINGS_SCHEMA}
    if options:
        properties["options"] = OPTIONS_SCHEMA
    properties[wallet] = _WALLET
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [wallet],
                    "properties": properties,
                }
            }
        },
    }


_SUBMIT_ERRORS = (400, 408, 409, 413, 415)
_SUBMIT_REFUSED = {
    "422": _error(
        422,
        "invalid field (`field` is its path, `details` lists every bad one); or a job more "
        "costly than one client may submit a minute, or whose GIF would exceed the pin limit",
    ),
    "429": _error(
        429,
        "over a submission or work rate (per address, per wallet), the render queue is full, "
        "or too many large jobs are being sized; see Retry-After",
    ),
}
_UNAVAILABLE = _error(
    503,
    "the broker cannot take the job (or the sizing renderer restarted); nothing was accepted",
    {
        "Retry-After": {
            "description": "seconds to wait before trying again (sent when the broker failed)",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
)


def _job_paths() -> Json:
    return {
        "/api/v1/mints": {
            "post": {
                "operationId": "submitMint",
                "tags": ["jobs"],
                "summary": "Submit a job",
                "parameters": [_IDEMPOTENCY_KEY],
                "requestBody": _mint_body("wallet", options=True),
                "responses": {
                    "202": _json(
                        "accepted: on the broker's log",
                        _ref("schemas", "Accepted"),
                        {
                            "Location": {
                                "description": "the job's status URL",
                                "required": True,
                                "schema": {"type": "string"},
                            }
                        },
                    ),
                    **_errors(*_SUBMIT_ERRORS),
                    **_SUBMIT_REFUSED,
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/api/v1/jobs/{job_id}": {
            "get": {
                "operationId": "getJob",
                "tags": ["jobs"],
                "summary": "A job's state, progress, error and result",
                "parameters": [_JOB_ID],
                "responses": {"200": _json("the job", _ref("schemas", "Job")), **_errors(404)},
            }
        },
        "/api/v1/jobs/{job_id}/events": {
            "get": {
                "operationId": "jobEvents",
                "tags": ["jobs"],
                "summary": "The job's status as Server-Sent Events",
                "description": (
                    "Sends `retry: 2000`, then the job (as GET /api/v1/jobs/{job_id} answers it) "
                    "at once and again on every change, with a comment line every 15 s while "
                    f"nothing changes; the stream ends after a terminal state ({_TERMINAL}) "
                    "has been sent. An unknown job is 404 before any stream starts."
                ),
                "parameters": [_JOB_ID],
                "responses": {
                    "200": {
                        "description": "the stream; `schema` is one event's",
                        "headers": {"Cache-Control": _ref("headers", "CacheControl")},
                        "content": {"text/event-stream": {"schema": _ref("schemas", "JobEvent")}},
                    },
                    **_errors(
                        404,
                        429,
                        e429="too many event streams open, in all or from this client; "
                        "poll the job's status instead",
                    ),
                },
            }
        },
    }


_CHAIN_UNAVAILABLE = _error(
    503,
    "no chain is configured, or its node cannot be reached now",
    {
        "Retry-After": {
            "description": "seconds to wait (sent when the node did not answer)",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
)


def _chain_paths() -> Json:
    return {
        "/api/v1/chain": {
            "get": {
                "operationId": "chainInfo",
                "tags": ["chain"],
                "summary": "Where tokens are minted, and at what price",
                "responses": {
                    "200": _json(
                        "the chain, the contract and its terms; only `enabled: false` when "
                        "minting is off (no chain configured)",
                        {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["enabled"],
                                    "additionalProperties": False,
                                    "properties": {"enabled": {"const": False}},
                                },
                                {
                                    "allOf": [_ref("schemas", "Chain")],
                                    "type": "object",
                                    "required": [
                                        "enabled",
                                        "price_wei",
                                        "price",
                                        "max_supply",
                                        "total_supply",
                                    ],
                                    "properties": {
                                        "enabled": {"const": True},
                                        "price_wei": {"type": "string", "pattern": "^[0-9]+$"},
                                        "price": {"type": "string", "description": "in ETH"},
                                        "max_supply": {
                                            "type": "integer",
                                            "description": "0: no cap",
                                        },
                                        "total_supply": {"type": "integer"},
                                    },
                                },
                            ]
                        },
                    ),
                    "503": _error(
                        503,
                        "the chain's node cannot be reached now",
                        {"Retry-After": _ref("headers", "RetryAfter")},
                    ),
                },
            }
        },
        "/api/v1/jobs/{job_id}/mint-tx": {
            "get": {
                "operationId": "mintTransaction",
                "tags": ["chain"],
                "summary": "The unsigned mint transaction of a completed job, for its wallet",
                "description": (
                    "`transaction` is what an EIP-1193 wallet's `eth_sendTransaction` takes: the "
                    "current price as `value`, the job's GIF and metadata URI in `data`, an "
                    "estimated `gas`. Only the wallet that submitted the job may mint it. Once "
                    "the mint is on-chain, the job moves to `minted` with its token."
                ),
                "parameters": [
                    _JOB_ID,
                    {**_query("from", _ADDRESS, "the wallet that will sign"), "required": True},
                ],
                "responses": {
                    "200": _json(
                        "the transaction to sign",
                        {
                            "type": "object",
                            "required": [
                                "job_id",
                                "transaction",
                                "price_wei",
                                "price",
                                "token_uri",
                                "chain",
                            ],
                            "properties": {
                                "job_id": _JOB_ID_SCHEMA,
                                "transaction": {
                                    "type": "object",
                                    "required": ["from", "to", "data", "value", "gas", "chainId"],
                                    "properties": {
                                        "from": _ADDRESS,
                                        "to": _ADDRESS,
                                        "data": _HEX,
                                        "value": _HEX,
                                        "gas": _HEX,
                                        "chainId": _HEX,
                                    },
                                },
                                "price_wei": {"type": "string", "pattern": "^[0-9]+$"},
                                "price": {"type": "string"},
                                "token_uri": {"type": "string"},
                                "chain": _ref("schemas", "Chain"),
                            },
                        },
                    ),
                    **_errors(
                        400,
                        403,
                        404,
                        409,
                        422,
                        e400="`from` is missing",
                        e403="`from` is not the wallet that submitted the job",
                        e409="the job is not completed, is already minted, or every token is "
                        "minted (`code`: not_completed, already_minted, sold_out)",
                        e422="`from` is not an address, or holds less than the price "
                        "(`code`: invalid, insufficient_funds)",
                    ),
                    "503": _CHAIN_UNAVAILABLE,
                },
            }
        },
    }


def _legacy_paths() -> Json:
    status = {
        "type": "object",
        "required": ["status", "progress"],
        "properties": {
            "status": {"type": "string", "enum": ["waiting", "active", "completed", "failed"]},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "result": {
                "type": "object",
                "required": ["imageUrl", "metadataUrl"],
                "properties": {
                    "imageUrl": {"type": "string", "description": "ipfs://<gif cid>"},
                    "metadataUrl": {"type": "string", "description": "the token URI"},
                },
            },
            "failedReason": {"type": "string"},
        },
    }
    return {
        "/api/gen1/queue-mint": {
            "post": {
                "operationId": "legacyQueueMint",
                "tags": ["gen1"],
                "summary": "Submit a job (the original's route and shapes)",
                "parameters": [_IDEMPOTENCY_KEY],
                "requestBody": _mint_body("walletAddress", options=False),
                "responses": {
                    "200": _json(
                        "accepted: on the broker's log",
                        {
                            "type": "object",
                            "required": ["jobId"],
                            "properties": {"jobId": _JOB_ID_SCHEMA},
                        },
                    ),
                    **_errors(*_SUBMIT_ERRORS),
                    **_SUBMIT_REFUSED,
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/api/gen1/job-status": {
            "get": {
                "operationId": "legacyJobStatus",
                "tags": ["gen1"],
                "summary": "A job's status (the original's route and shapes)",
                "parameters": [
                    {
                        "name": "jobId",
                        "in": "query",
                        "required": True,
                        "description": "the id queue-mint answered",
                        "schema": _JOB_ID_SCHEMA,
                    }
                ],
                "responses": {
                    "200": _json(
                        "the job in the original's BullMQ terms (rendering, encoding and "
                        "pinning are `active`); `result` once completed, `failedReason` once "
                        "failed",
                        status,
                    ),
                    **_errors(400, 404, e400="jobId is missing or empty"),
                },
            }
        },
    }


def _operations_paths() -> Json:
    text = {"type": "string"}
    return {
        "/ipfs/{cid}": {
            "get": {
                "operationId": "getContent",
                "tags": ["content"],
                "summary": "Content by CID (the local gateway), cached forever",
                "parameters": [
                    _path("cid", _CID_SCHEMA, "a sha2-256 CIDv0 or canonical CIDv1"),
                    _IF_NONE_MATCH,
                ],
                "responses": {
                    "200": {
                        "description": "the bytes, with the content type they were stored with",
                        "headers": {
                            "ETag": _ref("headers", "ETag"),
                            "Cache-Control": _ref("headers", "CacheControl"),
                            "X-Ipfs-Path": {"description": "/ipfs/<cid>", "schema": text},
                        },
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_file_responses({"*/*": {}}),
                    **_errors(
                        400,
                        404,
                        502,
                        504,
                        e400="not a sha2-256 CIDv0 or canonical CIDv1",
                        e404="no such content here, nor at the IPFS node or gateway asked",
                        e502="the IPFS node or gateway asked for content not held here failed",
                        e504="the IPFS node or gateway asked did not answer in time",
                    ),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "tags": ["operations"],
                "summary": "Process up",
                "responses": {
                    "200": _json(
                        "up",
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {"status": {"const": "ok"}},
                        },
                    )
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "tags": ["operations"],
                "summary": "Broker reachable and the job view caught up",
                "responses": {
                    "200": _json("ready", _ref("schemas", "Readiness")),
                    "503": _json(
                        "not ready; `checks` says what is not", _ref("schemas", "Readiness")
                    ),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["operations"],
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "the Prometheus text exposition format",
                        "content": {"text/plain": {"schema": text}},
                    }
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["operations"],
                "summary": "This document",
                "responses": {
                    "200": _json(
                        "the OpenAPI document",
                        {"type": "object", "required": ["openapi", "info", "paths"]},
                    )
                },
            }
        },
    }


def _limit(default: int, most: int) -> Json:
    return _query("limit", _int(1, most, default), f"how many, 1–{most}")


def _admin_paths() -> Json:
    return {
        "/api/v1/jobs": {
            "get": {
                "operationId": "listJobs",
                "tags": ["operator"],
                "summary": "Jobs by state, newest first, with counts",
                "security": _ADMIN,
                "parameters": [
                    _query("state", _ref("schemas", "State"), "only jobs in this state"),
                    _limit(100, 1000),
                ],
                "responses": {
                    "200": _json(
                        "jobs and how many there are in each state",
                        {
                            "type": "object",
                            "required": ["counts", "jobs"],
                            "properties": {
                                "counts": {
                                    "type": "object",
                                    "required": list(STATES),
                                    "properties": {s: {"type": "integer"} for s in STATES},
                                },
                                "jobs": {
                                    "type": "array",
                                    "items": _ref("schemas", "JobSummary"),
                                },
                            },
                        },
                    ),
                    **_errors(401, 403, 422, e422="bad `state` or `limit`"),
                },
            }
        },
        "/api/v1/jobs/{job_id}/retry": {
            "post": {
                "operationId": "retryJob",
                "tags": ["operator"],
                "summary": "Drive a failed job again from its original request",
                "security": _ADMIN,
                "parameters": [_JOB_ID],
                "responses": {
                    "202": _json(
                        "queued again",
                        {
                            "type": "object",
                            "required": ["job_id", "state", "status_url"],
                            "properties": {
                                "job_id": _JOB_ID_SCHEMA,
                                "state": {"const": JobState.QUEUED.value},
                                "status_url": {"type": "string"},
                            },
                        },
                    ),
                    **_errors(
                        401,
                        403,
                        404,
                        409,
                        e409="the job has not failed, or has no stored request",
                    ),
                    "503": _error(503, headers=_RETRY_AFTER),
                },
            }
        },
        "/api/v1/jobs/{job_id}/detail": {
            "get": {
                "operationId": "jobDetail",
                "tags": ["operator"],
                "summary": "One job whole: its request, timeline, full error and trace",
                "security": _ADMIN,
                "parameters": [_JOB_ID],
                "responses": {
                    "200": _json(
                        "the job as the status table holds it",
                        {
                            "type": "object",
                            "required": ["job_id", "state", "progress"],
                            "properties": {
                                "job_id": _JOB_ID_SCHEMA,
                                "state": _ref("schemas", "State"),
                                "progress": {"type": "integer"},
                                "request": {"type": ["object", "null"]},
                                "timeline": {
                                    "type": ["array", "null"],
                                    "items": {
                                        "type": "object",
                                        "required": ["at", "state", "stage", "detail"],
                                        "properties": {
                                            "at": _STAMP,
                                            "state": {"type": "string"},
                                            "stage": {"type": "string"},
                                            "detail": {"type": "string"},
                                            "error": {"type": "string"},
                                        },
                                    },
                                },
                                "error": {"type": ["string", "null"]},
                                "trace": {"type": ["string", "null"]},
                            },
                        },
                    ),
                    **_errors(401, 403, 404),
                },
            }
        },
        "/api/v1/jobs/{job_id}/cancel": {
            "post": {
                "operationId": "cancelJob",
                "tags": ["operator"],
                "summary": "Fail an unfinished job (work in flight finishes and is discarded)",
                "security": _ADMIN,
                "parameters": [_JOB_ID],
                "responses": {
                    "202": _json(
                        "cancelled",
                        {
                            "type": "object",
                            "required": ["job_id", "state"],
                            "properties": {
                                "job_id": _JOB_ID_SCHEMA,
                                "state": {"const": JobState.FAILED.value},
                            },
                        },
                    ),
                    **_errors(401, 403, 404, 409, e409="the job has already finished"),
                    "503": _error(503, headers=_RETRY_AFTER),
                },
            }
        },
        "/api/v1/jobs/retry-failed": {
            "post": {
                "operationId": "retryFailed",
                "tags": ["operator"],
                "summary": "Retry every failed job that has its request, oldest first",
                "security": _ADMIN,
                "parameters": [_limit(1000, 10_000)],
                "responses": {
                    "202": _json(
                        "what was retried, and what could not be (no stored request)",
                        {
                            "type": "object",
                            "required": ["retried", "skipped"],
                            "properties": {
                                "retried": {"type": "array", "items": _JOB_ID_SCHEMA},
                                "skipped": {"type": "array", "items": _JOB_ID_SCHEMA},
                            },
                        },
                    ),
                    **_errors(401, 403, 422, e422="bad `limit`"),
                    "503": _error(503, headers=_RETRY_AFTER),
                },
            }
        },
        "/api/v1/jobs/purge": {
            "post": {
                "operationId": "purgeJobs",
                "tags": ["operator"],
                "summary": "Forget completed and failed jobs older than a time (never minted ones)",
                "security": _ADMIN,
                "parameters": [
                    {
                        **_query(
                            "older_than_s",
                            {"type": "string", "pattern": "^[0-9]{1,10}$"},
                            "seconds since the job last changed",
                        ),
                        "required": True,
                    }
                ],
                "responses": {
                    "202": _json(
                        "the jobs forgotten",
                        {
                            "type": "object",
                            "required": ["purged"],
                            "properties": {"purged": {"type": "array", "items": _JOB_ID_SCHEMA}},
                        },
                    ),
                    **_errors(401, 403, 422, e422="`older_than_s` is not a whole number"),
                    "503": _error(503, headers=_RETRY_AFTER),
                },
            }
        },
        "/api/v1/workers": {
            "get": {
                "operationId": "workers",
                "tags": ["operator"],
                "summary": "The workers' consumer group: its members and their partitions",
                "security": _ADMIN,
                "responses": {
                    "200": _json(
                        "the group as the broker describes it",
                        {
                            "type": "object",
                            "required": ["group", "state", "members"],
                            "properties": {
                                "group": {"type": "string"},
                                "state": {"type": "string"},
                                "members": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": [
                                            "member_id",
                                            "client_id",
                                            "host",
                                            "partitions",
                                        ],
                                        "properties": {
                                            "member_id": {"type": "string"},
                                            "client_id": {"type": "string"},
                                            "host": {"type": "string"},
                                            "partitions": {
                                                "type": "object",
                                                "additionalProperties": {
                                                    "type": "array",
                                                    "items": {"type": "integer"},
                                                },
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    ),
                    **_errors(401, 403),
                    "503": _error(503, headers=_RETRY_AFTER),
                },
            }
        },
        "/api/v1/dead-letters": {
            "get": {
                "operationId": "deadLetters",
                "tags": ["operator"],
                "summary": "The newest dead letters, with their errors",
                "security": _ADMIN,
                "parameters": [_limit(50, 500)],
                "responses": {
                    "200": _json(
                        "dead letters, newest first",
                        {
                            "type": "object",
                            "required": ["dead_letters"],
                            "properties": {
                                "dead_letters": {"type": "array", "items": {"type": "object"}}
                            },
                        },
                    ),
                    **_errors(
                        401, 403, 422, 503, e422="bad `limit`", e503="the broker did not answer"
                    ),
                },
            }
        },
    }


def document() -> Json:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lantern",
            "version": "1",
            "description": (
                "Render, encode and pin animated Gen1 NFTs. Every failure answers the Error "
                "body; every GET route also answers HEAD."
            ),
        },
        "tags": [
            {"name": "page", "description": "the creator page and its assets"},
            {"name": "preview", "description": "live previews of settings"},
            {"name": "jobs", "description": "submit and follow jobs"},
            {"name": "chain", "description": "minting a completed job's token on-chain"},
            {"name": "gen1", "description": "the original service's routes, kept for its clients"},
            {"name": "content", "description": "the local IPFS gateway"},
            {"name": "operations", "description": "health, readiness, metrics, this document"},
            {"name": "operator", "description": "behind the operator's bearer token"},
        ],
        "paths": {
            **_page_paths(),
            **_preview_paths(),
            **_job_paths(),
            **_chain_paths(),
            **_legacy_paths(),
            **_operations_paths(),
            **_admin_paths(),
        },
        "components": {
            "schemas": {
                "Error": _ERROR,
                "State": _STATE,
                "Job": _JOB,
                "Result": _RESULT,
                "Token": _TOKEN,
                "Chain": _CHAIN,
                "JobEvent": _EVENT,
                "JobSummary": _JOB_SUMMARY,
                "Accepted": {
                    "type": "object",
                    "required": ["job_id", "state", "status_url", "events_url"],
                    "properties": {
                        "job_id": _JOB_ID_SCHEMA,
                        "state": {"const": JobState.QUEUED.value},
                        "status_url": {"type": "string"},
                        "events_url": {"type": "string"},
                    },
                },
                "Readiness": _READINESS,
            },
            "headers": _HEADERS,
            "securitySchemes": {
                "admin": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "LANTERN_API_ADMIN_TOKEN; without one set, 403",
                }
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    """``GET /api/v1/openapi.json``."""
    return web.json_response(document())
