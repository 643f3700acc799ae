"""Assemble stage: collect a job's N frame blocks durably and write header + blocks + trailer.

All frames of a job arrive on one partition (keyed by job id), so one agent instance sees them
all. Each frame's block waits in the block store (``blocks.py``); a changelog-backed table keyed
by (job, first frame of a run) records the digests of each run of frames as it comes in — not a
growing list per job, which would rewrite the whole list to the changelog on every run, nor one
entry per frame, which was 200 changelog messages per 100-frame job (set, then delete) and most
of the broker's work. A worker killed mid-job loses nothing: whoever takes over the partition
recovers the table and carries on. A second small table keeps each job's assembly state (which
frames are in, where each run starts, the GIF's CID once written). The finished GIF goes
to the content store and only its CID travels on (claim check).
Progress goes out on the original's scale: 5 → 70 while frames arrive, in steps of 5 %.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import faust
from faust.types import TableT

from render import assemble_gif, gif_header

from .blocks import BlockStore
from .errors import PipelineError
from .job import JobSpec
from .pipeline import Pipeline
from .rendering import FrameBlock
from .topics import ASSEMBLIES_TABLE, BLOCKS_CHANGELOG_CONFIG, BLOCKS_TABLE

__all__ = ["Assembly", "PinRequest", "attach", "new_runs", "render_progress"]

log = logging.getLogger(__name__)


class PinRequest(faust.Record, serializer="json"):
    """The job's GIF is in the content store under ``gif_cid``: pin it and its metadata."""

    spec: JobSpec
    gif_cid: str
    gif_size: int
    attempt: int = 1
    version: int = 1


class Assembly(faust.Record, serializer="json"):
    """Where a job's assembly stands: the frames held, the runs they came in, once written its GIF.

    Runs partition the frames held: frames ``s``, ``s`` + 1, … of the run starting at ``s`` (a
    key of the blocks table) up to the next start or the first frame not held.
    """

    job_id: str
    frames: int
    have: str = "0"  # hex bitmask: bit i set when frame i's block is held
    starts: str = "0"  # hex bitmask: bit i set when a run of held frames starts at frame i
    count: int = 0
    gif_cid: str = ""
    gif_size: int = 0
    generation: int = -1  # the drive whose PinRequest went out last
    closed: bool = False  # the job failed: late blocks are dropped
    updated_at: float = 0.0
    version: int = 1

    def holds(self, index: int) -> bool:
        """True if frame ``index`` is already held."""
        return bool(int(self.have, 16) >> index & 1)

    def with_run(self, start: int, count: int) -> Assembly:
        """This state with frames ``start``..``start + count`` − 1 (none held yet) as one run."""
        mask = int(self.have, 16) | ((1 << count) - 1) << start
        starts = self._starts_mask() | 1 << start
        return self.derive(
            have=format(mask, "x"),
            starts=format(starts, "x"),
            count=self.count + count,
            updated_at=time.time(),
        )

    def run_starts(self) -> list[int]:
        """The first frame of every run held, in order."""
        starts = self._starts_mask()
        return [i for i in range(self.frames) if starts >> i & 1]

    def _starts_mask(self) -> int:
        # a state written before runs were recorded held one table entry per frame:
        # each held frame is then a run of one
        return int(self.starts, 16) or int(self.have, 16)


def new_runs(state: Assembly, start: int, digests: list[str]) -> list[tuple[int, list[str]]]:
    """The stretches of frames ``start``, ``start`` + 1, … not yet held, as (first, digests).

    A redelivered run yields nothing (its blocks are the same bytes, counted once); a run that
    overlaps held frames (workers with different run lengths) yields only what is new.
    """
    runs: list[tuple[int, list[str]]] = []
    for index, digest in enumerate(digests, start=start):
        if state.holds(index):
            continue
        if runs and runs[-1][0] + len(runs[-1][1]) == index:
            runs[-1][1].append(digest)
        else:
            runs.append((index, [digest]))
    return runs


def render_progress(done: int, total: int) -> int:
    """Progress while rendering: 5 at the start, 70 when every frame is in (GEN1_SPEC §3)."""
    return 5 + (65 * done) // total


