"""Status stage: every agent's StatusEvents folded into the changelog-backed ``job-status`` table.

The fold is the one place that decides what a job's status is: progress never goes backwards and
a terminal state (``completed``, ``failed``) is final. The API materialises the same table from
its changelog topic (``api/jobs.py``) and applies nothing of its own.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from faust.types import TableT

from .topics import STATUS_TABLE

__all__ = ["STATES", "TERMINAL", "JobStatus", "StatusEvent", "attach", "fold"]

log = logging.getLogger(__name__)

# queued → rendering → encoding → pinning → completed, or failed from any of them
STATES = ("queued", "rendering", "encoding", "pinning", "completed", "failed")
TERMINAL = frozenset({"completed", "failed"})


class StatusEvent(faust.Record, serializer="json"):
    """One stage's word on a job: its state, progress (0–100, GEN1_SPEC §3) and detail."""

    job_id: str
    state: str
    progress: int
    stage: str = ""
    detail: str = ""
    error: str | None = None  # the full reason of a failure, for operators
    reason: str | None = None  # … and the plain one shown to the user (public_reason)
    result: dict[str, Any] | None = None
    wallet: str | None = None
    at: float = 0.0
    request: dict[str, Any] | None = None  # the MintRequest, on the API's queued event
    # where that request lies on mint-requests: the watcher tells a lost request (its offset
    # already committed) from one still waiting in the backlog
    request_partition: int | None = None
    request_offset: int | None = None
    generation: int = 0  # the drive this event belongs to
    reopen: bool = False  # an operator retry: a failed job starts again
    stalled: bool = False  # the watcher found no progress and re-drove the job
    stalls: int = 0  # … for the n-th time (a count, not an increment: redelivery-safe)
    purge: bool = False  # retention: forget the job
    version: int = 1


class JobStatus(faust.Record, serializer="json"):
    """What is known of a job: the fold of all its StatusEvents."""

    job_id: str
    state: str
    progress: int
    stage: str = ""
    detail: str = ""
    error: str | None = None
    reason: str | None = None
    result: dict[str, Any] | None = None
    wallet: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    request: dict[str, Any] | None = None
    request_partition: int | None = None
    request_offset: int | None = None
    generation: int = 0
    stalls: int = 0
    retries: int = 0  # operator retries
    version: int = 1


def fold(current: JobStatus | None, event: StatusEvent) -> JobStatus | None:
    """The job's status after ``event`` (None: forget it).

    Progress never goes backwards, a stage never moves back, and a terminal state is final —
    except for an explicit operator retry of a failed job, which starts it again at 0.
    """
    at = event.at or time.time()
    if event.purge:
        return None
    if current is None:
        return JobStatus(
            job_id=event.job_id,
            state=event.state,
            progress=event.progress,
            stage=event.stage,
            detail=event.detail,
            error=event.error,
            reason=event.reason,
            result=event.result,
            wallet=event.wallet,
            created_at=at,
            updated_at=at,
            request=event.request,
            request_partition=event.request_partition,
            request_offset=event.request_offset,
            generation=event.generation,
        )
    if current.state in TERMINAL:
        if event.reopen and current.state == "failed":
            return current.derive(
                state="queued", progress=0, stage=event.stage, detail=event.detail,
                error=None, reason=None,
                generation=max(current.generation, event.generation),
                retries=current.retries + 1, updated_at=at, **_request_position(current, event),
            )  # fmt: skip
        return current  # a late or redelivered event cannot reopen a finished job
    if event.state != "failed" and _rank(event.state) < _rank(current.state):
        return current  # an out-of-order event from an earlier stage
    return current.derive(
        state=event.state,
        progress=max(current.progress, event.progress),
        stage=event.stage or current.stage,
        detail=event.detail,
        error=event.error,
        reason=event.reason,
        result=event.result or current.result,
        wallet=current.wallet or event.wallet,
        updated_at=max(at, current.updated_at),
        request=current.request or event.request,
        generation=max(current.generation, event.generation),
        stalls=max(current.stalls, event.stalls),
        **_request_position(current, event),
    )


def _request_position(current: JobStatus, event: StatusEvent) -> dict[str, int | None]:
    """The request's place on mint-requests: the newest drive's, once it has been published."""
    if event.request_offset is None or event.generation < current.generation:
        return {
            "request_partition": current.request_partition,
            "request_offset": current.request_offset,
        }
    return {"request_partition": event.request_partition, "request_offset": event.request_offset}


def _rank(state: str) -> int:
    return STATES.index(state) if state in STATES else -1


def attach(
    app: faust.App, topic_name: str, partitions: int
) -> tuple[faust.TopicT, TableT[str, JobStatus]]:
    """Declare the status topic, the table and the agent that folds one into the other."""
    topic = app.topic(topic_name, key_type=str, value_type=StatusEvent, partitions=partitions)
    table = app.Table(
        STATUS_TABLE, key_type=str, value_type=JobStatus, partitions=partitions, default=None
    )

    @app.agent(topic, name="lantern.status", concurrency=1)  # only concurrency 1 may write
    async def fold_status(events: faust.StreamT[StatusEvent]) -> None:
        async for event in events:
            before = table.get(event.job_id)
            after = fold(before, event)
            if after is None:
                if before is not None:
                    del table[event.job_id]  # a tombstone: compaction forgets the job
                    log.info("status purged job=%s", event.job_id)
            elif after is not before:
                table[event.job_id] = after
                log.info(
                    "status job=%s state=%s progress=%d", event.job_id, after.state, after.progress
                )

    return topic, table
