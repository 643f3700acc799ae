"""Operator routes, behind a bearer token (``LANTERN_API_ADMIN_TOKEN``).

GET  /api/v1/jobs?state=failed&limit=100   jobs by state, newest first, with counts
GET  /api/v1/jobs/{id}/detail              one job whole: request, timeline, error and trace
POST /api/v1/jobs/{id}/retry               drive a failed job again
POST /api/v1/jobs/{id}/cancel              fail an unfinished job ("cancelled by an operator")
POST /api/v1/jobs/retry-failed             retry every failed job that has its request
POST /api/v1/jobs/purge?older_than_s=…     forget finished jobs (never minted ones) older than …
GET  /api/v1/dead-letters?limit=50         the newest dead letters, with their errors
GET  /api/v1/workers                       the workers' group: members and their partitions
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from lantern.contract import STATES, TERMINAL
from streams.kafka_security import kafka_client_options
from streams.topics import TopicNames

from .errors import ApiError
from .keys import JOBS, SETTINGS, SUBMITTER

__all__ = [
    "cancel_job",
    "dead_letters",
    "job_detail",
    "list_jobs",
    "purge_jobs",
    "require_admin",
    "retry_failed",
    "retry_job",
    "workers",
]


PURGEABLE = ("completed", "failed")  # minted jobs are the tokens' record: kept


def require_admin(request: web.Request) -> None:
    """401 unless the request carries the operator token; 403 when no token is configured."""
    token = request.app[SETTINGS].api.admin_token
    if not token:
        raise ApiError(403, "forbidden", "operator routes are off: set LANTERN_API_ADMIN_TOKEN")
    # header bytes that are not UTF-8 arrive as surrogates: compare them as the bytes they were
    given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        raise ApiError(
            401, "unauthorized", "a valid operator token is required",
            headers={"WWW-Authenticate": 'Bearer realm="lantern-admin"'},
        )  # fmt: skip


def _limit(request: web.Request, default: int, most: int) -> int:
    raw = request.query.get("limit", str(default))
    # ASCII digits only ("²".isdigit() is true, int("²") is not), and no more than fit the range
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= most:
        raise ApiError(422, "invalid", f"limit: must be a whole number from 1 to {most}",
                       field="limit")  # fmt: skip
    return int(raw)


async def list_jobs(request: web.Request) -> web.Response:
    """Jobs in one state (or all), newest first, and how many there are in each state."""
    require_admin(request)
    state = request.query.get("state")
    if state is not None and state not in STATES:
        raise ApiError(422, "invalid", f"state: must be one of {', '.join(STATES)}",
                       field="state")  # fmt: skip
    limit = _limit(request, 100, 1000)
    view = request.app[JOBS]
    counts = view.states
    chosen = [job for job in view.jobs.values() if state is None or job["state"] == state]
    chosen.sort(key=lambda job: job.get("updated_at") or 0, reverse=True)
    return web.json_response(
        {
            "counts": {s: counts.get(s, 0) for s in STATES},
            "jobs": [_summary(job) for job in chosen[:limit]],
        }
    )


async def retry_job(request: web.Request) -> web.Response:
    """Drive a failed job again from its original request; 409 unless it has failed."""
    require_admin(request)
    job_id = request.match_info["job_id"]
    job = request.app[JOBS].get(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    if job["state"] != "failed":
        raise ApiError(409, "conflict", f"job {job_id} is {job['state']}; only failed jobs retry")
    if not job.get("request"):
        raise ApiError(409, "conflict", f"job {job_id} has no stored request to retry")
    await request.app[SUBMITTER].resubmit(job)
    return web.json_response(
        {"job_id": job_id, "state": "queued", "status_url": f"/api/v1/jobs/{job_id}"},
        status=202,
    )


def _find(request: web.Request) -> dict[str, Any]:
    job_id = request.match_info["job_id"]
    job = request.app[JOBS].get(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    return job


async def job_detail(request: web.Request) -> web.Response:
    """Everything the status table holds of one job, for the operator."""
    require_admin(request)
    job = _find(request)
    return web.json_response({k: v for k, v in job.items() if k != "version"})


async def cancel_job(request: web.Request) -> web.Response:
    """Fail an unfinished job on an operator's word; 409 once it has finished."""
    require_admin(request)
    job = _find(request)
    if job["state"] in TERMINAL:
        raise ApiError(409, "conflict", f"job {job['job_id']} is {job['state']}: nothing to cancel")
    await request.app[SUBMITTER].cancel(job)
    return web.json_response({"job_id": job["job_id"], "state": "failed"}, status=202)


