"""How a worker resumes its partitions: seek first, then fetch; commit only what was processed.

faust-streaming 0.15.3 (the newest release) loses events in two places, both measured on
Lantern (``tests/integration/test_drills.py``) and fixed here by subclassing what faust lets an
application replace (its ``TableManager`` setting, the transport's ``Consumer`` class):

1. **Resume before seek.** After a rebalance, ``Recovery.on_recovery_completed`` resumes the
   stream partitions, then seeks them to their committed offsets. Table recovery has already
   resumed the flow, so the fetcher reads the waiting requests in between, and the seek then
   resets the consumer's read offsets under it. What follows (seen in the worker's log as
   ``DROPPED MESSAGE ROFF``): the first copies sit in the agents' buffers, which the final
   ``flow_control.resume()`` clears; the copies fetched again after the seek are dropped as
   "already read"; and the read offsets that jumped ahead are recorded as a gap, which the
   commit counts as done. On a broker with earlier jobs, 2–7 of 20 requests submitted while a
   worker started were committed and never split (faust-streaming #216 fixed this order for
   workers without tables only). ``LanternRecovery`` seeks while the partitions are still
   paused, clears the buffers, and only then resumes them.
2. **Commits past work in flight.** ``Consumer._new_offset`` skips the head of a partition when
   exactly one offset is missing between the committed offset and the first acked one — meant
   for holes left by compaction, but it is equally an event still being processed by another
   actor of an agent with concurrency > 1 (the render stage runs four): the commit passes it,
   and a crash then loses it (faust-streaming #606). ``LanternConsumer`` withholds the commit
   while an event below the acked run is still in flight. It also refuses the acks faust gives
   events it skipped without processing (fetched in an older generation of the group, or while
   the flow was stopped; faust-streaming #221): those are fetched again after the seek, and
   acking the stale copy let the commit pass the offset before the fresh copy was processed.

``LanternApp`` also sends without giving the event loop a turn (``maybe_start_producer``), so
that what an agent sends in a row leaves in one produce request.

The classes copy no more of faust than the method they correct; ``pyproject.toml`` pins faust
to the release they were written against, and the unit tests check that its code is still the
one corrected here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any, cast

import faust
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ProducerT
from faust.types.tuples import Message

__all__ = [
    "LanternApp",
    "LanternConsumer",
    "LanternRecovery",
    "LanternTableManager",
    "LanternTransport",
    "in_flight_below",
]


class LanternRecovery(Recovery):
    """faust's table recovery, resuming the stream partitions only after seeking them."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Tables are current: seek the stream partitions, clear stale buffers, then fetch."""
        self.log.info("Restore complete!")
        await self.app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [
            asyncio.ensure_future(
                table.on_recovery_completed(
                    self.actives_for_table[table], self.standbys_for_table[table]
                )
            )
            for table in self.tables.values()
        ]
        if callbacks:
            await asyncio.wait(callbacks)
        await self._resume_after_seek(generation_id)

    async def _resume_streams(self, generation_id: int = 0) -> None:
        """The same for an app without tables to recover."""
        await self.app.on_rebalance_complete.send()
        await self._resume_after_seek(generation_id)

    async def _resume_after_seek(self, generation_id: int) -> None:
        app = self.app
        consumer = app.consumer
        if app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again")
            return
        assignment = consumer.assignment()
        streams = {tp for tp in assignment if not self._is_changelog_tp(tp)}
        if assignment:
            # the stream partitions are still paused: nothing is fetched from them before
            # the consumer stands at their committed offsets
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(_seek(consumer, streams), timeout=app.conf.broker_request_timeout)
        self.completed.set()
        # resume() clears every agent's buffer: anything left there predates the seek
        app.flow_control.resume()
        consumer.resume_partitions(streams)
        consumer.resume_flow()
        await cast(Any, app)._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")