def attach(app: faust.App, pipe: Pipeline, out: faust.TopicT) -> faust.TopicT:
    """Declare ``frames``, the two tables, and the agent that assembles GIFs and asks to pin."""
    partitions = pipe.settings.kafka.partitions
    name = pipe.names.frames
    topic = app.topic(name, key_type=str, value_type=FrameBlock, partitions=partitions)
    store = BlockStore(pipe.settings.store.blocks_dir)
    blocks = app.Table(
        BLOCKS_TABLE,  # (job, first frame of a run) → the run's digests, comma-separated
        key_type=str,
        value_type=str,
        partitions=partitions,
        extra_topic_configs=BLOCKS_CHANGELOG_CONFIG,
    )
    assemblies = app.Table(
        ASSEMBLIES_TABLE, key_type=str, value_type=Assembly, partitions=partitions, default=None
    )

    @app.agent(topic, name="lantern.assemble", concurrency=1)  # only concurrency 1 may write
    async def assemble(frames: faust.StreamT[FrameBlock]) -> None:
        async for frame in frames:
            job_id = frame.spec.job_id
            async with pipe.guard(job_id, "assemble", frame, name, job_id):
                state = assemblies.get(job_id) or Assembly(job_id=job_id, frames=frame.spec.frames)
                if frame.index < 0:  # the job failed upstream: drop what is held
                    _drop_blocks(blocks, state)
                    await asyncio.to_thread(store.drop, job_id)
                    assemblies[job_id] = state.derive(
                        have="0", starts="0", count=0, closed=True,
                        generation=frame.spec.generation,
                    )  # fmt: skip
                    continue
                if state.gif_cid or state.closed:
                    if frame.spec.generation <= state.generation:
                        continue  # a late block of a drive already finished or closed
                    if state.gif_cid:
                        await _repin(pipe, out, assemblies, frame.spec, state)
                        continue
                    # a failed job driven again (an operator retry): collect afresh
                    state = Assembly(job_id=job_id, frames=frame.spec.frames)
                before = state.count
                for start, digests in new_runs(state, frame.index, frame.digests):
                    blocks[f"{job_id}:{start}"] = ",".join(digests)
                    state = state.with_run(start, len(digests))
                if state.count > before:  # else a redelivered run: same bytes, counted once
                    assemblies[job_id] = state
                if state.count < state.frames:
                    await _report_progress(pipe, frame, before, state.count)
                    continue
                # every frame is held and no GIF is recorded: finish, even if this event added
                # nothing (a worker died while finishing the job, or it is driven again)
                await _finish(pipe, out, blocks, assemblies, store, frame.spec, state)
                # the blocks' files go only once the finished state is on the broker: a worker
                # killed before that finishes the job again from them
                await app.producer.flush()
                await asyncio.to_thread(store.drop, job_id)

    return topic


async def _report_progress(pipe: Pipeline, frame: FrameBlock, before: int, done: int) -> None:
    """Each time another 5 % of the frames is in, like the original's periodic updates."""
    total = frame.spec.frames
    step = max(1, total // 20)
    if done // step > before // step:
        await pipe.report(
            frame.spec.job_id,
            "rendering",
            render_progress(done, total),
            stage="render",
            detail=f"{done}/{total} frames",
        )


async def _finish(
    pipe: Pipeline,
    out: faust.TopicT,
    blocks: TableT[str, str],
    assemblies: TableT[str, Assembly],
    store: BlockStore,
    spec: JobSpec,
    state: Assembly,
) -> None:
    """Write the GIF, ask for its pin, record the job as assembled and forget its runs.

    Every step may be done twice (a worker killed half-way, a re-drive): the GIF's bytes and
    CID are the same, and a second pin request pins nothing new.
    """
    job_id, total = spec.job_id, spec.frames
    await pipe.report(job_id, "encoding", 70, stage="assemble", detail="writing GIF")
    _crash_drill(pipe, store, spec)
    digests = [d for start in state.run_starts() for d in blocks[f"{job_id}:{start}"].split(",")]
    if len(digests) != total:
        found = f"{len(digests)} frame blocks recorded for {total} frames"
        raise PipelineError(found, job_id=job_id)
    gif = await asyncio.to_thread(_write_gif, store, spec, digests)
    gif_cid = await asyncio.to_thread(pipe.store.put, gif, content_type="image/gif")
    request = PinRequest(spec=spec, gif_cid=gif_cid, gif_size=len(gif))
    await pipe.publish(out, job_id, request)
    await pipe.report(job_id, "pinning", 70, stage="assemble", detail=f"GIF of {len(gif)} bytes")
    log.info("assembled job=%s bytes=%d cid=%s", job_id, len(gif), gif_cid)
    assemblies[job_id] = state.derive(
        have="0", starts="0", gif_cid=gif_cid, gif_size=len(gif), generation=spec.generation,
        updated_at=time.time(),
    )  # fmt: skip
    _drop_blocks(blocks, state)


async def _repin(
    pipe: Pipeline,
    out: faust.TopicT,
    assemblies: TableT[str, Assembly],
    spec: JobSpec,
    state: Assembly,
) -> None:
    """A newer drive of a job whose GIF is written (re-drive, operator retry): pin again only."""
    request = PinRequest(spec=spec, gif_cid=state.gif_cid, gif_size=state.gif_size)
    await pipe.publish(out, spec.job_id, request)
    assemblies[spec.job_id] = state.derive(generation=spec.generation, updated_at=time.time())
    log.info("re-pin job=%s generation=%d", spec.job_id, spec.generation)


def _write_gif(store: BlockStore, spec: JobSpec, digests: list[str]) -> bytes:
    """Header + the blocks in frame order + trailer (blocking: reads the block store)."""
    header = gif_header(int(spec.options["size"]), bytes.fromhex(spec.palette), loop=0)
    return assemble_gif(header, (store.get(spec.job_id, i, d) for i, d in enumerate(digests)))


def _crash_drill(pipe: Pipeline, store: BlockStore, spec: JobSpec) -> None:
    """``LANTERN_FAULTS_ASSEMBLE_CRASH_COLOR``: die here, once per job, as a SIGKILL would."""
    colour = pipe.settings.faults.assemble_crash_color
    if not colour or spec.parsed()[0].flow_field.color1 != colour:
        return
    marker = store.root / f".crashed-{spec.job_id}"
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    log.warning("injected crash job=%s while assembling", spec.job_id)
    group = os.getpgid(0)
    if group == os.getpid():  # our own process group (lantern up, tests): the pool goes too
        os.killpg(group, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _drop_blocks(blocks: TableT[str, str], state: Assembly) -> None:
    for start in state.run_starts():
        del blocks[f"{state.job_id}:{start}"]
