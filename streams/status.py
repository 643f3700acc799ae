"""Status stage: every agent's StatusEvents folded into the changelog-backed ``job-status`` table.

The fold is the one place that decides what a job's status is: progress never goes backwards, and
a state moves only as ``lantern.contract.TRANSITIONS`` allows. The API materialises the same
table from its changelog topic (``api/jobs.py``) and applies nothing of its own.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from faust.types import TableT

from lantern.contract import TIMELINE_MAX, TRANSITIONS, JobState, JobStatus, StatusEvent
from lantern.logs import log_context

from .topics import STATUS_TABLE

__all__ = ["attach", "fold"]

log = logging.getLogger(__name__)


def fold(current: JobStatus | None, event: StatusEvent) -> JobStatus | None:
    """The job's status after ``event`` (None: forget it).

    Progress never goes backwards and a state moves only as ``TRANSITIONS`` allows (an
    out-of-order event of an earlier stage, a late event of a finished job change nothing);
    an explicit operator retry of a failed job (``reopen``) starts it again at 0.
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
            token=event.token,
            created_at=at,
            updated_at=at,
            request=event.request,
            request_partition=event.request_partition,
            request_offset=event.request_offset,
            generation=event.generation,
            trace=event.trace,
            timeline=[_entry(event, at)],
        )
    if event.reopen and current.state == JobState.FAILED:
        return current.derive(
            state=JobState.QUEUED.value, progress=0, stage=event.stage, detail=event.detail,
            error=None, reason=None,
            generation=max(current.generation, event.generation),
            retries=current.retries + 1, updated_at=at, **_request_position(current, event),
            timeline=_grown(current, event, at),
        )  # fmt: skip
    if not _moves(current.state, event.state):
        # out of order, after the end, or a state this version does not know: the state stays,
        # but an earlier step arriving late (a queued status overtaken by the split's) still
        # gives what the job lacks: its wallet, its start, its place in the timeline
        if event.state == JobState.QUEUED and not event.reopen and at < current.created_at:
            return current.derive(
                wallet=current.wallet or event.wallet,
                created_at=at,
                timeline=[_entry(event, at), *(current.timeline or [])][:TIMELINE_MAX],
            )
        return current
    return current.derive(
        state=event.state,
        progress=max(current.progress, event.progress),
        stage=event.stage or current.stage,
        detail=event.detail,
        error=event.error,
        reason=event.reason,
        result=event.result or current.result,
        wallet=current.wallet or event.wallet,
        # the token's record grows (minted, then named): later fields over earlier ones
        token={**(current.token or {}), **event.token} if event.token else current.token,
        updated_at=max(at, current.updated_at),
        request=current.request or event.request,
        generation=max(current.generation, event.generation),
        stalls=max(current.stalls, event.stalls),
        trace=event.trace or (None if event.state != JobState.FAILED else current.trace),
        timeline=_grown(current, event, at),
        **_request_position(current, event),
    )


def _entry(event: StatusEvent, at: float) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "at": at, "state": event.state, "stage": event.stage, "detail": event.detail,
    }  # fmt: skip
    if event.error:
        entry["error"] = event.error
    return entry


def _grown(current: JobStatus, event: StatusEvent, at: float) -> list[dict[str, Any]]:
    """The job's timeline with ``event`` added when it changes the state or the stage, fails,
    or retries (progress within a stage is not history)."""
    moved = event.state != current.state or (event.stage and event.stage != current.stage)
    if not (moved or event.error or event.reopen or "retrying" in event.detail):
        return current.timeline or []  # a progress tick: nothing to copy
    timeline = [*(current.timeline or []), _entry(event, at)]
    if len(timeline) > TIMELINE_MAX:
        timeline = [timeline[0], *timeline[-(TIMELINE_MAX - 1) :]]
    return timeline


def _request_position(current: JobStatus, event: StatusEvent) -> dict[str, int | None]:
    """The request's place on mint-requests: the newest drive's, once it has been published."""
    if event.request_offset is None or event.generation < current.generation:
        return {
            "request_partition": current.request_partition,
            "request_offset": current.request_offset,
        }
    return {"request_partition": event.request_partition, "request_offset": event.request_offset}


def _moves(current: str, new: str) -> bool:
    """True if a job in state ``current`` may move to ``new``."""
    known = {state.value for state in JobState}
    return current in known and new in known and JobState(new) in TRANSITIONS[JobState(current)]


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
            with log_context(job_id=event.job_id, stage="status"):
                _apply(table, event)

    return topic, table


def _apply(table: TableT[str, JobStatus], event: StatusEvent) -> None:
    before = table.get(event.job_id)
    after = fold(before, event)
    if after is None:
        if before is not None:
            del table[event.job_id]  # a tombstone: compaction forgets the job
            log.info("status purged job=%s", event.job_id)
    elif after is not before:
        table[event.job_id] = after
        log.info("status job=%s state=%s progress=%d", event.job_id, after.state, after.progress)
