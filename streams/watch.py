"""The watcher: finds stalled jobs and re-drives them; forgets finished jobs past retention.

Each worker looks only at the jobs in the status-table partitions it owns (actives, not standby
copies), so every job has exactly one watcher. It never writes a table itself: it publishes
events — a re-driven MintRequest and a StatusEvent saying so, or a purge StatusEvent — and the
stages and the status agent do the rest, as for any other event.

A stalled job is one in progress (rendering, encoding, pinning) with no status change for
``stall_after_s``; ``queued`` jobs are waiting their turn, not stalled. Re-driving publishes the
original request again with a higher generation: the split fans out again, the assembler keeps
the blocks it already holds (or re-pins a GIF already written), so the job resumes, never
starting from scratch twice.

A queued job is waiting its turn — unless its request is gone. The API's queued status says
where the request lies on ``mint-requests`` (partition, offset); when the workers' group has
committed past that offset on two looks in a row and the job is still queued, the request was
consumed and never processed (lost), and it is published again with a higher generation. A job
in a backlog is never re-published: its offset is not committed yet, however long it waits.
Only a queued job whose request lies at no known offset falls back on the clock
(``queued_max_age_s``). Each re-drive raises the generation, so each generation is re-driven at
most once; ``lantern_jobs_redriven_total{reason}`` counts them (stalled, lost, aged).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Container, Iterable, Mapping
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from faust.types import TableT

from lantern.contract import TERMINAL, JobStatus, MintRequest, StatusEvent

from .kafka_security import kafka_client_options
from .pipeline import Pipeline
from .topics import owned_partitions, partition_of

__all__ = ["CommittedOffsets", "attach", "expired", "idle_max", "lost", "stalled", "unplaced"]

log = logging.getLogger(__name__)
MAX_REDRIVES = 3


def stalled(jobs: Iterable[JobStatus], now: float, after: float) -> list[JobStatus]:
    """Jobs in progress with no change for ``after`` seconds that can still be re-driven."""
    return [
        job
        for job in jobs
        if job.state not in TERMINAL
        and job.state != "queued"
        and job.request is not None
        and now - job.updated_at > after
    ]


def idle_max(jobs: Iterable[JobStatus], now: float) -> float:
    """The longest any job in progress (past queued: a backlog is not a stall) has gone
    without a status change; 0 with none."""
    return max(
        (now - job.updated_at for job in jobs if job.state not in TERMINAL | {"queued"}),
        default=0.0,
    )


def lost(jobs: Iterable[JobStatus], committed: Mapping[int, int]) -> list[JobStatus]:
    """Queued jobs whose request's offset the workers' group has already committed past.

    ``committed`` maps a ``mint-requests`` partition to the group's committed offset (the next
    offset it will read). A request below it was consumed; if its job is still queued, the
    request was never processed. A request at or above it is waiting: a backlog, not a loss.
    """
    return [
        job
        for job in jobs
        if job.state == "queued"
        and job.request is not None
        and job.request_partition is not None
        and job.request_offset is not None
        and committed.get(job.request_partition, -1) > job.request_offset
    ]


def unplaced(jobs: Iterable[JobStatus], now: float, max_age: float) -> list[JobStatus]:
    """Queued jobs whose request lies at no known offset, queued for longer than ``max_age``."""
    return [
        job
        for job in jobs
        if job.state == "queued"
        and job.request is not None
        and job.request_offset is None
        and now - job.updated_at > max_age
    ]


class CommittedOffsets:
    """The workers' group's committed offsets on ``mint-requests``, asked of the broker."""

    def __init__(
        self, bootstrap: str, group: str, topic: str, options: Mapping[str, Any] | None = None
    ) -> None:
        self.bootstrap, self.group, self.topic = bootstrap, group, topic
        self.options = dict(options or {})  # kafka_client_options: TLS / SASL
        self._admin: AIOKafkaAdminClient | None = None

    async def fetch(self) -> dict[int, int] | None:
        """Partition → committed offset; None when the broker does not answer."""
        try:
            if self._admin is None:
                admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **self.options)
                await admin.start()
                self._admin = admin
            offsets = await self._admin.list_consumer_group_offsets(self.group)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("committed offsets unavailable: %r", exc)
            await self.close()
            return None
        return {
            tp.partition: meta.offset
            for tp, meta in offsets.items()
            if tp.topic == self.topic and meta.offset >= 0
        }

    async def close(self) -> None:
        """Drop the admin connection."""
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()
            self._admin = None


class OwnedJobs:
    """The jobs of a table whose partition this worker owns. A job's partition is Kafka's
    murmur2 of its id, 12 µs in Python: worked out once per job and kept while the job is in
    the table, not on every look (the table keeps finished jobs for ``retention_s``, so it
    holds far more jobs than are in progress)."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._partition: dict[str, int] = {}

    def among(
        self, items: Iterable[tuple[str, JobStatus | None]], mine: Container[int]
    ) -> list[JobStatus]:
        """The jobs of ``items`` (the table's) in partitions ``mine``; jobs no longer in the
        table are forgotten."""
        known = self._partition
        seen: dict[str, int] = {}
        jobs: list[JobStatus] = []
        for job_id, job in items:
            if job is None:
                continue
            partition = known.get(job_id)
            if partition is None:
                partition = partition_of(job_id, self.partitions)
            seen[job_id] = partition
            if partition in mine:
                jobs.append(job)
        self._partition = seen
        return jobs


