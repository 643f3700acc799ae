"""Split stage: a MintRequest becomes N FrameTasks spread over every partition.

It validates the request again (a request can come from a replay or a re-drive, not only the
API), renders a few sample frames to choose the job's global palette — fixed once, so every frame
can then be quantized and LZW-encoded independently on any worker — and fans out one task per
run of frames: 10, or 25 for a request with others queued behind it (``task_frames``).
Redelivery is harmless: the same request yields the same palette, and the assembler keeps one
block per frame whatever runs the frames come in.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Mapping
from functools import partial

import faust
from faust.types import TP

from lantern.contract import FrameTask, JobSpec, MintRequest
from lantern.settings import WorkerSettings
from render import (
    Gen1Settings,
    RenderOptions,
    palette_of_samples,
    plan_palette,
    render_samples,
    sample_indices,
)
from render.job import sample_shares

from .lanes import Lane, frames_per_task
from .pipeline import Pipeline

__all__ = [
    "BUSY_BEHIND",
    "TaskSpread",
    "attach",
    "requests_behind",
    "task_frames",
]

log = logging.getLogger(__name__)

# a request with at least this many queued behind it on its partition gets larger tasks
BUSY_BEHIND = 2


def attach(app: faust.App, pipe: Pipeline, out: Mapping[Lane, faust.TopicT]) -> faust.TopicT:
    """Declare ``mint-requests`` and the agent that fans a request out into its lane's topic
    of ``out``. Requests are split several at once (``split_concurrency``): a bulk job's
    palette, planned after live work in the render processes, holds up no live request."""
    partitions = pipe.settings.kafka.partitions
    name = pipe.names.mint_requests
    topic = app.topic(name, key_type=str, value_type=MintRequest, partitions=partitions)
    spread = TaskSpread(partitions, start=random.randrange(partitions))

    @app.agent(topic, name="lantern.split", concurrency=pipe.settings.worker.split_concurrency)
    async def split(requests: faust.StreamT[MintRequest]) -> None:
        async for request in requests:
            message = requests.current_event.message  # type: ignore[union-attr]
            where = (message.partition, message.offset)
            behind = requests_behind(app, message.tp, message.offset)
            work = partial(_split, pipe, out, spread, request, where, behind)
            job_id = request.job_id
            await pipe.guard("split", request, work, job_id=job_id, topic=name, key=job_id)

    return topic


async def _split(
    pipe: Pipeline,
    out: Mapping[Lane, faust.TopicT],
    spread: TaskSpread,
    request: MintRequest,
    where: tuple[int, int],
    behind: int,
) -> None:
    partitions = pipe.settings.kafka.partitions
    settings = Gen1Settings.from_dict(request.settings)
    options = RenderOptions.from_dict(request.options)
    # a replay renders in the bulk lane: live mints keep the render processes first
    lane = Lane.BULK if request.replay_of else pipe.lane(options)
    # the first status of the stage carries the request itself: a job whose queued status
    # never reached the broker is still known, with what a re-drive needs. It is on the broker
    # before any task is; the palette is planned meanwhile, not after its round trip.
    palette, _ = await asyncio.gather(
        _plan_palette(pipe, settings, options, lane),
        pipe.report(
            request.job_id, "rendering", 1, stage="split", detail="choosing palette",
            request=request.asdict(), generation=request.generation, wallet=request.wallet,
            request_partition=where[0], request_offset=where[1],
        ),
    )  # fmt: skip
    spec = JobSpec(
        job_id=request.job_id,
        settings=settings.to_dict(),
        options=options.to_dict(),
        wallet=request.wallet,
        palette=palette.hex(),
        submitted_at=request.submitted_at,
        generation=request.generation,
        trace=request.trace,
        replay_of=request.replay_of,
        token_id=request.token_id,
        renderer_version=request.renderer_version,
    )
    worker, blocks_via = pipe.settings.worker, pipe.settings.store.blocks_via
    per_task = frames_per_task(options, task_frames(worker, blocks_via, behind))
    # runs of consecutive frames on consecutive partitions, from where the last job's ended
    first = spread.take(math.ceil(options.frames / per_task))
    sent = [
        await out[lane].send(
            key=f"{request.job_id}:{index}",
            value=FrameTask(spec=spec, index=index, count=per_task),
            partition=(first + number) % partitions,
        )
        for number, index in enumerate(range(0, options.frames, per_task))
    ]
    await asyncio.gather(*sent)  # every task on the broker before the request is acked
    await pipe.report(
        request.job_id, "rendering", 5, stage="split", detail=f"0/{options.frames} frames"
    )
    log.info("split job=%s frames=%d per_task=%d lane=%s",
             request.job_id, options.frames, per_task, lane)  # fmt: skip


async def _plan_palette(
    pipe: Pipeline, settings: Gen1Settings, options: RenderOptions, lane: Lane
) -> bytes:
    """``plan_palette``'s bytes. With render processes idle, its sample frames are shared out
    between them, each sending back only the pixels the palette looks at (``render_samples``),
    and the palette chosen from those in one (a default job's palette in ~0.07 s, not ~0.13 s
    in one run); with work waiting, in one run, as it costs less."""
    indices = sample_indices(options.frames)
    parts = sample_shares(indices, min(pipe.pool.idle(), len(indices)))
    if len(parts) < 2:
        return await pipe.run(plan_palette, settings, options, lane=lane)
    samples = await asyncio.gather(
        *(
            pipe.run(render_samples, settings, options, part, at, len(indices), lane=lane)
            for part, at in parts
        )
    )
    return await pipe.run(palette_of_samples, samples, lane=lane)


class TaskSpread:
    """Where a job's tasks go: consecutive partitions from where this splitter's last job's
    tasks ended, so that each splitter spreads its tasks evenly over every partition, and so
    over the workers, whichever partitions each holds. (Starting each job at a hash of its id
    spread them only on average: a default job's four 25-frame tasks fell 4/0 to 2/2 on two
    workers holding partitions 0-3 and 4-7, and one worker's render processes ran dry seconds
    before the other's at the end of a burst; bench/RESULTS.md.) A redelivered request may
    go elsewhere than the first time: the assembler keeps one block per frame whatever
    partition or run it comes from."""

    def __init__(self, partitions: int, start: int = 0) -> None:
        if partitions < 1:
            raise ValueError(f"a topic has at least one partition, got {partitions}")
        self.partitions = partitions
        self._next = start % partitions

    def take(self, tasks: int) -> int:
        """The first partition of a job's ``tasks`` tasks (the rest follow it in turn)."""
        first = self._next
        self._next = (first + tasks) % self.partitions
        return first


def task_frames(worker: WorkerSettings, blocks_via: str, behind: int) -> int:
    """Frames per task at the default size: ``frames_per_task``, or ``frames_per_task_busy``
    when at least ``BUSY_BEHIND`` requests wait behind this one on its partition and blocks
    wait in the shared folder (bench/RESULTS.md: fewer messages under load, while a lone job
    and the end of a burst spread over every worker)."""
    busy = worker.frames_per_task_busy
    if busy and blocks_via == "disk" and behind >= BUSY_BEHIND:
        return busy
    return worker.frames_per_task


def requests_behind(app: faust.App, tp: TP, offset: int) -> int:
    """How many requests were on the broker behind the one at ``offset`` of ``tp`` when it was
    fetched (0 if the consumer cannot say)."""
    try:
        end = app.consumer.highwater(tp)
    except Exception:  # not assigned any more, or no fetch yet
        return 0
    return max(0, (end or 0) - offset - 1)
