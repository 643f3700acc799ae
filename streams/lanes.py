"""Two lanes through the render processes: live jobs first, bulk jobs with what is left.

A job costing more than ``WorkerSettings.bulk_above_frames`` (frames of the default size) goes
the bulk way: its frame tasks travel on their own topic (``frame-tasks-bulk``), so a live
job's tasks never queue behind them in Kafka, and the render processes serve a waiting live
run before any bulk run. Bulk work uses every process while nothing live waits, so the
machine stays busy; a live job arriving then waits for at most one bulk run, which is kept
short (``frames_per_task`` scaled down with the frame's area).

The pool hands out one slot per render process; ``run`` waits for a slot in its lane's queue.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from lantern.contract import job_cost
from render import RenderOptions

__all__ = ["Lane", "LanePool", "frames_per_task", "lane_of"]

R = TypeVar("R")
_REFERENCE_SIDE = 512  # the default size: a task's frames are counted at this area


class Lane(StrEnum):
    """Which way a job's work goes through the render processes."""

    LIVE = "live"
    BULK = "bulk"


def lane_of(options: RenderOptions, bulk_above: float) -> Lane:
    """Bulk when the job costs more than ``bulk_above`` frames of the default size."""
    return Lane.BULK if bulk_above and job_cost(options) > bulk_above else Lane.LIVE


def frames_per_task(options: RenderOptions, frames: int) -> int:
    """``frames`` per task at the default size or smaller; fewer for larger frames, so that a
    task is about the same work whatever the size (a 1024² task: a quarter of the frames)."""
    if options.size <= _REFERENCE_SIDE:
        return max(1, frames)
    return max(1, round(frames * (_REFERENCE_SIDE / options.size) ** 2))


class LanePool:
    """An executor's ``slots`` processes shared by the lanes, live first, and within a lane in
    the order each run asks for (``order``: a frame task's is its job's submission time, then
    its first frame).

    Live runs may also wait ``ahead`` deep in the executor itself (one a process by default),
    so a process that finishes a run starts the next at once, not when this event loop gets
    round to handing it over: measured on 2 cores under a default job, that hand-over took
    2-15 ms a run, about 0.02 s of the job. Bulk runs never wait there, so a live run still
    waits for at most one bulk run.

    A free process is handed to the first run waiting at the end of the event loop's turn; the
    places ahead in the executor, ``settle_s`` later. A job's tasks reach a worker from every
    partition over a few ms, in the order the consumer meets them (40, 30, 60, 70, 0, …);
    handed out as they came, the runs queued ahead went before the job's first frames, and the
    assembler, which writes the GIF as its frames arrive in order, was left most of it to
    write at the end (bench/RESULTS.md).
    """

    def __init__(
        self, executor: Executor, slots: int, ahead: int | None = None, settle_s: float = 0.02
    ) -> None:
        self.executor = executor
        self.slots = max(1, slots)
        self.ahead = self.slots if ahead is None else max(0, ahead)
        self.settle_s = settle_s
        self.busy = 0  # runs handed to the executor: running, or queued there
        self._waiting: dict[Lane, list[_Ticket]] = {lane: [] for lane in Lane}  # heaps
        self._numbered = itertools.count()  # equal orders: first come, first served
        self._due: set[bool] = set()  # hand-outs scheduled: to free processes (False), ahead

    @property
    def free(self) -> int:
        """Processes with no run of their own."""
        return max(0, self.slots - self.busy)

    async def run(
        self, lane: Lane, fn: Callable[..., R], *args: Any, order: tuple[Any, ...] = ()
    ) -> R:
        """``fn(*args)`` in a process, once its lane may hand it over, no earlier lane waits,
        and no run of its lane that waits has a lower ``order`` (``()`` goes first)."""
        await self._acquire(lane, order)
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self._release()

    def idle(self) -> int:
        """How many processes are free, with nothing waiting for one."""
        return 0 if any(self.waiting(lane) for lane in Lane) else self.free

    def waiting(self, lane: Lane) -> int:
        """How many runs of ``lane`` wait to be handed over."""
        return sum(not ticket.place.done() for ticket in self._waiting[lane])

    async def _acquire(self, lane: Lane, order: tuple[Any, ...]) -> None:
        ticket = _Ticket(order, next(self._numbered), asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiting[lane], ticket)
        self._schedule(ahead=False)
        try:
            await ticket.place
        except asyncio.CancelledError:
            if ticket.place.done() and not ticket.place.cancelled():
                self._release()  # handed over just as we were cancelled: pass it on
            else:  # left in the heap, done: a hand-out drops it
                ticket.place.cancel()
            raise

    def _release(self) -> None:
        self.busy -= 1
        self._hand_out(ahead=True)  # at once: the place passes straight to the next run

    def _schedule(self, ahead: bool) -> None:
        if ahead in self._due:
            return
        self._due.add(ahead)
        loop = asyncio.get_running_loop()
        if ahead:
            loop.call_later(self.settle_s, self._hand_out, True)
        else:
            loop.call_soon(self._hand_out, False)

    def _hand_out(self, ahead: bool) -> None:
        self._due.discard(ahead)
        for lane in Lane:  # in priority order: live first
            heap = self._waiting[lane]
            limit = self.slots + (self.ahead if ahead and lane == Lane.LIVE else 0)
            while heap and self.busy < limit:
                ticket = heapq.heappop(heap)
                if not ticket.place.done():
                    self.busy += 1
                    ticket.place.set_result(None)
            if any(not ticket.place.done() for ticket in heap):
                if lane == Lane.LIVE and not ahead and self.busy < self.slots + self.ahead:
                    self._schedule(ahead=True)
                return  # a lane still waiting holds up the lanes after it


@dataclass(order=True)
class _Ticket:
    """A run's place in its lane's queue: by ``order``, then first come, first served."""

    order: tuple[Any, ...]
    number: int
    place: asyncio.Future[None] = field(compare=False)
