"""The corrections to faust's resume and commit (streams/resume.py), case by case.

The drills in tests/integration/test_drills.py prove them end to end; these pin down the
commit rule and check that the faust release underneath still has the code they correct.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from lantern.settings import Settings
from streams.app import create_app
from streams.resume import (
    LanternConsumer,
    LanternRecovery,
    LanternTableManager,
    in_flight_below,
)

TOPIC = "lantern.frame-tasks"
PART = TP(TOPIC, 0)


class FakeMessage:
    """What the consumer's bookkeeping reads of a message."""

    def __init__(self, offset: int, *, tracked: bool = True) -> None:
        self.topic, self.partition, self.tp = TOPIC, 0, PART
        self.offset = offset
        self.tracked = tracked
        self.acked = False


def consumer(committed: int, acked: list[int], in_flight: list[int]) -> Any:
    """A LanternConsumer with only the state ``_new_offset`` reads (no app, no broker)."""
    c: Any = LanternConsumer.__new__(LanternConsumer)
    c._committed_offset = defaultdict(lambda: None, {PART: committed})
    c._acked = defaultdict(list, {PART: list(acked)})
    c._acked_index = defaultdict(set, {PART: set(acked)})
    c._gap = defaultdict(IntervalTree)
    c._unacked_messages = {FakeMessage(o) for o in in_flight}
    return c


def test_faust_alone_commits_past_an_event_still_in_flight() -> None:
    """The bug this corrects (faust-streaming #606): offset 2585 is still being processed."""
    c = consumer(2585, [2586, 2587, 2588, 2589], in_flight=[2585])
    assert Consumer._new_offset(c, PART) == 2590


def test_no_commit_passes_an_event_in_flight() -> None:
    c = consumer(2585, [2586, 2587, 2588, 2589], in_flight=[2585])
    assert c._new_offset(PART) is None
    assert c._acked[PART] == [2586, 2587, 2588, 2589]  # kept for the next commit


def test_once_the_event_is_done_the_whole_run_commits() -> None:
    c = consumer(2585, [2586, 2587, 2588, 2589, 2585], in_flight=[])
    assert c._new_offset(PART) == 2590


def test_a_hole_at_the_head_with_nothing_in_flight_still_commits() -> None:
    """A compacted offset or a transaction marker at the head is not work to wait for."""
    c = consumer(10, [11, 12], in_flight=[])
    assert c._new_offset(PART) == 13


def test_events_in_flight_above_the_acked_run_do_not_hold_it_back() -> None:
    c = consumer(10, [10, 11, 12], in_flight=[14])
    assert c._new_offset(PART) == 13


def test_an_event_the_stream_skipped_unprocessed_is_not_acked() -> None:
    c: Any = LanternConsumer.__new__(LanternConsumer)
    skipped = FakeMessage(7, tracked=False)
    assert c.ack(skipped) is False
    assert skipped.acked is False  # so a later ack of the fresh copy still counts


def test_the_worker_app_uses_the_corrected_classes() -> None:
    app = create_app(Settings())
    assert isinstance(app.tables, LanternTableManager)
    assert isinstance(app.tables.recovery, LanternRecovery)
    assert app.transport.Consumer is LanternConsumer


def test_faust_still_has_the_code_corrected_here() -> None:
    """A faust upgrade must be checked against streams/resume.py before the pin moves."""
    assert faust.__version__ == "0.15.3"
    done = inspect.getsource(Recovery.on_recovery_completed)
    resume = done.index("consumer.resume_partitions(")
    seek = done.index("consumer.perform_seek()")
    assert resume < seek, "faust now seeks before resuming: LanternRecovery may be dropped"
    assert "> 1" in inspect.getsource(Consumer._new_offset)
    # the before-commit hooks rely on faust taking the offsets before its first await
    commit_tps = inspect.getsource(Consumer._commit_tps)
    assert commit_tps.index("_filter_committable_offsets") < commit_tps.index("await")
    force = inspect.getsource(Consumer.force_commit)
    assert force.index("_filter_tps_with_pending_acks") < force.index("await")
    commit_offsets = inspect.getsource(Consumer._commit_offsets)
    assert commit_offsets.index("producer.flush()") < commit_offsets.index("self._commit(")


async def test_the_apps_hooks_run_before_faust_takes_the_offsets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []

    async def faust_commit(
        self: Any, topics: Any = None, start_new_transaction: bool = True
    ) -> bool:
        order.append("offsets taken")
        return True

    monkeypatch.setattr(Consumer, "force_commit", faust_commit)
    c: Any = LanternConsumer.__new__(LanternConsumer)
    c.app = SimpleNamespace(before_commit=[lambda: order.append("1"), lambda: order.append("2")])
    assert await c.force_commit() is True
    assert order == ["1", "2", "offsets taken"]


def test_the_worker_app_takes_before_commit_hooks() -> None:
    app = create_app(Settings())
    assert app.before_commit == [] and app.before_commit is app.before_commit


async def test_a_send_gives_the_event_loop_no_turn_once_the_producer_runs() -> None:
    faust_app = faust.App("plain", broker="kafka://localhost:9")
    faust_app.producer._started.set()  # as once the worker has started
    # faust's own: three turns of the loop a send, so messages sent in a row by an agent
    # left in as many produce requests
    theirs = faust_app.maybe_start_producer().__await__()
    assert next(theirs) is None  # suspended
    theirs.close()
    app = create_app(Settings())
    app.producer._started.set()
    for _ in range(2):
        ours = app.maybe_start_producer().__await__()
        with pytest.raises(StopIteration) as returned:
            next(ours)  # runs to its end at once
        assert returned.value.value is app.producer


async def test_a_producer_not_started_is_started_once() -> None:
    app = create_app(Settings())
    starts: list[int] = []

    async def start() -> None:
        starts.append(1)
        await asyncio.sleep(0.01)
        app.producer._started.set()

    app.producer.start = start  # type: ignore[method-assign]
    got = await asyncio.gather(*(app.maybe_start_producer() for _ in range(3)))
    assert got == [app.producer] * 3 and starts == [1]


@pytest.mark.parametrize(
    ("committed", "first", "in_flight", "held"),
    [(5, 6, [5], True), (5, 6, [6], False), (5, 9, [7], True), (5, 5, [5], False)],
)
def test_in_flight_below(committed: int, first: int, in_flight: list[int], held: bool) -> None:
    assert in_flight_below(in_flight, committed, first) is held
