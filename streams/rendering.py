"""Render stage: draw one frame, quantize it to the job's palette, LZW-encode its GIF block.

Frames are independent once the palette is fixed, so this agent scales with partitions and
workers; each worker runs several frames at once in its process pool. The block (~100–200 KB at
512²) travels to the assembler keyed by job id, so all of a job's blocks meet in one partition.
"""

from __future__ import annotations

import base64
import logging

import faust

from render import render_block

from .job import JobSpec
from .pipeline import Pipeline

__all__ = ["FrameBlock", "FrameTask", "attach"]

log = logging.getLogger(__name__)


class FrameTask(faust.Record, serializer="json"):
    """Render frame ``index`` of the job."""

    spec: JobSpec
    index: int
    version: int = 1


class FrameBlock(faust.Record, serializer="json"):
    """Frame ``index`` of the job as a ready GIF image block (GCE + descriptor + LZW data)."""

    spec: JobSpec
    index: int
    block: str  # base64 of the block's bytes
    version: int = 1

    def data(self) -> bytes:
        """The block's bytes."""
        return base64.b64decode(self.block)


def attach(app: faust.App, pipe: Pipeline, out: faust.TopicT) -> faust.TopicT:
    """Declare ``frame-tasks`` and the agent that renders them into ``out``."""
    topic = app.topic(
        pipe.names.frame_tasks,
        key_type=str,
        value_type=FrameTask,
        partitions=pipe.settings.kafka.partitions,
    )

    @app.agent(topic, name="lantern.render", concurrency=pipe.settings.worker.render_concurrency)
    async def render(tasks: faust.StreamT[FrameTask]) -> None:
        async for task in tasks:
            spec = task.spec
            async with pipe.guard(spec.job_id, "render"):
                settings, options = spec.parsed()
                palette = bytes.fromhex(spec.palette)
                block: bytes = await pipe.run(render_block, settings, options, palette, task.index)
                await out.send(
                    key=spec.job_id,
                    value=FrameBlock(
                        spec=spec, index=task.index, block=base64.b64encode(block).decode()
                    ),
                )

    return topic
