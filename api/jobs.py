"""The API's view of every job: the workers' status table, materialised from its changelog.

A plain aiokafka consumer (no consumer group) reads the compacted ``job-status`` changelog from
the beginning and keeps the latest value per job in memory; it is ready once it has caught up
with the end offsets it saw at start. This avoids faust GlobalTable's known issues in a second
app (NOTES_KAFKA_FAUST) and keeps the API stateless: any replica answers for any job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from streams.settings import Settings
from streams.topics import status_changelog

__all__ = ["JobView"]

log = logging.getLogger(__name__)


class JobView:
    """Latest status of every job, by job id, kept current from the changelog topic."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = status_changelog(settings)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.caught_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's status as the workers last wrote it, or None if unknown."""
        return self.jobs.get(job_id)

    def accept(self, status: dict[str, Any]) -> None:
        """Record a job this API has just queued, until the changelog speaks for it."""
        known = self.jobs.get(status["job_id"])
        if known is None or (known["state"] == "queued" and known.get("request_offset") is None):
            self.jobs[status["job_id"]] = status

    async def wait_changed(self, job_id: str, timeout: float) -> None:
        """Return when the job's status changes (or is removed), or after ``timeout`` seconds.

        Only that job's changes wake the caller: a thousand open event streams cost nothing
        while other jobs move.
        """
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, set()).add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, timeout)
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[job_id]

    def notify(self, job_ids: Iterable[str]) -> None:
        """Wake everyone waiting on these jobs (after the changelog has changed them)."""
        for job_id in job_ids:
            for waiter in self._waiters.pop(job_id, ()):
                if not waiter.done():
                    waiter.set_result(None)

    async def start(self) -> None:
        """Start following the changelog in the background."""
        self._task = asyncio.create_task(self._follow(), name="job-view")

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka.bootstrap,
                enable_auto_commit=False,
                group_id=None,  # no group: every partition, from the beginning, each start
                auto_offset_reset="earliest",
                max_partition_fetch_bytes=self.settings.kafka.max_message_bytes,
            )
            try:
                await consumer.start()
                await self._consume(consumer)
            except KafkaError as exc:
                log.warning("status changelog unreachable, retrying: %s", exc)
                await asyncio.sleep(1.0)
            finally:
                await consumer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        consumer.subscribe([self.topic])
        while not consumer.assignment():
            # the topic is created by `lantern up` / ensure_topics; wait for its metadata
            await consumer.getmany(timeout_ms=200)
        tps = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*tps)
        targets = await consumer.end_offsets(tps)
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            changed = {
                self._apply(record.key, record.value)
                for records in batches.values()
                for record in records
            }
            self.notify(job_id for job_id in changed if job_id is not None)
            if not self.caught_up.is_set() and await _reached(consumer, targets):
                log.info("job view caught up jobs=%d", len(self.jobs))
                self.caught_up.set()

    def _apply(self, key: bytes | None, value: bytes | None) -> str | None:
        """Record one changelog entry: the job it changed, if any."""
        if key is None:
            return None
        job_id: str = json.loads(key)
        if value is None:
            self.jobs.pop(job_id, None)  # a tombstone: the job's status was cleaned up
            return job_id
        status = json.loads(value)
        status.pop("__faust", None)
        self.jobs[job_id] = status
        return job_id


async def _reached(consumer: AIOKafkaConsumer, targets: dict[Any, int]) -> bool:
    """True when the consumer's position is at or past ``targets`` on every partition."""
    for tp, end in targets.items():
        if await consumer.position(tp) < end:
            return False
    return True
