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

Nothing outlives the job. Its state is needed only until the job ends (a re-drive of a job whose
GIF is written but not yet pinned re-pins it from the recorded CID), so the job's end reaches
this agent as a signal on its own topic (``FAILED``, ``FINISHED``: see ``FrameBlock``) and the
agent deletes the job's ``assemblies`` and ``frame-blocks`` entries — tombstones, which
compaction turns into nothing — and its block files. A worker's recovery then replays the jobs
in flight, not every job ever run. A failed job retried by an operator collects afresh.

A late or redelivered block of a forgotten job is mostly a no-op: its file went with the job, and
a block whose file is missing is not recorded. One whose file is there (a frame still rendering
when the job ended, rendered again by a re-drive) starts a partial state that never completes;
so does a job failed by the watcher, which sends no signal. A sweep every ``SWEEP_INTERVAL_S``
finds states of the partitions this worker owns with no update for ``STALE_AFTER_S`` and
sends each a ``STALE`` signal, so that here too only the agent writes the tables (a timer may
not); the agent forgets the job unless its state moved since.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable

import faust
from aiokafka.partitioner import DefaultPartitioner
from faust.types import TableT

from lantern.contract import FrameBlock, JobSpec, PinRequest
from render import assemble_gif, gif_header

from .blocks import BlockStore
from .errors import PipelineError
from .ids import check_job_id, valid_job_id
from .pipeline import Pipeline
from .rendering import FAILED, FINISHED, STALE
from .topics import ASSEMBLIES_TABLE, BLOCKS_CHANGELOG_CONFIG, BLOCKS_TABLE

__all__ = [
    "STALE_AFTER_S",
    "SWEEP_INTERVAL_S",
    "Assembly",
    "attach",
    "forgets",
    "new_runs",
    "render_progress",
    "stale",
    "stale_signal",
]

log = logging.getLogger(__name__)
_partitioner = DefaultPartitioner()

# The sweep: how often it looks, and how long a job's state may sit without an update before it
# is forgotten. Well above the watcher's re-drives of a stalled job (600 s, 3 times), each of
# which updates a state whose GIF is written: a live job's state is not swept.
SWEEP_INTERVAL_S = 60.0
STALE_AFTER_S = 3600.0


class Assembly(faust.Record, serializer="json"):
    """Where a job's assembly stands: the frames held, the runs they came in, once written its GIF.

    Runs partition the frames held: frames ``s``, ``s`` + 1, … of the run starting at ``s`` (a
    key of the blocks table) up to the next start or the first frame not held. Kept only while
    the job is in flight: deleted when it ends, or by the sweep once stale.
    """

    job_id: str
    frames: int
    have: str = "0"  # hex bitmask: bit i set when frame i's block is held
    starts: str = "0"  # hex bitmask: bit i set when a run of held frames starts at frame i
    count: int = 0
    gif_cid: str = ""
    gif_size: int = 0
    generation: int = -1  # the drive whose PinRequest went out last
    drive: int = -1  # the newest drive whose blocks were recorded
    updated_at: float = 0.0
    version: int = 1
    # (a state written before jobs were forgotten may carry ``closed``: the job failed and its
    # runs were dropped. Nothing reads it; such a state is an empty one, and the sweep takes it.)

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


def new_runs(
    state: Assembly,
    start: int,
    digests: list[str],
    present: Callable[[int], bool] = lambda index: True,
) -> list[tuple[int, list[str]]]:
    """The stretches of frames ``start``, ``start`` + 1, … not yet held, as (first, digests).

    A redelivered run yields nothing (its blocks are the same bytes, counted once); a run that
    overlaps held frames (workers with different run lengths) yields only what is new. A frame
    whose block is not ``present`` (its file went when the job was forgotten) is left out.
    """
    runs: list[tuple[int, list[str]]] = []
    for index, digest in enumerate(digests, start=start):
        if state.holds(index) or not present(index):
            continue
        if runs and runs[-1][0] + len(runs[-1][1]) == index:
            runs[-1][1].append(digest)
        else:
            runs.append((index, [digest]))
    return runs


def forgets(
    state: Assembly | None, signal: int, generation: int, now: float, after: float = STALE_AFTER_S
) -> bool:
    """Whether the ``signal`` (``FAILED``, ``FINISHED``, ``STALE``) of drive ``generation`` makes
    the assembler forget the job whose state is ``state`` (None: nothing recorded).

    A completed job is forgotten whatever its state: nothing can drive it again, so anything
    still held is left over. A failed drive is, unless blocks or a pin of a newer drive are held
    (an operator retry already collecting when a late dead letter of the old drive comes in).
    A stale state is, unless it has been updated since the sweep saw it.
    """
    if signal == FINISHED:
        return True
    if signal == FAILED:
        return state is None or max(state.drive, state.generation) <= generation
    if signal == STALE:
        return state is not None and now - state.updated_at > after
    return False  # a signal this version does not know


def stale(states: Iterable[Assembly], now: float, after: float = STALE_AFTER_S) -> list[Assembly]:
    """The states with no update for ``after`` seconds: partial ones that will never complete,
    written ones whose job ended without a signal, and states left by earlier versions."""
    return [state for state in states if now - state.updated_at > after]


