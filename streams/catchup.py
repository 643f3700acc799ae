"""Partitions kept out of the worker's fetches: standby copies and quiet topics read in
batches, the active tables' changelogs held paused between recoveries.

A worker's consumer fetches every partition it holds in one request, and a fetch returns as
soon as any of them has a record, so every record on any of them wakes the worker (and the
broker) for a whole fetch, and every fetch names every partition: measured, the standby copies
were about a third of the pipeline's load-dependent cost, and a worker's CPU a job grows with
the partitions it holds (bench/RESULTS.md). Three kinds of partition need no record the moment
it is written:

- standby copies of the tables (the other worker's status and assembly records): read every
  ``LANTERN_WORKER_STANDBY_CATCHUP_S`` (2 s);
- the quiet topics (``quiet_topics``: retries, which wait seconds anyway; the bulk lane's
  tasks; the chain's events, place and token updates): read every
  ``LANTERN_WORKER_QUIET_CATCHUP_S`` (1 s);
- the changelogs of the tables' active partitions, which faust reads only to recover a table
  (``HeldChangelogs``): held paused until the next rebalance.

A partition of the first two kinds, once the broker has reported its end since it was last
resumed and the consumer has read to that end, is paused in the consumer; every interval the
paused ones are resumed and stay so until a fetch has named them and they are read to the end
again (under load that is one fetch; idle, the fetch in flight may first wait its 1.5 s). A
partition with records waiting is never paused, so a bulk job's tasks or a burst of retries
are read as fast as without this. A copy is then a few seconds behind at most; a worker taking
its partition over reads those records first, as it would read the rest of the changelog
without a copy.

Rebalances and table recovery are left alone: nothing is paused while one is under way; a
standby partition paused before one is resumed at the next catch-up whatever happened, an
active changelog at once; a stream partition is resumed only after the recovery (faust seeks
stream partitions before resuming them, streams/resume.py), and one that a new assignment has
already unpaused is forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, cast

import faust
from aiokafka.structs import TopicPartition
from faust.types import TP

from .topics import TopicNames

__all__ = ["Batches", "HeldChangelogs", "attach", "quiet_topics"]

log = logging.getLogger(__name__)

# how often paused partitions are looked at: a resumed one is paused again this long after a
# fetch has read it to the end, at most
TICK_S = 0.25


def quiet_topics(names: TopicNames) -> frozenset[str]:
    """The topics whose records may wait for the next catch-up."""
    chain = {names.chain_events, names.chain_cursor, names.token_updates}
    return frozenset({names.retry, names.frame_tasks_bulk, *chain})


def attach(app: faust.App, standby_every: float, quiet_every: float, quiet: frozenset[str]) -> None:
    """Hold the active changelogs paused between recoveries; read the standby copies every
    ``standby_every`` seconds and the ``quiet`` topics every ``quiet_every`` (0: record by
    record, as faust reads them)."""
    kinds: list[Batches | HeldChangelogs] = [HeldChangelogs(app)]
    if standby_every > 0:
        kinds.append(Batches(app, standby_every, _standby, streams=False))
    if quiet_every > 0 and quiet:
        kinds.append(Batches(app, quiet_every, partial(_of_topics, quiet), streams=True))

    @app.task  # type: ignore[untyped-decorator]
    async def catch_up() -> None:
        while True:
            await asyncio.sleep(TICK_S)
            for batches in kinds:
                try:
                    await batches.tick(time.monotonic())
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # never stop: a pause must always be undone
                    log.warning("catch-up of paused partitions: %s", exc)


class Batches:
    """One kind of partition read in batches: paused in the consumer itself (faust runs aiokafka
    in a thread of its own: the calls are made there), resumed every ``every`` seconds. It
    remembers what it paused and when each partition was last resumed."""

    def __init__(
        self,
        app: faust.App,
        every: float,
        candidates: Callable[[faust.App, Any], Iterable[TP]],
        streams: bool,
    ) -> None:
        self.app = app
        self.every = every
        self.candidates = candidates
        self.streams = streams  # stream partitions: resumed only once a recovery is over
        self.paused: set[TP] = set()
        self.resumed_ms: dict[TP, int] = {}  # wall-clock ms, as aiokafka stamps each fetch
        self.last_resume = time.monotonic()

    async def tick(self, now: float) -> None:
        """Resume what is paused if the interval is up, else pause what is ready."""
        if now - self.last_resume >= self.every:
            if await self.resume():
                self.last_resume = now
        else:
            await self.pause()

    async def pause(self) -> None:
        """Pause every candidate read to the end since it was last resumed."""
        self.paused |= await _in_consumer(self.app, _pause, self)

    async def resume(self) -> bool:
        """Resume what this paused; False (nothing done) while stream partitions must wait for a
        rebalance or recovery to end."""
        if not self.paused:
            return True
        if self.streams and _busy(self.app):
            return False
        back = await _in_consumer(self.app, _resume, self.paused)
        stamp = int(1000 * time.time())
        self.resumed_ms = {tp: stamp for tp in back}
        self.paused = set()
        return True


class HeldChangelogs:
    """The changelogs of the tables' active partitions, held paused in the consumer between
    recoveries. faust reads them only to recover a table and afterwards pauses them in its own
    bookkeeping alone, so aiokafka goes on fetching them: every fetch names them (a third of a
    lone worker's partitions), and the first record this worker writes to each, fetched back
    and never consumed, holds every fetch of the worker back for aiokafka's prefetch backoff
    (0.1 s). Paused in the consumer once a recovery is over; resumed the moment a rebalance or
    recovery is under way, should one find them still paused (a new assignment starts
    unpaused, so this is a safety net)."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.paused: set[TP] = set()

    async def tick(self, now: float) -> None:
        self.paused = await _in_consumer(self.app, _hold, self.paused)


async def _in_consumer(app: faust.App, action: Any, *args: Any) -> set[TP]:
    """``action(thread, app, *args)`` run in faust's consumer thread, where aiokafka runs and
    the assignment changes: the partitions it reports."""
    thread = app.consumer._thread  # type: ignore[attr-defined]
    done: set[TP] = await thread.call_thread(action, thread, app, *args)
    return done


async def _hold(thread: Any, app: faust.App, paused: set[TP]) -> set[TP]:
    """In the consumer's thread: pause the active changelog partitions not yet paused, or, while
    a rebalance or recovery is under way, resume those paused. What is paused now."""
    if _busy(app):
        await _resume(thread, app, paused)
        return set()
    consumer = thread._ensure_consumer()
    assigned = consumer.assignment()
    held = {tp for tp in paused if tp in assigned}
    recovery: Any = cast(Any, app.tables).recovery
    # faust goes on reading a table's changelog after recovery when it buffers one record
    # (recovery_buffer_size 1): none of Lantern's tables does, but such a table's are left alone
    reading = {tp for tp, table in recovery.tp_to_table.items() if table.recovery_buffer_size == 1}
    fresh = {
        tp
        for tp in set(recovery.active_tps) - set(recovery.standby_tps) - reading
        if tp in assigned and tp not in held
    }
    if fresh:
        consumer.pause(*map(_kafka, fresh))
    return held | fresh


def _busy(app: faust.App) -> bool:
    """A rebalance or a table recovery is under way."""
    recovery: Any = cast(Any, app.tables).recovery
    return bool(app.rebalancing or recovery.in_recovery or not recovery.completed.is_set())


def _standby(app: faust.App, consumer: Any) -> set[TP]:
    """The standby changelog partitions (a lone worker holds none)."""
    recovery: Any = cast(Any, app.tables).recovery
    return set(recovery.standby_tps) - set(recovery.active_tps)


def _of_topics(topics: frozenset[str], app: faust.App, consumer: Any) -> set[TP]:
    """The partitions of ``topics`` the consumer holds."""
    return {tp for tp in consumer.assignment() if tp.topic in topics}


async def _pause(thread: Any, app: faust.App, batches: Batches) -> set[TP]:
    """In the consumer's thread, where the assignment changes: pause the candidates not yet
    paused that are assigned, named by a fetch since they were last resumed and read to the end
    it reported; none while a rebalance or recovery is under way. A partition with records
    waiting (a standby copy still reading its changelog after a worker joined, a bulk job's
    tasks) is left to read on."""
    if _busy(app):
        return set()
    consumer = thread._ensure_consumer()
    assigned = consumer.assignment()
    since = batches.resumed_ms
    ready = {
        tp
        for tp in set(batches.candidates(app, consumer)) - batches.paused
        if tp in assigned and _read_to_end(consumer, tp, since.get(tp, 0))
    }
    if ready:
        consumer.pause(*map(_kafka, ready))
    return ready


async def _resume(thread: Any, app: faust.App, tps: set[TP]) -> set[TP]:
    """In the consumer's thread: resume those of ``tps`` still assigned (a new assignment
    starts unpaused)."""
    consumer = thread._ensure_consumer()
    assigned = consumer.assignment()
    back = {tp for tp in tps if tp in assigned}
    if back:
        consumer.resume(*map(_kafka, back))
    return back


def _kafka(tp: TP) -> TopicPartition:
    """aiokafka's own tuple for ``tp`` (its pause and resume refuse faust's)."""
    return TopicPartition(tp.topic, tp.partition)


def _read_to_end(consumer: Any, tp: TP, since_ms: int) -> bool:
    """Whether a fetch since ``since_ms`` (wall-clock ms) has named ``tp`` and the consumer has
    read to the end it reported. Read from the partition's state: aiokafka's ``position`` would
    wait for one, holding up the consumer's thread."""
    partition = _kafka(tp)
    state = consumer._subscription._assigned_state(partition)
    end, fetched = state.highwater, state.timestamp
    return (
        end is not None
        and fetched is not None
        and fetched >= since_ms
        and state.has_valid_position
        and state.position >= end
    )
