"""Standby table copies brought up to date in batches, not record by record.

faust keeps each table's standby copy current by fetching its changelog partitions with the
worker's stream partitions. A fetch returns as soon as any partition it names has a record, so
every changelog record the other worker writes (a status, an assembly state) wakes this
worker's consumer for a whole fetch, which names every partition it holds: measured, the
standby copies were about a third of the pipeline's load-dependent cost (bench/RESULTS.md).

Here the standby partitions are paused in the consumer between catch-ups: every
``LANTERN_WORKER_STANDBY_CATCHUP_S`` seconds they are resumed for one fetch's worth of time and
read to where the other worker's writes stand, then paused again. A copy is then at most that
many seconds behind; a worker taking its partition over reads those records first, as it
would read the rest of the changelog without a copy (milliseconds, not the minutes of a full
replay). Table recovery is left alone: nothing is paused while a rebalance or recovery is under
way, every pause is undone at the next catch-up whatever happened in between, and a new
assignment starts unpaused.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust
from aiokafka.structs import TopicPartition
from faust.types import TP

__all__ = ["attach"]

log = logging.getLogger(__name__)

# how long the standby partitions stay resumed: a fetch that finds records returns at once, and
# the consumer hands them over within milliseconds
CATCH_UP_WINDOW_S = 0.25


def attach(app: faust.App, every: float) -> None:
    """Pause the standby changelog partitions between catch-ups every ``every`` seconds (0:
    never paused, as faust keeps them)."""
    if every <= 0:
        return

    @app.task  # type: ignore[untyped-decorator]
    async def catch_up_standbys() -> None:
        batches = StandbyBatches(app)
        while True:
            await asyncio.sleep(every)
            try:
                await batches.resume()
                await asyncio.sleep(CATCH_UP_WINDOW_S)
                await batches.pause()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never stop catching up: a pause must always be undone
                log.warning("standby catch-up: %s", exc)


class StandbyBatches:
    """Pauses and resumes the standby partitions in the consumer itself (faust runs aiokafka in a
    thread of its own: the calls are made there), and remembers what it paused."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.paused: set[TP] = set()

    async def pause(self) -> None:
        recovery: Any = cast(Any, self.app.tables).recovery
        if recovery.standby_tps:  # a lone worker holds none
            self.paused |= await self._in_consumer(_pause, set(recovery.standby_tps))

    async def resume(self) -> None:
        if self.paused:
            await self._in_consumer(_resume, self.paused)
            self.paused = set()

    async def _in_consumer(self, action: Any, tps: set[TP]) -> set[TP]:
        thread = self.app.consumer._thread  # type: ignore[attr-defined]
        done: set[TP] = await thread.call_thread(action, thread, tps, self.app)
        return done


async def _pause(thread: Any, tps: set[TP], app: faust.App) -> set[TP]:
    """In the consumer's thread, where the assignment changes: pause those of ``tps`` that are
    still standby partitions of the current assignment and have been read to the end the broker
    last reported; none while a rebalance or recovery is under way. A copy still catching up (a
    worker that has just joined reads the whole changelog) is left to read on: a takeover must
    find it current."""
    consumer = thread._ensure_consumer()
    recovery: Any = cast(Any, app.tables).recovery
    if app.rebalancing or recovery.in_recovery or not recovery.completed.is_set():
        return set()
    assigned = consumer.assignment()
    standby = set(recovery.standby_tps) - set(recovery.active_tps)
    still = {tp for tp in tps if tp in assigned and tp in standby and _read_to_end(consumer, tp)}
    if still:
        consumer.pause(*map(_kafka, still))
    return still


async def _resume(thread: Any, tps: set[TP], app: faust.App) -> set[TP]:
    """In the consumer's thread: resume those of ``tps`` still assigned (a new assignment starts
    unpaused)."""
    consumer = thread._ensure_consumer()
    assigned = consumer.assignment()
    back = {tp for tp in tps if tp in assigned}
    if back:
        consumer.resume(*map(_kafka, back))
    return back


def _kafka(tp: TP) -> TopicPartition:
    """aiokafka's own tuple for ``tp`` (its pause and resume refuse faust's)."""
    return TopicPartition(tp.topic, tp.partition)


def _read_to_end(consumer: Any, tp: TP) -> bool:
    """Whether the consumer has read ``tp`` to the end the broker last reported. Its position is
    read from the partition's state: aiokafka's ``position`` would wait for one, holding up the
    consumer's thread."""
    partition = _kafka(tp)
    end, state = consumer.highwater(partition), consumer._subscription._assigned_state(partition)
    return end is not None and state.has_valid_position and state.position >= end
