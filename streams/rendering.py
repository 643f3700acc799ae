"""Render stage: draw one frame, quantize it to the job's palette, LZW-encode its GIF block.

Frames are independent once the palette is fixed, so this agent scales with partitions and
workers; each worker runs several frames at once in its process pool. The blocks (~150 KB a
frame at 512²) travel to the assembler in the event itself, base64 with their digests
(``LANTERN_STORE_BLOCKS_VIA=kafka``), or wait in the block folder while the event carries their
digests (``disk``, a claim check for workers sharing that folder; ``blocks.py``). The event is
keyed by job id, so all of a job's frames meet in one partition. A task dead-lettered here has
failed its job: the assembler is told to forget it (``JobEnded``).
"""

from __future__ import annotations

import logging
import time
from functools import partial

import faust

from lantern.contract import FrameBlock, FrameTask, JobEnded

from .blocks import render_carried, render_to_store
from .ids import check_job_id, valid_job_id
from .lanes import Lane
from .pipeline import Pipeline

__all__ = ["attach"]

log = logging.getLogger(__name__)


def attach(app: faust.App, pipe: Pipeline, out: faust.TopicT, lane: Lane) -> faust.TopicT:
    """Declare ``lane``'s frame-tasks topic and the agent that renders its tasks into ``out``
    (one per lane: a live task never waits behind bulk ones in Kafka)."""
    name = pipe.names.frame_tasks if lane == Lane.LIVE else pipe.names.frame_tasks_bulk
    agent = "lantern.render" if lane == Lane.LIVE else "lantern.render.bulk"
    topic = app.topic(
        name, key_type=str, value_type=FrameTask, partitions=pipe.settings.kafka.partitions
    )

    @app.agent(topic, name=agent, concurrency=pipe.settings.worker.render_concurrency)
    async def render(tasks: faust.StreamT[FrameTask]) -> None:
        async for task in tasks:
            spec = task.spec
            key = f"{spec.job_id}:{task.index}"
            partition = tasks.current_event.message.partition if tasks.current_event else None
            work = partial(_render, pipe, out, task, lane)
            outcome = await pipe.guard(
                "render", task, work, job_id=spec.job_id, topic=name, key=key, partition=partition
            )
            if outcome.final and valid_job_id(spec.job_id):
                ended = JobEnded(job_id=spec.job_id, how="failed", generation=spec.generation)
                await pipe.publish(out, spec.job_id, ended)

    return topic


async def _render(pipe: Pipeline, out: faust.TopicT, task: FrameTask, lane: Lane) -> None:
    """Render the task's frames and tell the assembler: their bytes and digests (blocks via
    Kafka), or their digests once they are in the block folder (via disk)."""
    spec = task.spec
    job_id = check_job_id(spec.job_id)  # a forged id fails before any rendering
    settings, options = spec.parsed()
    stop = min(task.index + task.count, spec.frames)
    palette = bytes.fromhex(spec.palette)
    blocks: list[str] | None = None
    # the oldest job first, and its frames in order: the GIF is written as they arrive
    order = (spec.submitted_at, job_id, task.index)
    started = time.perf_counter()
    if pipe.settings.store.blocks_via == "kafka":
        digests, blocks = await pipe.run(
            render_carried, settings, options, palette, task.index, stop, lane=lane, order=order
        )
    else:
        root = pipe.settings.store.blocks_dir
        digests = await pipe.run(
            render_to_store, root, job_id, settings, options, palette, task.index, stop,
            lane=lane, order=order,
        )  # fmt: skip
    per_frame = (time.perf_counter() - started) / max(1, len(digests))
    for _ in digests:  # the task's frames took about the same time each
        pipe.metrics.render_frame_seconds.observe(per_frame)
    frame = FrameBlock(spec=spec, index=task.index, digests=digests, blocks=blocks)
    await pipe.publish(out, spec.job_id, frame)
    pipe.metrics.frames.inc(len(digests))