async def _seek(consumer: Any, streams: set[TP]) -> None:
    """Every stream partition to its committed offset, or to its start if it has none.

    aiokafka's ``seek_to_committed`` leaves a partition without a committed offset where
    it was, with whatever was prefetched for it while it was paused; such records were seen
    never to be handed over (requests sent to a partition that was empty when the worker
    joined waited for the next restart). Seeking those to the start drops that buffer too.
    """
    await consumer.perform_seek()
    fresh = [tp for tp in streams if consumer._committed_offset.get(tp) is None]
    if fresh:
        starts = await consumer.earliest_offsets(*fresh)
        # in the consumer's own thread (faust runs aiokafka in one): a seek from this thread
        # wakes nothing there, and the fetcher was seen to sleep for good
        await consumer.seek_wait({tp: starts[tp] for tp in fresh})


class LanternTableManager(TableManager):
    """faust's table manager with ``LanternRecovery``."""

    @property
    def recovery(self) -> Recovery:
        """The recovery service (``LanternRecovery``)."""
        if self._recovery is None:
            self._recovery = LanternRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


class LanternConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer, committing only offsets whose events were all processed."""

    last_delivery: float = 0.0  # monotonic time the fetcher last handed over a record

    def _to_message(self, tp: TP, record: Any) -> Any:
        self.last_delivery = time.monotonic()
        return super()._to_message(tp, record)

    async def reseek(self) -> None:
        """Seek every stream partition to its committed offset again (see ``_seek``)."""
        changelogs = self.app.tables.changelog_topics
        streams = {tp for tp in self.assignment() if tp.topic not in changelogs}
        await _seek(self, streams)

    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """faust's commit, after the app's ``before_commit`` hooks: faust then takes the
        offsets to commit, flushes the producer and commits them, with no await before the
        offsets are taken, so every event those offsets cover has had its hooks' writes."""
        for hook in getattr(self.app, "before_commit", ()):
            hook()
        return bool(await super().force_commit(topics, start_new_transaction))

    def ack(self, message: Message) -> bool:
        """Ack a processed event; an event the stream skipped unprocessed is not acked."""
        if not message.tracked:
            # faust tracks every event it hands to an agent; an untracked one was skipped for
            # its stale generation or a stopped flow, and comes back after the seek
            return False
        return bool(super().ack(message))

    def _new_offset(self, tp: TP) -> int | None:
        committed = self._committed_offset[tp]
        acked = self._acked[tp]
        if (
            acked
            and committed is not None
            and in_flight_below(
                (m.offset for m in self._unacked_messages if m.tp == tp and not m.acked),
                committed,
                min(acked),
            )
        ):
            return None
        return super()._new_offset(tp)


def in_flight_below(in_flight: Any, committed: int, first_acked: int) -> bool:
    """True if an event between the committed offset and the first acked one is in flight."""
    return any(committed <= offset < first_acked for offset in in_flight)


class LanternTransport(faust_aiokafka.Transport):
    """faust's aiokafka transport with ``LanternConsumer``."""

    Consumer = LanternConsumer


class LanternApp(faust.App):
    """A faust App on ``LanternTransport`` and ``LanternTableManager``, with hooks run just
    before each commit of offsets (``before_commit``)."""

    @cached_property
    def before_commit(self) -> list[Callable[[], object]]:
        """Called in order, with nothing in between, just before the consumer takes the
        offsets to commit: what they send is flushed to the broker before the commit."""
        return []

    async def maybe_start_producer(self) -> ProducerT:
        """The producer, started. faust's own (guarded by ``mode``'s ``stampede``) gives the
        event loop three turns on every send, so the messages an agent sent one after another
        left in as many produce requests: a job's ten tasks in two, the first alone, and a
        render process waited 2-11 ms more for its first task. Not by ``super()``: the
        ``stampede`` would then sit in the instance and stand in for this method."""
        if self.in_transaction:
            return cast(ProducerT, self.consumer.transactions)  # as faust's own
        producer = self.producer
        if not producer.started:
            async with self._producer_starting:
                await producer.maybe_start()
        return producer

    @cached_property
    def _producer_starting(self) -> asyncio.Lock:
        return asyncio.Lock()

    def _new_transport(self) -> Any:
        return LanternTransport(self.conf.broker_consumer, self)
