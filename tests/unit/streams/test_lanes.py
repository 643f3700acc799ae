"""The two lanes: which jobs go bulk, how their tasks are cut, and live work served first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from lantern.settings import WorkerSettings
from render import Gen1Settings, RenderOptions, plan_palette
from streams.lanes import Lane, LanePool, frames_per_task, lane_of
from streams.split import BUSY_BEHIND, TaskSpread, _plan_palette, task_frames


def test_large_jobs_go_bulk() -> None:
    assert lane_of(RenderOptions(), 200) == Lane.LIVE  # a default job: 100
    assert lane_of(RenderOptions(size=512, frames=200), 200) == Lane.LIVE
    assert lane_of(RenderOptions(size=1024, frames=100), 200) == Lane.BULK  # 400
    assert lane_of(RenderOptions(size=1024, frames=1000), 0) == Lane.LIVE  # 0: one lane


def test_a_task_is_about_the_same_work_at_any_size() -> None:
    assert frames_per_task(RenderOptions(size=64), 10) == 10
    assert frames_per_task(RenderOptions(size=512), 10) == 10
    assert frames_per_task(RenderOptions(size=1024), 10) == 2  # 2.5 frames of 4× the area
    assert frames_per_task(RenderOptions(size=1024), 1) == 1


def _sleep(seconds: float, label: str, order: list[str]) -> str:
    time.sleep(seconds)
    order.append(label)
    return label


async def test_waiting_live_work_goes_before_waiting_bulk_work() -> None:
    order: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as executor:
        pool = LanePool(executor, slots=1)
        first = asyncio.create_task(pool.run(Lane.BULK, _sleep, 0.2, "bulk-1", order))
        await asyncio.sleep(0.05)  # bulk-1 holds the one slot
        queued = [
            asyncio.create_task(pool.run(Lane.BULK, _sleep, 0.01, "bulk-2", order)),
            asyncio.create_task(pool.run(Lane.BULK, _sleep, 0.01, "bulk-3", order)),
        ]
        await asyncio.sleep(0.01)
        live = asyncio.create_task(pool.run(Lane.LIVE, _sleep, 0.01, "live", order))
        await asyncio.gather(first, live, *queued)
    # the running bulk run finishes; the live run, which came last, goes next
    assert order == ["bulk-1", "live", "bulk-2", "bulk-3"]


async def test_bulk_work_alone_uses_every_slot() -> None:
    order: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as executor:
        pool = LanePool(executor, slots=2)
        started = time.monotonic()
        await asyncio.gather(*(pool.run(Lane.BULK, _sleep, 0.2, f"b{n}", order) for n in range(4)))
        elapsed = time.monotonic() - started
    assert len(order) == 4
    assert elapsed < 0.75  # two at a time (0.4 s), not one at a time (0.8 s)
    assert pool.free == 2


async def test_a_cancelled_wait_gives_its_place_up() -> None:
    order: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as executor:
        pool = LanePool(executor, slots=1, ahead=0)
        running = asyncio.create_task(pool.run(Lane.LIVE, _sleep, 0.1, "a", order))
        await asyncio.sleep(0.02)
        waiting = asyncio.create_task(pool.run(Lane.LIVE, _sleep, 0.01, "b", order))
        await asyncio.sleep(0.01)
        waiting.cancel()
        await running
        assert pool.waiting(Lane.LIVE) == 0
        await pool.run(Lane.BULK, _sleep, 0.01, "c", order)
    assert order == ["a", "c"]
    assert pool.free == 1


def _started(at: list[float]) -> None:
    at.append(time.monotonic())


@pytest.mark.parametrize("ahead", [1, 0])
async def test_a_live_run_queued_ahead_starts_while_the_event_loop_is_busy(ahead: int) -> None:
    started: list[float] = []
    with ThreadPoolExecutor(max_workers=1) as executor:
        pool = LanePool(executor, slots=1, ahead=ahead)
        begin = time.monotonic()
        runs = [
            asyncio.create_task(pool.run(Lane.LIVE, time.sleep, 0.1)),
            asyncio.create_task(pool.run(Lane.LIVE, _started, started)),
        ]
        await asyncio.sleep(pool.settle_s + 0.01)  # both asked for the process
        time.sleep(0.4)  # noqa: ASYNC251  # the worker's event loop, busy with something else
        await asyncio.gather(*runs)
    if ahead:  # the second run was already in the executor: it began when the first ended
        assert started[0] - begin < 0.3
    else:  # it was handed over only once the event loop was free again
        assert started[0] - begin >= 0.4
    assert pool.free == 1 and pool.busy == 0


async def test_bulk_runs_never_queue_in_the_executor() -> None:
    with ThreadPoolExecutor(max_workers=1) as executor:
        pool = LanePool(executor, slots=1, ahead=1)
        running = asyncio.create_task(pool.run(Lane.BULK, time.sleep, 0.1))
        await asyncio.sleep(0.02)
        bulk = asyncio.create_task(pool.run(Lane.BULK, time.sleep, 0.01))
        live = asyncio.create_task(pool.run(Lane.LIVE, time.sleep, 0.01))
        await asyncio.sleep(pool.settle_s + 0.02)
        assert pool.waiting(Lane.BULK) == 1  # waits in the pool: a live run may still pass it
        assert pool.waiting(Lane.LIVE) == 0  # handed to the executor, next after the bulk run
        assert pool.idle() == 0
        await asyncio.gather(running, bulk, live)
    assert pool.free == 1 and pool.busy == 0


def _ran(label: str, order: list[str]) -> None:
    order.append(label)


async def test_runs_asking_together_go_in_their_order_not_as_they_came() -> None:
    ran: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as executor:
        pool = LanePool(executor, slots=1, ahead=1)
        runs = [  # a job's tasks, as the consumer hands them over
            pool.run(Lane.LIVE, _ran, f"frame {first}", ran, order=(1.0, "job", first))
            for first in (40, 30, 0, 20, 10)
        ]
        await asyncio.gather(*runs)
    assert ran == ["frame 0", "frame 10", "frame 20", "frame 30", "frame 40"]


async def test_the_place_ahead_goes_to_the_first_frames_that_came_meanwhile() -> None:
    ran: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as executor:
        pool = LanePool(executor, slots=1, ahead=1, settle_s=0.2)
        runs = [
            asyncio.create_task(
                pool.run(Lane.LIVE, _sleep, 0.6, "frame 50", ran, order=(1.0, "job", 50))
            )
        ]
        for first in (30, 0, 10):  # the others come over the next turns of the loop
            await asyncio.sleep(0.005)
            runs.append(
                asyncio.create_task(
                    pool.run(Lane.LIVE, _ran, f"frame {first}", ran, order=(1.0, "job", first))
                )
            )
        await asyncio.sleep(0.35)  # the place ahead is handed out by now
        assert pool.busy == 2 and pool.waiting(Lane.LIVE) == 2
        await asyncio.gather(*runs)
    # the free process went to the first to come; the place ahead to the first frames
    assert ran == ["frame 50", "frame 0", "frame 10", "frame 30"]


async def test_an_older_job_and_an_unordered_run_go_first() -> None:
    ran: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as executor:
        pool = LanePool(executor, slots=1, ahead=0)
        running = asyncio.create_task(pool.run(Lane.LIVE, time.sleep, 0.1))
        await asyncio.sleep(0.02)
        runs = [
            pool.run(Lane.LIVE, _ran, "newer job, frame 0", ran, order=(2.0, "b", 0)),
            pool.run(Lane.LIVE, _ran, "older job, frame 90", ran, order=(1.0, "a", 90)),
            pool.run(Lane.LIVE, _ran, "a palette", ran),  # order (): before any task
        ]
        await asyncio.gather(running, *runs)
    assert ran == ["a palette", "older job, frame 90", "newer job, frame 0"]


def test_tasks_grow_for_a_request_with_others_behind_it_and_blocks_on_disk() -> None:
    worker = WorkerSettings(frames_per_task=10, frames_per_task_busy=25)
    assert task_frames(worker, "disk", behind=0) == 10  # a lone job spreads over every worker
    assert task_frames(worker, "disk", behind=BUSY_BEHIND - 1) == 10  # the end of a burst
    assert task_frames(worker, "disk", behind=BUSY_BEHIND) == 25
    assert task_frames(worker, "kafka", behind=50) == 10  # its event must fit one message
    off = WorkerSettings(frames_per_task=10, frames_per_task_busy=0)
    assert task_frames(off, "disk", behind=50) == 10


@pytest.mark.parametrize("tasks", [4, 10, 3])
def test_each_splitter_spreads_tasks_evenly_whatever_partitions_each_worker_holds(
    tasks: int,
) -> None:
    spread = TaskSpread(8, start=5)
    per_partition = [0] * 8
    for _ in range(40):  # a burst of 40 jobs split by one worker
        first = spread.take(tasks)
        for number in range(tasks):
            per_partition[(first + number) % 8] += 1
    assert max(per_partition) - min(per_partition) <= 1
    # two workers holding halves, either way faust may hand them out: the same work each
    for held in ([0, 1, 2, 3], [0, 2, 4, 6]):
        mine = sum(per_partition[p] for p in held)
        assert abs(mine - (40 * tasks - mine)) <= 4


def test_a_task_spread_needs_a_partition() -> None:
    with pytest.raises(ValueError, match="at least one partition"):
        TaskSpread(0)


@dataclass
class Runs:
    """What ``_plan_palette`` asks of the Pipeline: its pool, and runs in it (named here)."""

    pool: LanePool
    names: list[str] = field(default_factory=list)

    async def run(self, fn: Callable[..., Any], *args: Any, lane: Lane) -> Any:
        self.names.append(fn.__name__)
        return await self.pool.run(lane, fn, *args)


async def test_a_palette_is_planned_over_idle_processes_and_in_one_run_when_busy() -> None:
    settings, options = Gen1Settings(), RenderOptions(size=96, frames=12)
    expected = plan_palette(settings, options)
    with ProcessPoolExecutor(max_workers=2) as executor:
        idle = Runs(LanePool(executor, slots=2))
        assert await _plan_palette(idle, settings, options, Lane.LIVE) == expected  # type: ignore[arg-type]
        # two shares of the four sample frames at once, then the choice
        assert idle.names == ["render_samples", "render_samples", "palette_of_samples"]
        assert idle.pool.idle() == 2
        busy = Runs(LanePool(executor, slots=2))
        holding = asyncio.create_task(busy.pool.run(Lane.BULK, time.sleep, 0.5))
        await asyncio.sleep(0.05)
        assert busy.pool.idle() == 1
        assert await _plan_palette(busy, settings, options, Lane.LIVE) == expected  # type: ignore[arg-type]
        assert busy.names == ["plan_palette"]
        await holding
