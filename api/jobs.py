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
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from lantern.contract import TERMINAL, job_cost
from lantern.settings import Settings
from monitoring.metrics import ApiMetrics
from render import RenderOptions, SettingsError
from streams.kafka_security import kafka_client_options
from streams.topics import status_changelog

from .background import BackgroundLoop

__all__ = ["FINISHED", "JobView", "job_cost"]

FINISHED = ("completed", "failed")  # where the pipeline's work on a job ends

log = logging.getLogger(__name__)


class JobView(BackgroundLoop):
    """Latest status of every job, by job id, kept current from the changelog topic (followed
    in the background: ``start``, ``stop``)."""

    task_name = "job-view"

    def __init__(self, settings: Settings, metrics: ApiMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics  # jobs seen finishing live: their count and end-to-end time
        self.topic = status_changelog(settings)
        self.jobs: dict[str, dict[str, Any]] = {}
        # kept as jobs change, so neither admission nor a scrape walks every job
        self.states: Counter[str] = Counter()
        self.pending_frames = 0.0  # work of unfinished jobs not yet done, in default frames
        self._pending: dict[str, float] = {}
        self._costs: dict[str, float] = {}  # cost of each unfinished job
        self.caught_up = asyncio.Event()
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's status as the workers last wrote it, or None if unknown."""
        return self.jobs.get(job_id)

    def accept(self, status: dict[str, Any]) -> None:
        """Record a job this API has just queued, until the changelog speaks for it."""
        known = self.jobs.get(status["job_id"])
        if known is None or (known["state"] == "queued" and known.get("request_offset") is None):
            self._put(status["job_id"], status)

    def _put(self, job_id: str, status: dict[str, Any] | None) -> None:
        """Set (or with None remove) a job's status, keeping the counts and the work in step."""
        old = self.jobs.pop(job_id, None)
        if status is not None and self.caught_up.is_set():
            self._count_finished(old, status)
        if old is not None:
            self.states[old["state"]] -= 1
            self.pending_frames -= self._pending.pop(job_id, 0.0)
        if status is None or status["state"] in TERMINAL:
            self._costs.pop(job_id, None)
        if status is None:
            return
        self.jobs[job_id] = status
        self.states[status["state"]] += 1
        if status["state"] not in TERMINAL:
            cost = self._costs.get(job_id)
            if cost is None:  # a job's options never change: parsed once, not per event
                cost = self._costs[job_id] = _cost_of(status)
            left = cost * (1 - min(100, max(0, status.get("progress", 0))) / 100)
            self._pending[job_id] = left
            self.pending_frames += left
        if not self._pending:
            self.pending_frames = 0.0  # no drift from float sums once the queue is empty

    def _count_finished(self, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        """Count a job that has just completed or failed (not one replayed at start-up, nor
        a completed job being minted)."""
        state = new["state"]
        if self.metrics is None or state not in FINISHED:
            return
        if old is not None and old["state"] in TERMINAL:
            return
        stage = "pin" if state == "completed" else (new.get("stage") or "unknown")
        self.metrics.jobs_finished.labels(state, stage).inc()
        if state == "completed":
            took = float(new.get("updated_at") or 0) - float(new.get("created_at") or 0)
            if took > 0:
                self.metrics.job_seconds.observe(took)

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

    async def _run(self) -> None:
        """Follow the changelog, reconnecting while the broker is away."""
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka.bootstrap,
                enable_auto_commit=False,
                group_id=None,  # no group: every partition, from the beginning, each start
                auto_offset_reset="earliest",
                max_partition_fetch_bytes=self.settings.kafka.max_message_bytes,
                **kafka_client_options(self.settings.kafka),
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
            self._put(job_id, None)  # a tombstone: the job's status was cleaned up
            return job_id
        status = json.loads(value)
        status.pop("__faust", None)
        self._put(job_id, status)
        return job_id


def _cost_of(status: dict[str, Any]) -> float:
    """The job's cost from the request its status carries (default options without one)."""
    options = (status.get("request") or {}).get("options") or {}
    try:
        return job_cost(RenderOptions.from_dict(options))
    except SettingsError:  # written by an older version: count it as a default job
        return job_cost(RenderOptions())


async def _reached(consumer: AIOKafkaConsumer, targets: dict[Any, int]) -> bool:
    """True when the consumer's position is at or past ``targets`` on every partition."""
    for tp, end in targets.items():
        if await consumer.position(tp) < end:
            return False
    return True
