"""Thin typed handlers: parse, call the submitter or the job view, shape the answer."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from typing import Any

import aiohttp
from aiohttp import web

from lantern.logs import bind
from pinning import CidHasher, ContentNotFound, InvalidCid, LocalStore, validate_cid
from pinning.gateway import HOP, READ_BYTES, GatewayFailed, Gateways

from .errors import ApiError
from .jobs import job_cost
from .keys import JOBS, LIMITS, METRICS, SETTINGS, STORE, SUBMITTER
from .preview import PREVIEW_POOL
from .validation import MintBody, parse_mint_body, read_json

log = logging.getLogger(__name__)

__all__ = [
    "find_job",
    "get_content",
    "get_job",
    "healthz",
    "key_job_id",
    "legacy_job_status",
    "legacy_queue_mint",
    "public_job",
    "readyz",
    "submit_mint",
]

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


async def submit_mint(request: web.Request) -> web.Response:
    """``POST /api/v1/mints`` → 202 with the job's id and where to follow it."""
    settings = request.app[SETTINGS]
    request.app[LIMITS].attempt(request)  # before the body is read: refusals stay cheap
    body = parse_mint_body(
        await read_json(request, settings.api.max_body_bytes, settings.api.body_timeout_s)
    )
    job_id = await _accept(request, body)
    return web.json_response(
        {
            "job_id": job_id,
            "state": "queued",
            "status_url": f"/api/v1/jobs/{job_id}",
            "events_url": f"/api/v1/jobs/{job_id}/events",
        },
        status=202,
        headers={"Location": f"/api/v1/jobs/{job_id}"},
    )


async def get_job(request: web.Request) -> web.Response:
    """``GET /api/v1/jobs/{id}`` → the job's state, progress, error and result."""
    return web.json_response(public_job(find_job(request, request.match_info["job_id"])))


async def legacy_queue_mint(request: web.Request) -> web.Response:
    """``POST /api/gen1/queue-mint {settings, walletAddress}`` → ``{jobId}`` (the original's)."""
    settings = request.app[SETTINGS]
    request.app[LIMITS].attempt(request)
    raw = await read_json(request, settings.api.max_body_bytes, settings.api.body_timeout_s)
    body = parse_mint_body(
        raw, wallet_field="walletAddress", allowed=frozenset({"settings", "walletAddress"})
    )
    return web.json_response({"jobId": await _accept(request, body)})


# the original's BullMQ job states
_LEGACY_STATES = {
    "queued": "waiting",
    "completed": "completed",
    "minted": "completed",
    "failed": "failed",
}


async def legacy_job_status(request: web.Request) -> web.Response:
    """``GET /api/gen1/job-status?jobId=`` → ``{status, progress, result?}`` (the original's)."""
    job_id = request.query.get("jobId", "")
    if not job_id:
        raise ApiError(400, "missing", "jobId is required", field="jobId")
    job = find_job(request, job_id)
    answer: dict[str, Any] = {
        "status": _LEGACY_STATES.get(job["state"], "active"),
        "progress": job["progress"],
    }
    result = job.get("result")
    if job["state"] in ("completed", "minted") and result:
        answer["result"] = {
            "imageUrl": f"ipfs://{result['gif_cid']}",
            "metadataUrl": result["token_uri"],
        }
    if job["state"] == "failed":
        answer["failedReason"] = job.get("reason") or "failed"
    return web.json_response(answer)


async def get_content(request: web.Request) -> web.StreamResponse:
    """``GET /ipfs/{cid}`` → the bytes, their content type, cached forever (content-addressed).

    From the local store; else, when there is somewhere else to ask (the pin backend's Kubo
    node, or ``LANTERN_STORE_GATEWAY_URL``), streamed from there without touching the disk.
    """
    cid = request.match_info["cid"]
    store: LocalStore = request.app[STORE]
    try:
        validate_cid(cid)
        path = await asyncio.to_thread(store.path, cid)
        content_type = await asyncio.to_thread(store.content_type, cid)
    except InvalidCid as exc:
        raise ApiError(400, "bad_cid", str(exc), field="cid") from exc
    except ContentNotFound as exc:
        settings = request.app[SETTINGS]
        gateways = Gateways(settings.pin, settings.store.gateway_url)
        if HOP in request.headers.get("Via", "") or not gateways.configured:
            raise ApiError(404, "not_found", f"no content {cid} here") from exc
        return await _from_gateway(request, cid, gateways)
    headers = {"Content-Type": content_type, **_content_headers(cid)}
    if request.headers.get("If-None-Match") == headers["ETag"]:
        return web.Response(status=304, headers=headers)
    return web.FileResponse(path, headers=headers)


def _content_headers(cid: str) -> dict[str, str]:
    return {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": f'"{cid}"',
        "X-Ipfs-Path": f"/ipfs/{cid}",
    }


async def _from_gateway(request: web.Request, cid: str, gateways: Gateways) -> web.StreamResponse:
    """Stream ``cid`` from the node's gateway, else the configured one (``pinning/gateway.py``);
    404 if neither has it.

    The bytes are hashed as they pass and the last piece is held back until they prove to be
    ``cid``; if they do not, or the gateway fails mid-way, the connection is cut, so no client
    ever gets a complete wrong answer.
    """
    if request.headers.get("If-None-Match") == f'"{cid}"':  # the same CID, the same bytes
        return web.Response(status=304, headers=_content_headers(cid))
    async with gateways.session() as http:
        try:
            upstream = await gateways.open(http, cid)
        except GatewayFailed as exc:
            if exc.timeout:
                raise ApiError(
                    504, "gateway_timeout", f"the IPFS gateway did not answer for {cid}"
                ) from exc
            raise ApiError(502, "bad_gateway", f"the IPFS gateway could not give {cid}") from exc
        if upstream is None:
            raise ApiError(404, "not_found", f"no content {cid} here")
        async with upstream:
            return await _relay(request, cid, upstream)