def expired(
    jobs: Iterable[JobStatus], now: float, retention: float, keep: dict[str, int]
) -> list[JobStatus]:
    """Finished jobs older than ``retention``, beyond the newest ``keep[state]`` of each state."""
    out: list[JobStatus] = []
    for state, count in keep.items():
        finished = sorted((j for j in jobs if j.state == state), key=lambda j: -j.updated_at)
        out += [j for j in finished[count:] if now - j.updated_at > retention]
    return out


def attach(
    app: faust.App, pipe: Pipeline, table: TableT[str, JobStatus], requests: faust.TopicT
) -> None:
    """Start the watcher timer on this worker."""
    r = pipe.settings.reliability
    partitions = pipe.settings.kafka.partitions
    status_topic = pipe.names.status

    owned = OwnedJobs(partitions)

    offsets = CommittedOffsets(
        pipe.settings.kafka.bootstrap,
        pipe.settings.worker.app_id,
        pipe.names.mint_requests,
        kafka_client_options(pipe.settings.kafka),
    )
    suspects: set[tuple[str, int]] = set()  # (job, generation) seen lost on the last look

    async def close_offsets(sender: Any, *_: Any, **__: Any) -> None:
        await offsets.close()

    app.on_before_shutdown.connect(close_offsets)  # type: ignore[arg-type]  # mode types it loosely

    @app.timer(r.watch_interval_s, name="lantern.watch")  # type: ignore[untyped-decorator]
    async def watch() -> None:
        now = time.time()
        jobs = owned.among(list(table.items()), owned_partitions(app, status_topic))
        pipe.metrics.job_idle_max.set(idle_max(jobs, now))
        for job in stalled(jobs, now, r.stall_after_s):
            await _redrive(pipe, requests, job, now)
        committed = await offsets.fetch()
        if committed is not None:
            await _kick_idle_fetcher(app, pipe.names.mint_requests, committed)
            # twice in a row: the split may have taken the request a moment before its first
            # status reached the table
            seen = {(job.job_id, job.generation): job for job in lost(jobs, committed)}
            confirmed = seen.keys() & suspects
            for key in confirmed:
                await _republish(pipe, requests, seen[key], "lost")
            suspects.clear()
            suspects.update(seen.keys() - confirmed)
        for job in unplaced(jobs, now, r.queued_max_age_s):
            await _republish(pipe, requests, job, "aged")
        keep = {"completed": r.keep_completed, "failed": r.keep_failed}
        for job in expired(jobs, now, r.retention_s, keep):
            purge = StatusEvent(job_id=job.job_id, state=job.state, progress=0, purge=True)
            await pipe.publish(pipe.status_topic, job.job_id, purge)


FETCH_IDLE_S = 20.0


