"""Partitions read in batches: which are paused between catch-ups, that a resumed one is read
before it is paused again, and that every pause is undone. The consumer here stands in for
aiokafka's (its assignment, each partition's reported end, fetch time and read position, pause
and resume); the drills in tests/integration/test_chaos.py take partitions over from standby
copies on a real broker, and the integration tests run retries, the bulk lane and the chain
with the quiet topics paused between catch-ups."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from functools import partial
from types import SimpleNamespace
from typing import Any

from aiokafka.structs import TopicPartition

from lantern.settings import Settings
from streams.catchup import Batches, HeldChangelogs, _of_topics, _standby, quiet_topics
from streams.topics import TopicNames

STATUS = [TopicPartition("lantern-job-status-changelog", p) for p in range(5)]
FRAMES = TopicPartition("lantern.frames", 0)
RETRY = [TopicPartition("lantern.retry", p) for p in range(3)]
QUIET = frozenset({"lantern.retry"})


@dataclass
class Partition:
    """What aiokafka keeps of a partition: the end and time of the last fetch naming it, and
    where the consumer has read to."""

    highwater: int | None
    position: int | None
    timestamp: int | None = 0

    @property
    def has_valid_position(self) -> bool:
        return self.position is not None


@dataclass
class Consumer:
    states: dict[TopicPartition, Partition]
    paused: set[TopicPartition] = field(default_factory=set)

    def assignment(self) -> set[TopicPartition]:
        return set(self.states)

    @property
    def _subscription(self) -> Any:
        return SimpleNamespace(_assigned_state=self.states.__getitem__)

    def pause(self, *tps: TopicPartition) -> None:
        assert all(type(tp) is TopicPartition for tp in tps)  # aiokafka refuses faust's TP
        self.paused |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused -= set(tps)

    def fetched(self, tp: TopicPartition, end: int) -> None:
        """A fetch named ``tp``, reported ``end`` and the consumer read to it."""
        self.states[tp] = Partition(highwater=end, position=end, timestamp=now_ms())


def now_ms() -> int:
    return int(1000 * time.time()) + 1


class Thread:
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    def _ensure_consumer(self) -> Consumer:
        return self.consumer

    async def call_thread(self, fun: Any, *args: Any) -> Any:
        return await fun(*args)


def app(
    consumer: Consumer, standby: set[TopicPartition], active: set[TopicPartition] | None = None
) -> Any:
    completed = asyncio.Event()
    completed.set()
    recovery = SimpleNamespace(
        in_recovery=False,
        completed=completed,
        standby_tps=standby,
        active_tps=active or {FRAMES},
        tp_to_table={tp: SimpleNamespace(recovery_buffer_size=1000) for tp in STATUS},
    )
    return SimpleNamespace(
        rebalancing=False,
        tables=SimpleNamespace(recovery=recovery),
        consumer=SimpleNamespace(_thread=Thread(consumer)),
    )


def consumer() -> Consumer:
    states = {tp: Partition(highwater=10, position=10) for tp in [*STATUS, FRAMES, *RETRY]}
    states[STATUS[2]] = Partition(highwater=None, position=10, timestamp=None)  # never fetched
    states[STATUS[3]] = Partition(highwater=10, position=4)  # still reading its changelog
    states[STATUS[4]] = Partition(highwater=10, position=None)  # no position yet
    states[RETRY[1]] = Partition(highwater=12, position=11)  # a retry waiting to be read
    return Consumer(states)


def standby(stack: Any) -> Batches:
    return Batches(stack, 2.0, _standby, streams=False)


def quiet(stack: Any) -> Batches:
    return Batches(stack, 1.0, partial(_of_topics, QUIET), streams=True)


async def test_only_copies_read_to_the_end_are_paused_and_a_resume_undoes_exactly_those() -> None:
    kafka = consumer()
    batches = standby(app(kafka, set(STATUS)))
    await batches.pause()
    # STATUS[2]: no end reported yet; STATUS[3]: behind; STATUS[4]: no position; the stream
    # partitions: never
    assert kafka.paused == {STATUS[0], STATUS[1]}
    assert await batches.resume()
    assert kafka.paused == set() and batches.paused == set()


async def test_a_resumed_partition_is_paused_again_only_once_a_fetch_has_read_it() -> None:
    kafka = consumer()
    batches = standby(app(kafka, set(STATUS)))
    await batches.pause()
    await batches.resume()
    await batches.pause()  # no fetch has named them since: records may be waiting there
    assert kafka.paused == set()
    kafka.fetched(STATUS[0], end=14)
    await batches.pause()
    assert kafka.paused == {STATUS[0]}
    kafka.fetched(STATUS[1], end=10)
    await batches.pause()
    assert kafka.paused == {STATUS[0], STATUS[1]}


async def test_only_quiet_topics_with_nothing_waiting_are_paused() -> None:
    kafka = consumer()
    batches = quiet(app(kafka, set()))
    await batches.pause()
    assert kafka.paused == {RETRY[0], RETRY[2]}  # RETRY[1] has a record waiting; FRAMES is live
    kafka.fetched(RETRY[1], end=12)
    await batches.pause()
    assert kafka.paused == set(RETRY)


async def test_nothing_is_paused_during_a_rebalance_or_recovery_but_a_pause_is_always_undone() -> (
    None
):
    kafka = consumer()
    stack = app(kafka, set(STATUS))
    batches = standby(stack)
    await batches.pause()
    stack.tables.recovery.in_recovery = True  # a worker left: its partitions are being taken over
    await batches.pause()
    assert kafka.paused == {STATUS[0], STATUS[1]}  # no more than before
    assert await batches.resume()  # a recovery must not wait behind a paused copy
    assert kafka.paused == set()
    stack.tables.recovery.in_recovery, stack.rebalancing = False, True
    await batches.pause()
    assert kafka.paused == set()


async def test_a_stream_partition_is_resumed_only_after_the_recovery() -> None:
    kafka = consumer()
    stack = app(kafka, set())
    batches = quiet(stack)
    await batches.pause()
    stack.rebalancing = True  # faust seeks stream partitions before it resumes them
    assert not await batches.resume()
    assert kafka.paused == {RETRY[0], RETRY[2]} and batches.paused == kafka.paused
    stack.rebalancing = False
    assert await batches.resume()
    assert kafka.paused == set()


async def test_a_copy_promoted_to_active_or_unassigned_is_not_paused() -> None:
    kafka = consumer()
    stack = app(kafka, set(STATUS))
    stack.tables.recovery.active_tps = {FRAMES, STATUS[0]}  # taken over: now read as active
    del kafka.states[STATUS[1]]  # given to another worker
    await standby(stack).pause()
    assert kafka.paused == set()


async def test_a_tick_resumes_once_the_interval_is_up_and_pauses_in_between() -> None:
    kafka = consumer()
    batches = quiet(app(kafka, set()))
    start = batches.last_resume
    await batches.tick(start + 0.25)
    assert kafka.paused == {RETRY[0], RETRY[2]}
    await batches.tick(start + 0.5)  # still within the interval: stays paused
    assert kafka.paused == {RETRY[0], RETRY[2]}
    await batches.tick(start + 1.0)
    assert kafka.paused == set() and batches.last_resume == start + 1.0


async def test_active_changelogs_are_held_paused_after_recovery_and_let_go_for_the_next() -> None:
    kafka = consumer()
    active = {STATUS[0], STATUS[1], STATUS[2]}  # this worker's own table partitions
    stack = app(kafka, {STATUS[2]}, active)  # STATUS[2] also a standby copy: faust reads it
    held = HeldChangelogs(stack)
    await held.tick(0.0)
    # held whatever was read of them: faust reads them only to recover, and has not since
    assert kafka.paused == {STATUS[0], STATUS[1]} and held.paused == kafka.paused
    await held.tick(0.25)
    assert kafka.paused == {STATUS[0], STATUS[1]}
    stack.tables.recovery.in_recovery = True  # a recovery must read them: let go at once
    await held.tick(0.5)
    assert kafka.paused == set() and held.paused == set()
    await held.tick(0.75)  # nothing paused while it lasts
    assert kafka.paused == set()
    stack.tables.recovery.in_recovery = False
    del kafka.states[STATUS[1]]  # given to another worker in the rebalance
    await held.tick(1.0)
    assert kafka.paused == {STATUS[0]}


async def test_a_changelog_faust_reads_after_recovery_is_not_held() -> None:
    kafka = consumer()
    stack = app(kafka, set(), {STATUS[0], STATUS[1]})
    stack.tables.recovery.tp_to_table[STATUS[1]].recovery_buffer_size = 1  # read continuously
    await HeldChangelogs(stack).tick(0.0)
    assert kafka.paused == {STATUS[0]}


def test_the_quiet_topics_are_those_whose_records_may_wait() -> None:
    names = TopicNames.from_settings(Settings.from_env({}))
    assert quiet_topics(names) == {
        names.retry,
        names.frame_tasks_bulk,
        names.chain_events,
        names.chain_cursor,
        names.token_updates,
    }
    live = {names.mint_requests, names.frame_tasks, names.frames, names.pin_requests}
    assert not live & quiet_topics(names) and names.status not in quiet_topics(names)
