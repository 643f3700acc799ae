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
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
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
    """An executor's ``slots`` processes shared by the lanes, live first.

    Live runs may also wait ``ahead`` deep in the executor itself (one a process by default),
    so a process that finishes a run starts the next at once, not when this event loop gets
    round to handing it over: measured on 2 cores under a default job, that hand-over took
    2-15 ms a run, about 0.02 s of the job. Bulk runs never wait there, so a live run still
    waits for at most one bulk run.
    """

    def __init__(self, executor: Executor, slots: int, ahead: int | None = None) -> None:
        self.executor = executor
        self.slots = max(1, slots)
        self.ahead = self.slots if ahead is None else max(0, ahead)
        self.busy = 0  # runs handed to the executor: running, or queued there
        self._waiting: dict[Lane, deque[asyncio.Future[None]]] = {lane: deque() for lane in Lane}

    @property
    def free(self) -> int:
        """Processes with no run of their own."""
        return max(0, self.slots - self.busy)

    async def run(self, lane: Lane, fn: Callable[..., R], *args: Any) -> R:
        """``fn(*args)`` in a process, once its lane may hand it over and no earlier lane waits."""
        await self._acquire(lane)
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self._release()

    def idle(self) -> int:
        """How many processes are free, with nothing waiting for one."""
        return 0 if any(self._waiting.values()) else self.free

    def waiting(self, lane: Lane) -> int:
        """How many runs of ``lane`` wait to be handed over."""
        return len(self._waiting[lane])

    def _room(self, lane: Lane) -> bool:
        limit = self.slots + self.ahead if lane == Lane.LIVE else self.slots
        return self.busy < limit

    async def _acquire(self, lane: Lane) -> None:
        lanes = list(Lane)  # in priority order
        served_first = lanes[: lanes.index(lane) + 1]  # its own lane and those before it
        if self._room(lane) and not any(self._waiting[other] for other in served_first):
            self.busy += 1
            return
        ticket = asyncio.get_running_loop().create_future()
        self._waiting[lane].append(ticket)
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._release()  # handed over just as we were cancelled: pass it on
            else:
                self._waiting[lane].remove(ticket)
            raise

    def _release(self) -> None:
        self.busy -= 1
        for lane in Lane:  # in priority order: live first
            queue = self._waiting[lane]
            while queue and self._room(lane):
                ticket = queue.popleft()
                if not ticket.done():
                    self.busy += 1
                    ticket.set_result(None)  # the place passes straight to it
                    return
