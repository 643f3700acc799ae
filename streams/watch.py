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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import faust
from aiokafka.partitioner import DefaultPartitioner
from faust.types import TableT

from .pipeline import Pipeline
from .split import MintRequest
from .status import TERMINAL, JobStatus, StatusEvent

__all__ = ["attach", "expired", "stalled"]

log = logging.getLogger(__name__)
_partitioner = DefaultPartitioner()
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
    partitions = list(range(pipe.settings.kafka.partitions))
    status_topic = pipe.names.status

    def owned(job_id: str) -> bool:
        partition = _partitioner(job_id.encode(), partitions, partitions)
        actives = app.assignor.assigned_actives()
        return any(tp.topic == status_topic and tp.partition == partition for tp in actives)

    @app.timer(r.watch_interval_s, name="lantern.watch")  # type: ignore[untyped-decorator]
    async def watch() -> None:
        now = time.time()
        jobs = [job for job_id, job in list(table.items()) if job is not None and owned(job_id)]
        for job in stalled(jobs, now, r.stall_after_s):
            await _redrive(pipe, requests, job, now)
        keep = {"completed": r.keep_completed, "failed": r.keep_failed}
        for job in expired(jobs, now, r.retention_s, keep):
            purge = StatusEvent(job_id=job.job_id, state=job.state, progress=0, purge=True)
            await pipe.publish(pipe.status_topic, job.job_id, purge)


async def _redrive(pipe: Pipeline, requests: faust.TopicT, job: JobStatus, now: float) -> None:
    idle = now - job.updated_at
    if pipe.metrics is not None:
        pipe.metrics.stalled.inc()
    if job.stalls >= MAX_REDRIVES:
        log.warning("stalled job=%s idle=%.0fs: giving up", job.job_id, idle)
        await pipe.report(
            job.job_id, "failed", 0, stage=job.stage or "watch",
            detail="stalled", error=f"no progress for {idle:.0f}s after {job.stalls} re-drives",
        )  # fmt: skip
        return
    generation = job.generation + 1
    assert job.request is not None
    request = MintRequest(**{**job.request, "generation": generation, "attempt": 1})
    log.warning("stalled job=%s idle=%.0fs: re-driving (generation %d)", job.job_id, idle,
                generation)  # fmt: skip
    await pipe.publish(
        pipe.status_topic,
        job.job_id,
        StatusEvent(
            job_id=job.job_id, state=job.state, progress=0, stage=job.stage,
            detail=f"stalled for {idle:.0f}s; re-driven", stalled=True, stalls=job.stalls + 1,
            generation=generation,
            at=time.time(),
        ),
    )  # fmt: skip
    await pipe.publish(requests, job.job_id, request)
