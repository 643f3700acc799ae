"""Standby copies caught up in batches: which partitions are paused between catch-ups, and that
every pause is undone. The consumer here stands in for aiokafka's (its assignment, the ends the
broker reported, the positions read to, pause and resume); the drills in
tests/integration/test_chaos.py take partitions over from these copies on a real broker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from aiokafka.structs import TopicPartition

from streams.standby import StandbyBatches

STATUS = [TopicPartition("lantern-job-status-changelog", p) for p in range(5)]
FRAMES = TopicPartition("lantern.frames", 0)


@dataclass
class Consumer:
    assigned: set[TopicPartition]
    ends: dict[TopicPartition, int | None]
    read: dict[TopicPartition, int | None]
    paused: set[TopicPartition] = field(default_factory=set)

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends.get(tp)

    @property
    def _subscription(self) -> Any:  # where aiokafka keeps each partition's read position
        def state(tp: TopicPartition) -> Any:
            read = self.read.get(tp)
            return SimpleNamespace(has_valid_position=read is not None, position=read)

        return SimpleNamespace(_assigned_state=state)

    def pause(self, *tps: TopicPartition) -> None:
        assert all(type(tp) is TopicPartition for tp in tps)  # aiokafka refuses faust's TP
        self.paused |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused -= set(tps)


class Thread:
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    def _ensure_consumer(self) -> Consumer:
        return self.consumer

    async def call_thread(self, fun: Any, *args: Any) -> Any:
        return await fun(*args)


def app(consumer: Consumer, standby: set[TopicPartition]) -> Any:
    completed = asyncio.Event()
    completed.set()
    recovery = SimpleNamespace(
        in_recovery=False, completed=completed, standby_tps=standby, active_tps={FRAMES}
    )
    return SimpleNamespace(
        rebalancing=False,
        tables=SimpleNamespace(recovery=recovery),
        consumer=SimpleNamespace(_thread=Thread(consumer)),
    )


def consumer() -> Consumer:
    ends: dict[TopicPartition, int | None] = {tp: 10 for tp in STATUS}
    read: dict[TopicPartition, int | None] = {**ends, STATUS[3]: 4}  # still reading its changelog
    ends[STATUS[2]] = None  # nothing fetched yet
    read[STATUS[4]] = None  # no position yet
    return Consumer(assigned={*STATUS, FRAMES}, ends=ends, read=read)


async def test_only_copies_read_to_the_end_are_paused_and_a_resume_undoes_exactly_those() -> None:
    kafka = consumer()
    batches = StandbyBatches(app(kafka, set(STATUS)))
    await batches.pause()
    # STATUS[2]: no end reported yet; STATUS[3]: behind; STATUS[4]: no position; the stream
    # partition: never
    assert kafka.paused == {STATUS[0], STATUS[1]}
    await batches.resume()
    assert kafka.paused == set() and batches.paused == set()


async def test_nothing_is_paused_during_a_rebalance_or_recovery_but_a_pause_is_always_undone() -> (
    None
):
    kafka = consumer()
    stack = app(kafka, set(STATUS))
    batches = StandbyBatches(stack)
    await batches.pause()
    stack.tables.recovery.in_recovery = True  # a worker left: its partitions are being taken over
    await batches.pause()
    assert kafka.paused == {STATUS[0], STATUS[1]}  # no more than before
    await batches.resume()  # a recovery must not wait behind a paused partition
    assert kafka.paused == set()
    stack.tables.recovery.in_recovery, stack.rebalancing = False, True
    await batches.pause()
    assert kafka.paused == set()


async def test_a_copy_promoted_to_active_or_unassigned_is_not_paused() -> None:
    kafka = consumer()
    stack = app(kafka, set(STATUS))
    stack.tables.recovery.active_tps = {FRAMES, STATUS[0]}  # taken over: now read as active
    kafka.assigned = kafka.assigned - {STATUS[1]}  # given to another worker
    await StandbyBatches(stack).pause()
    assert kafka.paused == set()
