"""Publishing accepted jobs to Kafka: the one place the API writes to the broker.

A job is accepted once its request is on the broker's log (acks=all); if the broker cannot take
it in time the caller gets 503 and nothing is accepted. The request goes first and the ``queued``
status follows, carrying where the request lies (partition, offset): a status never speaks of a
request that is not on the log, and the watcher can tell a request already consumed but never
processed from one still waiting. Should the status not follow (the broker gone in between),
the job is accepted all the same: the split stage's first status carries the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from lantern.contract import JobEnded, MintRequest, StatusEvent
from lantern.logs import bind
from lantern.settings import Settings
from lantern.tracing import carrier, span
from render import Gen1Settings, RenderOptions
from streams.kafka_security import kafka_client_options
from streams.topics import TopicNames

from .errors import ApiError

__all__ = ["Submitter"]

log = logging.getLogger(__name__)


class Submitter:
    """An aiokafka producer that (re)connects in the background and publishes jobs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.names = TopicNames.from_settings(settings)
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """True once the producer has reached the broker."""
        return self._producer is not None

    async def start(self) -> None:
        """Connect now if the broker answers, else keep trying in the background."""
        self._task = asyncio.create_task(self._connect(), name="producer-connect")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.shield(self._task), self.settings.api.readiness_timeout_s
            )

    async def stop(self) -> None:
        """Flush and close the producer."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _connect(self) -> None:
        k = self.settings.kafka
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=k.bootstrap,
                acks="all",
                enable_idempotence=True,
                max_request_size=k.max_message_bytes,
                request_timeout_ms=int(k.request_timeout_s * 1000),
                **kafka_client_options(k),
            )
            try:
                await producer.start()
            except KafkaError as exc:
                log.warning("broker unreachable, retrying: %s", exc)
                await producer.stop()
                await asyncio.sleep(1.0)
                continue
            self._producer = producer
            log.info("producer connected bootstrap=%s", k.bootstrap)
            return

    async def submit(
        self,
        settings: Gen1Settings,
        options: RenderOptions,
        wallet: str,
        job_id: str | None = None,
    ) -> StatusEvent:
        """Publish a new job; its ``queued`` status event is returned. 503 if the broker fails."""
        job_id = job_id or uuid.uuid4().hex
        bind(job_id=job_id)  # the rest of the request's lines name the job
        now = time.time()
        with span("submit", {"lantern.job_id": job_id}):  # the job's trace starts here
            request = MintRequest(
                job_id=job_id,
                settings=settings.to_dict(),
                options=options.to_dict(),
                wallet=wallet,
                submitted_at=now,
                trace=carrier(),
            )
            queued = StatusEvent(
                job_id=job_id, state="queued", progress=0, stage="api", detail="queued",
                wallet=wallet, at=now, request=request.asdict(),
            )  # fmt: skip
            queued = await self._publish(queued, request)
        log.info("queued job=%s wallet=%s", job_id, wallet)
        return queued

    async def resubmit(self, job: dict[str, Any]) -> StatusEvent:
        """An operator retry of a failed job: reopen it and drive it again (next generation)."""
        generation = int(job.get("generation", 0)) + 1
        with span("retry", {"lantern.job_id": job["job_id"], "lantern.generation": generation}):
            trace = carrier()  # the retry is a trace of its own
        request = MintRequest(
            **{**job["request"], "generation": generation, "attempt": 1, "trace": trace}
        )
        reopen = StatusEvent(
            job_id=request.job_id, state="queued", progress=0, stage="api",
            detail="retry requested", at=time.time(), reopen=True, generation=generation,
        )  # fmt: skip
        reopen = await self._publish(reopen, request)
        log.info("retry job=%s generation=%d", request.job_id, generation)
        return reopen

    async def cancel(self, job: dict[str, Any]) -> StatusEvent:
        """An operator's cancel of an unfinished job: it fails with that reason, and the
        assembler forgets what it holds of it (work in flight finishes and is discarded)."""
        job_id = job["job_id"]
        why = "cancelled by an operator"
        failed = StatusEvent(
            job_id=job_id, state="failed", progress=0, stage="operator", detail=why,
            error=why, reason=why, at=time.time(), generation=int(job.get("generation", 0)),
        )  # fmt: skip
        ended = JobEnded(job_id=job_id, how="failed", generation=failed.generation)
        await self._send(self.names.status, job_id, failed.dumps())
        await self._send(self.names.frames, job_id, ended.dumps())
        log.info("cancel job=%s", job_id)
        return failed

    async def purge(self, job_id: str, state: str) -> None:
        """Forget a finished job's status (a tombstone in the status changelog follows)."""
        purge = StatusEvent(job_id=job_id, state=state, progress=0, purge=True, at=time.time())
        await self._send(self.names.status, job_id, purge.dumps())

    async def _send(self, topic: str, key: str, value: bytes) -> None:
        if self._producer is None:
            raise _unavailable("the broker is unavailable; try again shortly")
        try:
            async with asyncio.timeout(self.settings.kafka.request_timeout_s):
                await self._producer.send_and_wait(topic, value, key=key.encode())
        except (KafkaError, TimeoutError) as exc:
            log.warning("publish to %s failed key=%s: %r", topic, key, exc)
            raise _unavailable("the broker did not take it; retry") from exc

    async def _publish(self, status: StatusEvent, request: MintRequest) -> StatusEvent:
        """The request on the broker's log, then its status; 503 if the request is not taken."""
        if self._producer is None:
            raise _unavailable("the job queue is unavailable; try again shortly")
        key = status.job_id.encode()
        timeout = self.settings.kafka.request_timeout_s
        try:
            async with asyncio.timeout(timeout):
                meta = await self._producer.send_and_wait(
                    self.names.mint_requests, request.dumps(), key=key
                )
        except (KafkaError, TimeoutError) as exc:
            log.warning("publish failed job=%s: %r", status.job_id, exc)
            raise _unavailable("the job queue did not accept the job; retry") from exc
        status = status.derive(request_partition=meta.partition, request_offset=meta.offset)
        try:
            async with asyncio.timeout(timeout):
                await self._producer.send_and_wait(self.names.status, status.dumps(), key=key)
        except (KafkaError, TimeoutError) as exc:
            # accepted all the same: the request is on the log, and the split stage's first
            # status carries it
            log.warning("queued status not published job=%s: %r", status.job_id, exc)
        return status


def _unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message, headers={"Retry-After": "2"})