async def _relay(
    request: web.Request, cid: str, upstream: aiohttp.ClientResponse
) -> web.StreamResponse:
    """Stream a gateway's 200 to the client, checking the bytes against ``cid`` on the way."""
    content_type = upstream.headers.get("Content-Type", "application/octet-stream")
    response = web.StreamResponse(headers={"Content-Type": content_type, **_content_headers(cid)})
    if upstream.content_length is not None:
        response.content_length = upstream.content_length
    try:
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        hasher = CidHasher(cid_version=0 if cid.startswith("Qm") else 1)
        held = b""
        async for piece in upstream.content.iter_chunked(READ_BYTES):
            hasher.update(piece)
            if held:
                await response.write(held)
            held = piece
        if hasher.cid() != cid:
            log.warning("gateway sent other bytes for cid=%s (%s)", cid, upstream.url)
            return _cut(request, response)
        if held:
            await response.write(held)
        await response.write_eof()
    except ConnectionError:  # the client left
        return _cut(request, response)
    except (TimeoutError, aiohttp.ClientError) as exc:
        log.warning("gateway failed mid-way cid=%s (%s): %r", cid, upstream.url, exc)
        return _cut(request, response)
    return response


def _cut(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Abort the connection: an unfinished body is never mistaken for the whole one."""
    if request.transport is not None:
        request.transport.abort()
    return response


async def healthz(request: web.Request) -> web.Response:
    """The process is up."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the broker answers now and the job view has caught up."""
    checks = {
        "broker": request.app[SUBMITTER].connected and request.app[LIMITS].lag.reachable,
        "status_table": request.app[JOBS].caught_up.is_set(),
    }
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def _accept(request: web.Request, body: MintBody) -> str:
    """Admit, publish and show the job as queued at once; its id.

    With an ``Idempotency-Key`` the job id is derived from (wallet, key), so the same key gives
    the same job on any replica, after any restart; a replay with a different body is refused.
    """
    job_id = idempotent_job_id(request, body.wallet)
    if job_id is not None:
        existing = request.app[JOBS].get(job_id)
        if existing is not None:
            _same_request(existing, body)
            if existing["state"] != "queued" or existing.get("request_offset") is not None:
                return job_id
            # queued, yet no request of it is known to be on the log (a status published
            # without one): publish the request again rather than answer for nothing
            log.warning("re-publishing job=%s: no request on the log", job_id)
            queued = await request.app[SUBMITTER].submit(
                body.settings, body.options, body.wallet, job_id=job_id
            )
            request.app[JOBS].accept(_initial(queued.asdict()))
            return job_id
    limits, jobs, cost = request.app[LIMITS], request.app[JOBS], job_cost(body.options)
    try:
        limits.admit(request, body.wallet, cost, jobs.pending_frames)
        await limits.sizes.check(
            body.settings, body.options, request.app.get(PREVIEW_POOL), request.remote or ""
        )
    except ApiError as exc:
        request.app[METRICS].admission_refused.labels(exc.code).inc()
        raise
    limits.spend(request, body.wallet, cost)
    queued = await request.app[SUBMITTER].submit(
        body.settings, body.options, body.wallet, job_id=job_id
    )
    request.app[JOBS].accept(_initial(queued.asdict()))
    request.app[METRICS].jobs_submitted.inc()
    return str(queued.job_id)


_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def idempotent_job_id(request: web.Request, wallet: str) -> str | None:
    """The job id an ``Idempotency-Key`` stands for, or None without one."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _KEY.match(key):
        raise ApiError(400, "bad_idempotency_key", "Idempotency-Key must be 1–255 visible "
                       "ASCII characters", field="Idempotency-Key")  # fmt: skip
    return key_job_id(wallet, key)


def key_job_id(wallet: str, key: str) -> str:
    """The job id of (wallet, Idempotency-Key): the same on every replica, after restarts."""
    return hashlib.sha256(f"{wallet}\n{key}".encode()).hexdigest()[:32]


def _same_request(job: dict[str, Any], body: MintBody) -> None:
    original = job.get("request") or {}
    if (
        original.get("settings") != body.settings.to_dict()
        or original.get("options") != body.options.to_dict()
    ):
        raise ApiError(409, "conflict", "this Idempotency-Key was used with a different request",
                       field="Idempotency-Key")  # fmt: skip


def find_job(request: web.Request, job_id: str) -> dict[str, Any]:
    job = request.app[JOBS].get(job_id) if _JOB_ID.match(job_id) else None
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    bind(job_id=job_id)  # the request's later lines (its access log) name the job
    return job


def _initial(event: dict[str, Any]) -> dict[str, Any]:
    """A JobStatus-shaped dict for a job this API just queued."""
    at = event.get("at") or time.time()
    return {**{k: v for k, v in event.items() if k != "at"}, "created_at": at, "updated_at": at}


def public_job(job: dict[str, Any]) -> dict[str, Any]:
    """The v1 shape of a job (ARCHITECTURE §3)."""
    answer = {
        "job_id": job["job_id"],
        "state": job["state"],
        "progress": job["progress"],
        "stage": job.get("stage", ""),
        "detail": job.get("detail", ""),
        "created_at": job.get("created_at"),
        "updated_at": job.get("updated_at"),
    }
    if job.get("error"):  # the plain reason; the full one is for operators (GET /api/v1/jobs)
        answer["error"] = job.get("reason") or "the job failed"
    if job.get("result"):
        answer["result"] = job["result"]
    if job.get("token"):  # minted: its id, owner, transaction, block (and name once given)
        answer["token"] = job["token"]
    return answer