async def _kick_idle_fetcher(app: faust.App, topic: str, committed: Mapping[int, int]) -> None:
    """Seek the consumer again when requests wait beyond the committed offsets of its
    ``topic`` partitions and it has handed over nothing for ``FETCH_IDLE_S``: its fetcher was
    seen to sleep for good after a start with requests waiting (a rare stall not explained
    yet). A seek restarts it; the requests are read from their committed offsets, so nothing
    is skipped and at most some are read twice."""
    consumer: Any = app.consumer  # a LanternConsumer (streams/resume.py)
    tables: Any = app.tables
    if not hasattr(consumer, "reseek") or not tables.recovery.completed.is_set():
        return
    if not consumer.last_delivery:
        consumer.last_delivery = time.monotonic()  # the clock starts once it could fetch
    idle = time.monotonic() - consumer.last_delivery
    busy = consumer.unacked or any(not agent.channel.queue.empty() for agent in app.agents.values())
    if idle <= FETCH_IDLE_S or busy:  # a full pipeline is not a sleeping fetcher
        return
    tps = [tp for tp in consumer.assignment() if tp.topic == topic]
    if not tps:
        return
    ends = await consumer.highwaters(*tps)
    waiting = sum(max(0, ends[tp] - committed.get(tp.partition, 0)) for tp in tps)
    if waiting:
        log.warning("fetcher idle %.0fs with %d requests waiting: seeking again", idle, waiting)
        consumer.last_delivery = time.monotonic()
        await consumer.reseek()


async def _republish(pipe: Pipeline, requests: faust.TopicT, job: JobStatus, reason: str) -> None:
    """A queued job's request was lost (or lies nowhere known): publish it again."""
    if job.stalls >= MAX_REDRIVES:
        log.warning("lost job=%s: giving up after %d re-drives", job.job_id, job.stalls)
        await pipe.report(
            job.job_id, "failed", 0, stage="watch", detail="request lost",
            error=f"its request was lost {job.stalls + 1} times",
            reason="the job was lost in the queue and given up; submit it again",
        )  # fmt: skip
        return
    where = f"{job.request_partition}:{job.request_offset}"
    log.warning("%s job=%s request at %s: re-publishing (generation %d)", reason, job.job_id,
                where, job.generation + 1)  # fmt: skip
    await _drive_again(pipe, requests, job, reason, state="queued", stage="watch",
                       detail=f"request {reason}; published again")  # fmt: skip


async def _redrive(pipe: Pipeline, requests: faust.TopicT, job: JobStatus, now: float) -> None:
    idle = now - job.updated_at
    pipe.metrics.stalled.inc()
    if job.stalls >= MAX_REDRIVES:
        log.warning("stalled job=%s idle=%.0fs: giving up", job.job_id, idle)
        await pipe.report(
            job.job_id, "failed", 0, stage=job.stage or "watch",
            detail="stalled", error=f"no progress for {idle:.0f}s after {job.stalls} re-drives",
            reason="the job made no progress and was given up; submit it again",
        )  # fmt: skip
        return
    log.warning("stalled job=%s idle=%.0fs: re-driving (generation %d)", job.job_id, idle,
                job.generation + 1)  # fmt: skip
    await _drive_again(pipe, requests, job, "stalled", state=job.state, stage=job.stage,
                       detail=f"stalled for {idle:.0f}s; re-driven")  # fmt: skip


async def _drive_again(
    pipe: Pipeline,
    requests: faust.TopicT,
    job: JobStatus,
    reason: str,
    *,
    state: str,
    stage: str,
    detail: str,
) -> None:
    """The job's request again with the next generation, then a status saying where it lies
    (the request first, as the API publishes it: a status never speaks for a request not on
    the log)."""
    assert job.request is not None
    generation = job.generation + 1
    request = MintRequest(**{**job.request, "generation": generation, "attempt": 1})
    meta = await (await requests.send(key=job.job_id, value=request))
    status = StatusEvent(
        job_id=job.job_id, state=state, progress=0, stage=stage, detail=detail,
        stalls=job.stalls + 1, generation=generation,
        request_partition=meta.partition, request_offset=meta.offset, at=time.time(),
    )  # fmt: skip
    await pipe.publish(pipe.status_topic, job.job_id, status)
    pipe.metrics.redriven.labels(reason).inc()
