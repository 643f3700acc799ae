"""Status stage: every agent's StatusEvents folded into the changelog-backed ``job-status`` table.

The fold is the one place that decides what a job's status is: progress never goes backwards, and
a state moves only as ``lantern.contract.TRANSITIONS`` allows. The API materialises the same
table from its changelog topic (``api/jobs.py``) and applies nothing of its own.

Events reach the fold two ways. Most go through the ``status`` topic to the agent below. The
assembler and the pin stage fold theirs in place (``LocalFold``): their input topics are keyed
by the job, like the status topic, so the worker reading a job's frames or pin request holds
that job's partition of the table too: the status event (one of a report's two records) and
its read by the agent are saved. The table's changelog record is written all the same, before
the input event is committed (faust flushes its producer before it commits).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from faust.streams import current_event
from faust.types import TP, TableT

from lantern.contract import TIMELINE_MAX, TRANSITIONS, JobState, JobStatus, StatusEvent
from lantern.logs import log_context

from .topics import STATUS_TABLE, partition_of

__all__ = ["LocalFold", "attach", "fold"]

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
    if _late_step(current, event):
        # a report of an earlier stage, overtaken within the same state (the split's, sent
        # through the topic, after the assembler's folded in place): its fields, not its step
        event = event.derive(stage=current.stage, detail=current.detail)
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


# the stages in the order a job meets them (a retry notice or a failure may come from any)
_STAGE_ORDER = {stage: n for n, stage in enumerate(("api", "split", "render", "assemble", "pin"))}


def _late_step(current: JobStatus, event: StatusEvent) -> bool:
    """True for a plain report of an earlier stage than the job's, in the same state."""
    if event.state != current.state or event.error or "retrying" in event.detail:
        return False
    earlier = _STAGE_ORDER.get(event.stage or "", -1)
    return 0 <= earlier < _STAGE_ORDER.get(current.stage or "", -1)


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


class LocalFold:
    """Folds a stage's status event into this worker's part of the table, where it may."""

    def __init__(self, app: faust.App, table: TableT[str, JobStatus], partitions: int) -> None:
        self.app = app
        self.table = table
        self.partitions = partitions

    def __call__(self, event: StatusEvent) -> bool:
        """Fold ``event`` here and return True if the record being processed lies on the job's
        own partition and this worker holds that partition of the table; else False (send it
        through the status topic)."""
        current = current_event()
        if current is None:  # a timer's, not a stream's: no partition to write under
            return False
        partition = partition_of(event.job_id, self.partitions)
        if current.message.partition != partition:
            return False
        changelog = self.table.changelog_topic.get_topic_name()
        if TP(changelog, partition) not in self.app.assignor.assigned_actives():
            return False  # revoked meanwhile: its new holder folds it from the topic
        with log_context(job_id=event.job_id, stage="status"):
            _apply(self.table, event)
        return True
