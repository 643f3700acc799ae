"""What every stage shares: settings, topics, the content store, the render pool, status, retries.

A ``Pipeline`` is built once per worker (``streams/worker.py``) and handed to each stage's
``attach``. Rendering is synchronous and CPU-bound, so it runs in a process pool that opens when
the worker starts and closes when it stops; agents only await it.

Every stage's work on an event runs through ``guard``: first the one entry hook (``enter``: the
record's contract version, then any fault drill), then the work itself; if either raises, the
event is retried later or dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import faust

from lantern.contract import (
    TRACE_MAX_CHARS,
    DeadLetter,
    RetryEnvelope,
    StatusEvent,
    check_version,
)
from lantern.logs import log_context
from lantern.settings import Settings
from lantern.tracing import span
from monitoring.metrics import WorkerMetrics
from pinning.gateway import SharedContent
from pinning.store import LocalStore
from render import RenderOptions
from render.errors import SettingsError

from .errors import public_reason
from .faults import Faults
from .lanes import Lane, LanePool, lane_of
from .retry import backoff_delay
from .topics import TopicNames

__all__ = ["STAGE_STATE", "Outcome", "Pipeline", "is_permanent"]

log = logging.getLogger(__name__)
R = TypeVar("R")

# the state a job is in while a stage works on it (a retry notice keeps it there)
STAGE_STATE = {
    "split": "rendering",
    "render": "rendering",
    "assemble": "encoding",
    "pin": "pinning",
    "chain": "minted",
}


def is_permanent(exc: BaseException) -> bool:
    """True for errors a retry cannot fix: invalid input, or errors that say so themselves."""
    return isinstance(exc, SettingsError) or getattr(exc, "retryable", True) is False


@dataclass
class Outcome:
    """How a stage's guarded work on an event ended."""

    failed: bool = False  # raised: retried later or dead-lettered
    final: bool = False  # dead-lettered: the job has failed


