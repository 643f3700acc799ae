"""Assemble stage: collect a job's N frame blocks and write header + blocks + trailer.

All blocks of a job arrive on one partition (keyed by job id), so one agent instance sees them
all. The finished GIF goes to the content store and only its CID travels on (claim check).
Progress goes out on the original's scale: 5 → 70 while frames arrive, in steps of 5 %.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

import faust

from render import assemble_gif, gif_header

from .job import JobSpec
from .pipeline import Pipeline
from .rendering import FrameBlock

__all__ = ["PinRequest", "attach", "render_progress"]

log = logging.getLogger(__name__)
_RECENTLY_DONE = 1024  # job ids remembered so late duplicate blocks are dropped, not re-collected


class PinRequest(faust.Record, serializer="json"):
    """The job's GIF is in the content store under ``gif_cid``: pin it and its metadata."""

    spec: JobSpec
    gif_cid: str
    gif_size: int
    version: int = 1


def render_progress(done: int, total: int) -> int:
    """Progress while rendering: 5 at the start, 70 when every frame is in (GEN1_SPEC §3)."""
    return 5 + (65 * done) // total


def attach(app: faust.App, pipe: Pipeline, out: faust.TopicT) -> faust.TopicT:
    """Declare ``frames`` and the agent that assembles them into GIFs, then asks ``out`` to pin."""
    topic = app.topic(
        pipe.names.frames,
        key_type=str,
        value_type=FrameBlock,
        partitions=pipe.settings.kafka.partitions,
    )
    pending: dict[str, dict[int, bytes]] = {}
    done_jobs: OrderedDict[str, None] = OrderedDict()

    @app.agent(topic, name="lantern.assemble", concurrency=1)
    async def assemble(blocks: faust.StreamT[FrameBlock]) -> None:
        async for frame in blocks:
            job_id = frame.spec.job_id
            if job_id in done_jobs:
                continue  # a late duplicate of a finished job's block
            async with pipe.guard(job_id, "assemble") as outcome:
                collected = pending.setdefault(job_id, {})
                collected[frame.index] = frame.data()  # a redelivered block: same bytes
                if len(collected) < frame.spec.frames:
                    await _report_progress(pipe, frame, len(collected))
                    continue
                await _finish(pipe, out, frame.spec, collected)
            # finished or failed: forget the job's blocks
            pending.pop(job_id, None)
            done_jobs[job_id] = None
            if len(done_jobs) > _RECENTLY_DONE:
                done_jobs.popitem(last=False)
            if outcome.failed:
                log.warning("assemble failed job=%s", job_id)

    return topic


async def _report_progress(pipe: Pipeline, frame: FrameBlock, done: int) -> None:
    """Every 5 % of the frames (every 5th of 100), like the original's periodic updates."""
    total = frame.spec.frames
    if done % max(1, total // 20) == 0:
        await pipe.report(
            frame.spec.job_id,
            "rendering",
            render_progress(done, total),
            stage="render",
            detail=f"{done}/{total} frames",
        )


async def _finish(
    pipe: Pipeline, out: faust.TopicT, spec: JobSpec, collected: dict[int, bytes]
) -> None:
    job_id, total = spec.job_id, spec.frames
    await pipe.report(job_id, "encoding", 70, stage="assemble", detail="writing GIF")
    size = int(spec.options["size"])
    header = gif_header(size, bytes.fromhex(spec.palette), loop=0)
    gif = assemble_gif(header, (collected[i] for i in range(total)))
    gif_cid = await asyncio.to_thread(pipe.store.put, gif, content_type="image/gif")
    await out.send(key=job_id, value=PinRequest(spec=spec, gif_cid=gif_cid, gif_size=len(gif)))
    await pipe.report(job_id, "pinning", 70, stage="assemble", detail=f"GIF of {len(gif)} bytes")
    log.info("assembled job=%s bytes=%d cid=%s", job_id, len(gif), gif_cid)
