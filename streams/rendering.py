"""Render stage: draw one frame, quantize it to the job's palette, LZW-encode its GIF block.

Frames are independent once the palette is fixed, so this agent scales with partitions and
workers; each worker runs several frames at once in its process pool. The block (~130 KB at
512²) goes to the block store (``blocks.py``, a claim check); the event that tells the assembler
carries its digest, keyed by job id, so all of a job's frames meet in one partition.
"""

from __future__ import annotations

import logging

import faust

from lantern.contract import FrameBlock, FrameTask

from .blocks import render_to_store
from .errors import InjectedFault
from .ids import valid_job_id
from .pipeline import Pipeline

__all__ = ["FAILED", "FINISHED", "STALE", "attach"]

log = logging.getLogger(__name__)

# A FrameBlock whose ``index`` is one of these carries no frames: it tells the assembler to
# forget the job (its assembly state, its blocks' table entries and their files).
FAILED = -1  # drive ``spec.generation`` failed (render, assemble or pin dead-lettered)
FINISHED = -2  # the job is completed (the pin stage has reported it)
STALE = -3  # the assembler's sweep found the job idle past its TTL


def attach(app: faust.App, pipe: Pipeline, out: faust.TopicT) -> faust.TopicT:
    """Declare ``frame-tasks`` and the agent that renders them into ``out``."""
    name = pipe.names.frame_tasks
    topic = app.topic(
        name, key_type=str, value_type=FrameTask, partitions=pipe.settings.kafka.partitions
    )
    fault_colour = pipe.settings.faults.render_color
    blocks_dir = pipe.settings.store.blocks_dir

    @app.agent(topic, name="lantern.render", concurrency=pipe.settings.worker.render_concurrency)
    async def render(tasks: faust.StreamT[FrameTask]) -> None:
        async for task in tasks:
            spec = task.spec
            key = f"{spec.job_id}:{task.index}"
            partition = tasks.current_event.message.partition if tasks.current_event else None
            async with pipe.guard(spec.job_id, "render", task, name, key, partition) as outcome:
                settings, options = spec.parsed()
                if fault_colour and settings.flow_field.color1 == fault_colour:
                    raise InjectedFault(f"injected render fault for colour {fault_colour}")
                palette = bytes.fromhex(spec.palette)
                stop = min(task.index + task.count, spec.frames)
                digests: list[str] = await pipe.run(
                    render_to_store,
                    blocks_dir,
                    spec.job_id,
                    settings,
                    options,
                    palette,
                    task.index,
                    stop,
                )
                frame = FrameBlock(spec=spec, index=task.index, digests=digests)
                await pipe.publish(out, spec.job_id, frame)
                pipe.metrics.frames.inc(len(digests))
            if outcome.final and valid_job_id(spec.job_id):
                # the job has failed: tell the assembler to forget it
                failed = FrameBlock(spec=spec, index=FAILED, digests=[])
                await pipe.publish(out, spec.job_id, failed)

    return topic