def stale_signal(state: Assembly) -> FrameBlock:
    """The sweep's signal for ``state``, its spec holding only what the agent reads of it."""
    spec = JobSpec(
        job_id=state.job_id,
        settings={},
        options={"frames": state.frames},
        wallet="",
        palette="",
        submitted_at=0.0,
        generation=max(state.drive, state.generation, 0),
    )
    return FrameBlock(spec=spec, index=STALE, digests=[])


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
        ASSEMBLIES_TABLE,  # job → its Assembly, while the job is in flight
        key_type=str,
        value_type=Assembly,
        partitions=partitions,
        default=None,
        extra_topic_configs=BLOCKS_CHANGELOG_CONFIG,
    )

    @app.agent(topic, name="lantern.assemble", concurrency=1)  # only concurrency 1 may write
    async def assemble(frames: faust.StreamT[FrameBlock]) -> None:
        async for frame in frames:
            job_id = frame.spec.job_id
            async with pipe.guard(job_id, "assemble", frame, name, job_id) as outcome:
                check_job_id(job_id)  # a forged id: dead-lettered before any table or file
                state = assemblies.get(job_id)
                if frame.index < 0:  # a signal: the job has ended, or its state is stale
                    if forgets(state, frame.index, frame.spec.generation, time.time()):
                        await _forget(app, blocks, assemblies, store, job_id, state, frame.index)
                    continue
                if state is None:
                    state = Assembly(job_id=job_id, frames=frame.spec.frames)
                if state.gif_cid:
                    if frame.spec.generation <= state.generation:
                        continue  # a late block of a drive already assembled
                    # a newer drive (a re-drive) of a job whose GIF is written: pin again only
                    await _repin(pipe, out, assemblies, frame.spec, state)
                    continue
                before = state.count
                present = _block_present(store, job_id)
                for start, digests in new_runs(state, frame.index, frame.digests, present):
                    blocks[f"{job_id}:{start}"] = ",".join(digests)
                    state = state.with_run(start, len(digests))
                if state.count > before:  # else a redelivered run: same bytes, counted once
                    state = state.derive(drive=max(state.drive, frame.spec.generation))
                    assemblies[job_id] = state
                if state.count < state.frames:
                    if state.count == 0:  # nothing held, nothing recorded: its files are gone
                        log.info("late block job=%s index=%d: dropped", job_id, frame.index)
                    await _report_progress(pipe, frame, before, state.count)
                    continue
                # every frame is held and no GIF is recorded: finish, even if this event added
                # nothing (a worker died while finishing the job, or it is driven again)
                await _finish(pipe, out, blocks, assemblies, store, frame.spec, state)
                # the blocks' files go only once the finished state is on the broker: a worker
                # killed before that finishes the job again from them
                await app.producer.flush()
                await asyncio.to_thread(store.drop, job_id)
            if outcome.final and frame.index >= 0 and valid_job_id(job_id):
                # dead-lettered here: the job has failed; forget it as for any failed drive
                failed = FrameBlock(spec=frame.spec, index=FAILED, digests=[])
                await pipe.publish(topic, job_id, failed)

    every = list(range(partitions))

    @app.timer(SWEEP_INTERVAL_S, name="lantern.assemble.sweep")  # type: ignore[untyped-decorator]
    async def sweep() -> None:
        # only the partitions this worker actively owns (the table also holds standby copies),
        # and only through the agent: a timer may not write the tables
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name}
        states = [
            state
            for job_id, state in list(assemblies.items())
            if state is not None and _partitioner(job_id.encode(), every, every) in owned
        ]
        found = stale(states, time.time())
        if not found:
            return
        try:
            sent = [await topic.send(key=s.job_id, value=stale_signal(s)) for s in found]
            await asyncio.gather(*sent)
        except Exception as exc:  # the broker is away: the next sweep finds them again
            log.warning("sweep: could not send %d stale signals: %s", len(found), exc)
            return
        log.info("sweep: %d stale assembly states to forget", len(found))

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


async def _forget(
    app: faust.App,
    blocks: TableT[str, str],
    assemblies: TableT[str, Assembly],
    store: BlockStore,
    job_id: str,
    state: Assembly | None,
    signal: int,
) -> None:
    """Delete the job's state and block entries (tombstones), then its block files."""
    if state is not None:
        _drop_blocks(blocks, state)
        del assemblies[job_id]
        # the files go only once the tombstones are on the broker: a worker killed before that
        # recovers the state and meets the signal again (it is not committed yet)
        await app.producer.flush()
    await asyncio.to_thread(store.drop, job_id)
    kind = {FAILED: "failed", FINISHED: "finished", STALE: "stale"}.get(signal, str(signal))
    log.info("forgot job=%s (%s)", job_id, kind)


def _block_present(store: BlockStore, job_id: str) -> Callable[[int], bool]:
    """Whether frame ``index``'s block file is in the block store (paths checked by it)."""
    return lambda index: store.has(job_id, index)


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
        key = f"{state.job_id}:{start}"
        if key in blocks:  # a missing key would still be sent a tombstone, then raise
            del blocks[key]