@dataclass
class Pipeline:
    """Shared state of one worker's stages."""

    settings: Settings
    names: TopicNames
    store: LocalStore
    status_topic: faust.TopicT
    retry_topic: faust.TopicT
    dead_letter_topic: faust.TopicT
    pool: LanePool  # the render processes (``run``), live work first
    metrics: WorkerMetrics
    # folds a status event into this worker's status table in place, if it may (status.py)
    fold_here: Callable[[StatusEvent], bool] = lambda event: False

    async def run(
        self, fn: Callable[..., R], *args: Any, lane: Lane = Lane.LIVE, order: tuple[Any, ...] = ()
    ) -> R:
        """Run a synchronous, CPU-bound ``fn`` in the render pool, in ``lane``'s turn and in
        ``order`` among the runs waiting in it (``LanePool``)."""
        return await self.pool.run(lane, fn, *args, order=order)

    def lane(self, options: RenderOptions) -> Lane:
        """The lane of a job with these options."""
        return lane_of(options, self.settings.worker.bulk_above_frames)

    async def publish(
        self, topic: faust.TopicT, key: str, value: Any, partition: int | None = None
    ) -> None:
        """Send and wait until the broker has it: an event is never acked before its output."""
        sent = await topic.send(key=key, value=value, partition=partition)
        await sent

    async def report(
        self,
        job_id: str,
        state: str,
        progress: int,
        *,
        stage: str,
        detail: str = "",
        error: str | None = None,
        reason: str | None = None,
        result: dict[str, Any] | None = None,
        here: bool = False,
        **request: Any,
    ) -> None:
        """Send one StatusEvent for ``job_id`` (``request``: its request and where it lies).

        ``error`` is the full reason of a failure (operators); ``reason`` the plain one users
        see, which without one is only which stage failed. ``here``: fold it into this worker's
        status table in place when the stage's input is the job's own partition of a topic
        keyed by the job (``status.LocalFold``), else send it.
        """
        if error is not None and reason is None:
            reason = f"the job failed in its {stage} stage"
        event = StatusEvent(
            job_id=job_id,
            state=state,
            progress=progress,
            stage=stage,
            detail=detail,
            error=error,
            reason=reason,
            result=result,
            at=time.time(),
            **request,
        )
        if not (here and self.fold_here(event)):
            await self.publish(self.status_topic, job_id, event)
        if state == "completed":
            self.metrics.jobs_completed.inc()

    @cached_property
    def shared(self) -> SharedContent:
        """What the workers share besides Kafka: the pin backend's node, if it has one (the
        assembler adds each GIF to it, the pin stage reads it from there when it lacks it)."""
        return SharedContent.create(self.settings.pin, self.settings.store.gateway_url)

    @cached_property
    def faults(self) -> Faults:
        """The drills ``LANTERN_FAULTS_*`` configures (none in production)."""
        return Faults(self.settings.faults, marks=self.settings.store.blocks_dir)

    def enter(self, point: str, subject: object) -> None:
        """The one hook at the entry of a stage's work: refuse a record of a newer contract
        (``NewerContract``, permanent: dead-lettered at once), then apply the fault drills
        configured for ``point`` (``faults.py``). ``guard`` calls it for every event; the
        assembler also calls it as it starts to write a job's GIF (``assemble.finish``)."""
        check_version(subject)
        self.faults.enter(point, subject)

    async def guard(
        self,
        stage: str,
        event: faust.Record,
        work: Callable[[], Awaitable[object]],
        *,
        job_id: str,
        topic: str,
        key: str,
        partition: int | None = None,
    ) -> Outcome:
        """Enter ``stage`` with ``event`` (``enter``) and do its ``work``; if either raises,
        retry the event later or dead-letter it.

        ``topic``/``key``/``partition`` say where the event came from, so a retry goes back to
        the same place. The job's status says what happened either way.
        """
        outcome = Outcome()
        started = time.perf_counter()
        attempt = int(getattr(event, "attempt", 1))
        spec = getattr(event, "spec", None)
        parent = getattr(event, "trace", None) or getattr(spec, "trace", None)
        attributes = {"lantern.job_id": job_id, "lantern.stage": stage, "lantern.attempt": attempt}
        with (
            log_context(job_id=job_id, stage=stage, attempt=attempt),  # on every line of it
            # a span of the job's trace; housekeeping (a JobEnded) belongs to none
            span(stage, attributes, parent) if isinstance(parent, dict) else nullcontext(),
        ):
            try:
                self.enter(stage, event)
                await work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome.failed = True
                outcome.final = await self._failed(job_id, stage, event, exc, topic, key, partition)
            else:
                self.metrics.stage_seconds.labels(stage).observe(time.perf_counter() - started)
        return outcome

    async def _failed(
        self,
        job_id: str,
        stage: str,
        event: faust.Record,
        exc: Exception,
        topic: str,
        key: str,
        partition: int | None,
    ) -> bool:
        """Send the failed ``event`` to be retried, or to the dead letters: True if it died."""
        reason = f"{type(exc).__name__}: {exc}"
        trace = "".join(traceback.format_exception(exc))[-TRACE_MAX_CHARS:]
        attempt = int(getattr(event, "attempt", 1))
        attempts = self.settings.reliability.attempts
        if is_permanent(exc) or attempt >= attempts:
            self.metrics.dead_letters.labels(stage).inc()
            log.warning("dead letter job=%s stage=%s attempt=%d: %s",
                        job_id, stage, attempt, reason)  # fmt: skip
            public = public_reason(stage, exc)
            await self._dead_letter(
                job_id, stage, event, topic, key, attempt, reason, public, trace
            )
            return True
        self.metrics.retries.labels(stage).inc()
        delay = backoff_delay(attempt, self.settings.reliability.backoff_s)
        log.warning("retrying job=%s stage=%s attempt=%d in %.1fs: %s",
                    job_id, stage, attempt, delay, reason)  # fmt: skip
        envelope = RetryEnvelope(
            job_id=job_id,
            stage=stage,
            topic=topic,
            key=key,
            payload=event.derive(attempt=attempt + 1).dumps().decode(),
            attempt=attempt + 1,
            due_at=time.time() + delay,
            error=reason,
            partition=partition,
        )
        await self.publish(self.retry_topic, job_id, envelope)
        await self.report(
            job_id,
            STAGE_STATE.get(stage, "rendering"),
            0,
            stage=stage,
            # the reason stays out of the public detail (the logs and the envelope have it)
            detail=f"{stage} failed (attempt {attempt} of {attempts}); retrying in {delay:.1f}s",
        )
        return False

    async def _dead_letter(
        self,
        job_id: str,
        stage: str,
        event: faust.Record,
        topic: str,
        key: str,
        attempts: int,
        reason: str,
        public: str,
        trace: str,
    ) -> None:
        letter = DeadLetter(
            job_id=job_id,
            stage=stage,
            topic=topic,
            key=key,
            payload=event.dumps().decode(),
            attempts=attempts,
            error=reason,
            at=time.time(),
            trace=trace,
        )
        await self.publish(self.dead_letter_topic, job_id, letter)
        noun = "attempt" if attempts == 1 else "attempts"
        await self.report(
            job_id,
            "failed",
            0,
            stage=stage,
            detail=f"{stage} failed after {attempts} {noun}",
            error=reason,
            reason=public,
            trace=trace,
        )

    def gateway_url(self, cid: str) -> str:
        """An HTTP link to ``cid`` through the configured gateway (the API's own by default)."""
        base = self.settings.store.gateway_url or f"{self.settings.api.base_url}/ipfs/"
        return f"{base.rstrip('/')}/{cid}"