async def retry_failed(request: web.Request) -> web.Response:
    """Retry every failed job that has its request (oldest first, at most ``limit``)."""
    require_admin(request)
    limit = _limit(request, 1000, 10_000)
    failed = [job for job in request.app[JOBS].jobs.values() if job["state"] == "failed"]
    failed.sort(key=lambda job: job.get("updated_at") or 0)
    retried, skipped = [], []
    for job in failed[:limit]:
        if not job.get("request"):
            skipped.append(job["job_id"])
            continue
        await request.app[SUBMITTER].resubmit(job)
        retried.append(job["job_id"])
    return web.json_response({"retried": retried, "skipped": skipped}, status=202)


async def purge_jobs(request: web.Request) -> web.Response:
    """Forget completed and failed jobs last changed more than ``older_than_s`` ago (minted
    jobs are the tokens' record: never purged)."""
    require_admin(request)
    raw = request.query.get("older_than_s", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
        raise ApiError(422, "invalid", "older_than_s: a whole number of seconds is required",
                       field="older_than_s")  # fmt: skip
    cutoff = time.time() - int(raw)
    old = [
        job
        for job in request.app[JOBS].jobs.values()
        if job["state"] in PURGEABLE and (job.get("updated_at") or 0) < cutoff
    ]
    for job in old:
        await request.app[SUBMITTER].purge(job["job_id"], job["state"])
    return web.json_response({"purged": [job["job_id"] for job in old]}, status=202)


async def workers(request: web.Request) -> web.Response:
    """The workers' consumer group as the broker describes it: each member and the partitions
    it owns, by topic."""
    require_admin(request)
    settings = request.app[SETTINGS]
    group = settings.worker.app_id
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka.bootstrap, **kafka_client_options(settings.kafka)
    )
    try:
        async with asyncio.timeout(settings.kafka.request_timeout_s):
            await admin.start()
            (response,) = await admin.describe_consumer_groups([group])
    except (KafkaError, TimeoutError, OSError) as exc:
        raise ApiError(503, "unavailable", "the broker did not answer; retry shortly",
                       headers={"Retry-After": "5"}) from exc  # fmt: skip
    finally:
        await admin.close()
    (described,) = response.groups
    _error, _group, state, _protocol_type, _protocol, members, *_ = described
    return web.json_response(
        {"group": group, "state": state, "members": [_member(m) for m in members]}
    )


def _member(member: tuple[Any, ...]) -> dict[str, Any]:
    member_id, client_id, host, _metadata, assignment, *_ = member
    partitions: dict[str, list[int]] = {}
    if assignment:
        decoded = ConsumerProtocolMemberAssignment.decode(assignment)
        partitions = {topic: sorted(parts) for topic, parts in decoded.assignment}
    return {"member_id": member_id, "client_id": client_id, "host": host.lstrip("/"),
            "partitions": dict(sorted(partitions.items()))}  # fmt: skip


async def dead_letters(request: web.Request) -> web.Response:
    """The newest dead letters across all partitions."""
    require_admin(request)
    limit = _limit(request, 50, 500)
    settings = request.app[SETTINGS]
    topic = TopicNames.from_settings(settings).dead_letters
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        **kafka_client_options(settings.kafka),
    )
    letters: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(settings.kafka.request_timeout_s):
            await consumer.start()
        tps = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(0, ends[tp] - limit))
        behind = {tp for tp in tps if ends[tp] > 0}
        while behind:
            batches = await consumer.getmany(timeout_ms=1000)
            if not batches:
                break
            for tp, records in batches.items():
                if records and records[-1].offset + 1 >= ends[tp]:
                    behind.discard(tp)
                letters += [_letter(r.value) for r in records if r.value is not None]
    except (KafkaError, TimeoutError) as exc:
        raise ApiError(503, "unavailable", "the broker did not answer; retry shortly",
                       headers={"Retry-After": "5"}) from exc  # fmt: skip
    finally:
        await consumer.stop()
    letters.sort(key=lambda letter: letter.get("at", 0), reverse=True)
    return web.json_response({"dead_letters": letters[:limit]})


def _letter(raw: bytes) -> dict[str, Any]:
    letter: dict[str, Any] = json.loads(raw)
    letter.pop("__faust", None)
    return letter


def _summary(job: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "job_id",
        "state",
        "progress",
        "stage",
        "detail",
        "error",
        "reason",
        "wallet",
        "created_at",
        "updated_at",
        "retries",
        "generation",
    )  # operators see the full reason beside the plain one
    return {k: job.get(k) for k in keys}
