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
    """An executor's ``slots`` processes shared by the lanes, live first."""

    def __init__(self, executor: Executor, slots: int) -> None:
        self.executor = executor
        self.free = max(1, slots)
        self._waiting: dict[Lane, deque[asyncio.Future[None]]] = {lane: deque() for lane in Lane}

    async def run(self, lane: Lane, fn: Callable[..., R], *args: Any) -> R:
        """``fn(*args)`` in a process, once a slot is free and no earlier lane waits."""
        await self._acquire(lane)
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self._release()

    def idle(self) -> int:
        """How many processes are free, with nothing waiting for one."""
        return 0 if any(self._waiting.values()) else self.free

    def waiting(self, lane: Lane) -> int:
        """How many runs of ``lane`` wait for a slot."""
        return len(self._waiting[lane])

    async def _acquire(self, lane: Lane) -> None:
        if self.free > 0 and not any(self._waiting.values()):
            self.free -= 1
            return
        ticket = asyncio.get_running_loop().create_future()
        self._waiting[lane].append(ticket)
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._release()  # handed a slot just as we were cancelled: pass it on
            else:
                self._waiting[lane].remove(ticket)
            raise

    def _release(self) -> None:
        for lane in Lane:  # in priority order: live first
            queue = self._waiting[lane]
            while queue:
                ticket = queue.popleft()
                if not ticket.done():
                    ticket.set_result(None)  # the slot passes straight to it
                    return
        self.free += 1
