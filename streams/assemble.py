"""Assemble stage: collect a job's N frame blocks durably and write header + blocks + trailer.

All frames of a job arrive on one partition (keyed by job id), so one agent instance sees them
all. When the blocks travel through Kafka (the default), a changelog-backed table keyed by (job,
first frame of a run) records each run as it comes in, its blocks' bytes with their digests —
not a growing list per job, which would rewrite every byte so far to the changelog on every run,
nor one entry per frame, which was 200 changelog messages per 100-frame job (set, then delete)
and most of the broker's work. When they wait in a shared block folder (``blocks.py``,
``LANTERN_STORE_BLOCKS_VIA``), a run is only its digests, which the job's state keeps itself.
A worker killed mid-job loses nothing: whoever takes over the partition recovers the tables, the
bytes with them, and carries on.
A second small table keeps each job's assembly state (which frames are in, where each run
starts, the GIF's CID once written). The finished GIF goes to the content store — the local
one, and the pin backend's node when there is one, so that a worker sharing no disk with this
one can pin it — and only its CID travels on (claim check).
Progress goes out on the original's scale and cadence: 5 → 70 while frames arrive, a report every
20 frames (every 5 % of a job longer than 400 frames), as clients of the original expect.

What to do with an event is decided by a pure function, ``step(state, event)``, which returns
the job's next state and the actions that get it there (record a run, save or delete the state,
report, finish the GIF, flush, drop the block files …); the agent only reads the tables, calls
``step`` and applies the actions in order (``Applier``). Every case — a duplicate or
out-of-order run, the last block, a block after the GIF or after the job failed, the job's end —
is a case of ``step`` and is tested as one.

Nothing outlives the job. Its state is needed only until the job ends (a re-drive of a job whose
GIF is written but not yet pinned re-pins it from the recorded CID), so the job's end reaches
this agent as a record of its own on its topic (``JobEnded``: failed, finished) and the agent
deletes the job's ``assemblies`` and ``frame-blocks`` entries — tombstones, which compaction
turns into nothing — and its block files. A worker's recovery then replays the jobs in flight,
not every job ever run. A failed job retried by an operator collects afresh.

A late or redelivered block of a forgotten job is mostly a no-op on disk: its file went with the
job, and a block whose file is missing is not recorded. One whose file is there, or whose bytes
it carries (a frame still rendering when the job ended, rendered again by a re-drive, or
redelivered after a worker died), starts a partial state that never completes;
so does a job failed by the watcher, which sends no signal. A sweep every ``SWEEP_INTERVAL_S``
finds states of the partitions this worker owns with no update for ``STALE_AFTER_S`` and
sends each a ``stale`` JobEnded, so that here too only the agent writes the tables (a timer may
not); the agent forgets the job unless its state moved since.

The ``frames`` topic thus carries two record types, and faust decodes each by its namespace
(``FramesSchema``). A record this version cannot read — a forged or unknown namespace, a plain
value, a FrameBlock written before the job's end had a record of its own (a negative index was
the signal, see ``read_event``) — neither stops the agent nor is misread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import faust
from faust.types import TableT

from lantern.contract import FrameBlock, JobEnded, JobSpec, PinRequest
from pinning.store import LocalStore, StoreWriter
from render import GIF_TRAILER, gif_header

from .blocks import BlockStore, block_of, decode_run, encode_run
from .errors import PipelineError
from .ids import check_job_id, valid_job_id
from .pipeline import Pipeline, is_permanent
from .resume import LanternApp
from .schema import RecordSchema
from .topics import (
    ASSEMBLIES_TABLE,
    BLOCKS_CHANGELOG_CONFIG,
    BLOCKS_TABLE,
    owned_partitions,
    partition_of,
)

__all__ = [
    "LEGACY_NAMESPACE",
    "REPORT_EVERY_FRAMES",
    "STALE_AFTER_S",
    "SWEEP_INTERVAL_S",
    "Action",
    "Applier",
    "Assembly",
    "DeleteState",
    "DropFiles",
    "DropRuns",
    "Finish",
    "Flush",
    "FramesSchema",
    "Note",
    "RecordRun",
    "Report",
    "RequestPin",
    "SaveState",
    "attach",
    "forgets",
    "held_runs",
    "job_of",
    "new_runs",
    "read_event",
    "render_progress",
    "run_key",
    "stale",
    "stale_signal",
    "step",
    "table_keys",
]

log = logging.getLogger(__name__)

# The sweep: how often it looks, and how long a job's state may sit without an update before it
# is forgotten. Well above the watcher's re-drives of a stalled job (600 s, 3 times), each of
# which updates a state whose GIF is written: a live job's state is not swept.
SWEEP_INTERVAL_S = 60.0
STALE_AFTER_S = 3600.0
# changelog records of the blocks table held before they are applied, recovering or standing by
RUNS_BUFFERED = 8
# progress while frames arrive: a report every this many frames (GEN1_SPEC §3)
REPORT_EVERY_FRAMES = 20
# blocks read and checked ahead of the GIF's writer (_read_ahead): ~1 MB at 512², ~5 MB at 1024²
READ_AHEAD = 8
# GIFs written ahead at once (``Draft``: an open file each), and how long one may wait for its
# job's next run before it is dropped (the job then writes its GIF whole at the end)
DRAFTS_MAX = 16
DRAFT_IDLE_S = 600.0


class Assembly(faust.Record, serializer="json"):
    """Where a job's assembly stands: the frames held, the runs they came in, once written its GIF.

    Runs partition the frames held: frames ``s``, ``s`` + 1, … of the run starting at ``s`` (in
    ``runs``, or a key of the blocks table) up to the next start or the first frame not held.
    Kept only while the job is in flight: deleted when it ends, or by the sweep once stale.
    """

    job_id: str
    frames: int
    have: str = "0"  # hex bitmask: bit i set when frame i's block is held
    starts: str = "0"  # hex bitmask: bit i set when a run of held frames starts at frame i
    count: int = 0
    gif_cid: str = ""
    gif_size: int = 0
    shared_cid: str = ""  # the GIF's CID on the pin backend's node, if it has one
    generation: int = -1  # the drive whose PinRequest went out last
    drive: int = -1  # the newest drive whose blocks were recorded
    updated_at: float = 0.0
    version: int = 1
    # runs whose blocks wait in the block folder: first frame (decimal) → its digests
    # (``encode_run``). Kept here, not in the blocks table: two changelog messages fewer a run
    # (its entry and, once the GIF is written, its tombstone), 20 of a default job's ~90.
    runs: dict[str, str] | None = None
    # (a state written before jobs were forgotten may carry ``closed``: the job failed and its
    # runs were dropped. Nothing reads it; such a state is an empty one, and the sweep takes it.)

    def holds(self, index: int) -> bool:
        """True if frame ``index`` is already held."""
        return bool(int(self.have, 16) >> index & 1)

    def with_run(
        self, start: int, count: int, now: float, digests: tuple[str, ...] = ()
    ) -> Assembly:
        """This state with frames ``start``..``start + count`` − 1 (none held yet) as one run;
        with its ``digests`` when its blocks are in the block folder (else the blocks table
        holds the run)."""
        mask = int(self.have, 16) | ((1 << count) - 1) << start
        starts = self._starts_mask() | 1 << start
        runs = self.runs
        if digests:
            runs = {**(runs or {}), str(start): encode_run(digests, ())}
        return self.derive(
            have=format(mask, "x"),
            starts=format(starts, "x"),
            count=self.count + count,
            updated_at=now,
            runs=runs,
        )

    def assembled(
        self, gif_cid: str, gif_size: int, generation: int, now: float, shared_cid: str = ""
    ) -> Assembly:
        """This state once drive ``generation`` has written the GIF: its CIDs and size kept,
        the runs gone (their table entries are dropped next)."""
        return self.derive(
            have="0", starts="0", gif_cid=gif_cid, gif_size=gif_size, shared_cid=shared_cid,
            generation=generation, updated_at=now, runs=None,
        )  # fmt: skip

    def run_starts(self) -> list[int]:
        """The first frame of every run held, in order."""
        starts = self._starts_mask()
        return [i for i in range(self.frames) if starts >> i & 1]

    def _starts_mask(self) -> int:
        # a state written before runs were recorded held one table entry per frame:
        # each held frame is then a run of one
        return int(self.starts, 16) or int(self.have, 16)


# ── actions: what ``step`` decides, applied in order by the agent ───────────────────────────────


@dataclass(frozen=True)
class RecordRun:
    """Record a run in the blocks table under ``key`` (``run_key``): its digests and its blocks'
    bytes (base64), which the event carried. (A run whose blocks are in the block folder is kept
    in the job's state instead; an entry of digests alone is what earlier versions wrote.)"""

    key: str
    digests: tuple[str, ...]
    blocks: tuple[str, ...] = ()


@dataclass(frozen=True)
class SaveState:
    """Record the job's assembly state."""

    state: Assembly


@dataclass(frozen=True)
class DeleteState:
    """Delete the job's assembly state (a tombstone)."""

    job_id: str


@dataclass(frozen=True)
class DropRuns:
    """Delete the blocks table's entries ``keys`` (tombstones; a key not there is skipped)."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """Send a StatusEvent for the job."""

    job_id: str
    state: str
    progress: int
    stage: str
    detail: str


@dataclass(frozen=True)
class RequestPin:
    """Ask the pin stage to pin a GIF already written."""

    request: PinRequest


@dataclass(frozen=True)
class Finish:
    """Write the GIF from the runs ``state`` holds, ask for its pin, and record the job as
    assembled. The one action with a result: only writing the GIF tells its CID, so this action
    saves the assembled state itself."""

    spec: JobSpec
    state: Assembly


@dataclass(frozen=True)
class Flush:
    """Wait until everything sent so far (table entries, tombstones) is on the broker."""


@dataclass(frozen=True)
class DropFiles:
    """Delete the job's block files."""

    job_id: str


@dataclass(frozen=True)
class Note:
    """Log ``text`` (info)."""

    text: str


Action = (
    RecordRun | SaveState | DeleteState | DropRuns | Report | RequestPin | Finish | Flush
    | DropFiles | Note
)  # fmt: skip


# ── the step ───────────────────────────────────────────────────────────────────────────────────


def step(
    state: Assembly | None,
    event: FrameBlock | JobEnded,
    *,
    present: Callable[[int], bool],
    now: float,
) -> tuple[Assembly | None, list[Action]]:
    """The job's state after ``event`` and the actions that get the tables there, in order.

    ``state`` is the job's recorded state (None: nothing recorded), ``present`` says whether a
    frame's block file is in the block store (asked only of a run whose event carries no
    bytes), ``now`` is the time. The state returned is what the tables hold once the actions
    are applied (None: nothing), except after a ``Finish``, which also records the GIF's CID:
    it is then the state the GIF is written from, which the tables hold until the Finish is
    done — so a worker killed before that meets the same event again and finishes the job from
    the same blocks.
    """
    if isinstance(event, JobEnded):
        return _end(state, event, now)
    return _collect(state, event, present, now)


def _end(
    state: Assembly | None, ended: JobEnded, now: float
) -> tuple[Assembly | None, list[Action]]:
    """The job has ended (or its state is stale): forget it, unless ``forgets`` says otherwise.
    Its block files go only once the tombstones are on the broker: a worker killed before that
    recovers the state and meets the same event again (it is not committed yet)."""
    if not forgets(state, ended.how, ended.generation, now):
        return state, []
    actions: list[Action] = []
    if state is not None:
        actions += [*_drop_runs(state), DeleteState(ended.job_id), Flush()]
    actions += [DropFiles(ended.job_id), Note(f"forgot job={ended.job_id} ({ended.how})")]
    return None, actions


def _collect(
    held: Assembly | None, frame: FrameBlock, present: Callable[[int], bool], now: float
) -> tuple[Assembly | None, list[Action]]:
    """A run of frame blocks: record what is new, report progress, finish once all are in."""
    spec = frame.spec
    state = held if held is not None else Assembly(job_id=spec.job_id, frames=spec.frames)
    if state.gif_cid:
        if spec.generation <= state.generation:
            return state, []  # a late block of a drive already assembled
        return _repin(state, spec, now)  # a newer drive (a re-drive): pin again only
    before = state.count
    state, actions = _record(state, frame, present, now)
    if state.count == 0:  # nothing held, nothing recorded: its files are gone
        return held, [Note(f"late block job={spec.job_id} index={frame.index}: dropped")]
    if state.count < state.frames:
        return state, actions + _progress(spec, before, state.count)
    # every frame is held and no GIF is recorded: finish, even if this event added nothing
    # (a worker died while finishing the job, or it is driven again)
    return state, actions + _complete(spec, state)


def _record(
    state: Assembly, frame: FrameBlock, present: Callable[[int], bool], now: float
) -> tuple[Assembly, list[Action]]:
    """The frames of ``frame`` not yet held (carried, or whose files are there), as runs to
    record."""
    actions: list[Action] = []
    carried = frame.blocks
    if carried is not None:
        present = _everywhere  # the bytes are in the event: no file to look for
    before = state.count
    for start, digests in new_runs(state, frame.index, frame.digests, present):
        if carried is None:  # in the block folder: the state keeps its digests
            state = state.with_run(start, len(digests), now, tuple(digests))
            continue
        offset = start - frame.index
        blocks = tuple(carried[offset : offset + len(digests)])
        actions.append(RecordRun(run_key(state.job_id, start), tuple(digests), blocks))
        state = state.with_run(start, len(digests), now)
    if state.count > before:  # else a redelivered run: same bytes, counted once
        state = state.derive(drive=max(state.drive, frame.spec.generation))
        actions.append(SaveState(state))
    return state, actions


def _everywhere(index: int) -> bool:
    return True


def _progress(spec: JobSpec, before: int, done: int) -> list[Action]:
    """A report each time another ``REPORT_EVERY_FRAMES`` frames are in (5 % of a longer job),
    as the original reported: each report is two messages (the event and the status table's
    changelog), and a finer one told a client polling every 2 s nothing more."""
    total = spec.frames
    every = max(REPORT_EVERY_FRAMES, total // 20)
    if done // every <= before // every:
        return []
    progress = render_progress(done, total)
    return [Report(spec.job_id, "rendering", progress, "render", f"{done}/{total} frames")]


def _complete(spec: JobSpec, state: Assembly) -> list[Action]:
    """Report ``encoding``, write the GIF, then forget the runs. The blocks' files go only once
    the assembled state is on the broker: a worker killed before that finishes again from them."""
    return [
        Report(spec.job_id, "encoding", 70, "assemble", "writing GIF"),
        Finish(spec, state),
        *_drop_runs(state),
        Flush(),
        DropFiles(spec.job_id),
    ]


def _drop_runs(state: Assembly) -> list[Action]:
    """Delete the runs ``state`` holds in the blocks table, if any (the others go with it)."""
    keys = table_keys(state)
    return [DropRuns(keys)] if keys else []


def _repin(state: Assembly, spec: JobSpec, now: float) -> tuple[Assembly, list[Action]]:
    """A newer drive (re-drive, operator retry) of a job whose GIF is written: pin it again."""
    request = PinRequest(
        spec=spec, gif_cid=state.gif_cid, gif_size=state.gif_size, shared_cid=state.shared_cid
    )
    state = state.derive(generation=spec.generation, updated_at=now)
    note = Note(f"re-pin job={spec.job_id} generation={spec.generation}")
    return state, [RequestPin(request), SaveState(state), note]


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
    state: Assembly | None, how: str, generation: int, now: float, after: float = STALE_AFTER_S
) -> bool:
    """Whether the end ``how`` (failed, finished, stale) of drive ``generation`` makes the
    assembler forget the job whose state is ``state`` (None: nothing recorded).

    A finished job is forgotten whatever its state: nothing can drive it again, so anything
    still held is left over. A failed drive is, unless blocks or a pin of a newer drive are held
    (an operator retry already collecting when a late dead letter of the old drive comes in).
    A stale state is, unless it has been updated since the sweep saw it.
    """
    if how == "finished":
        return True
    if how == "failed":
        return state is None or max(state.drive, state.generation) <= generation
    if how == "stale":
        return state is not None and now - state.updated_at > after
    return False  # an end this version does not know


def stale(states: Iterable[Assembly], now: float, after: float = STALE_AFTER_S) -> list[Assembly]:
    """The states with no update for ``after`` seconds: partial ones that will never complete,
    written ones whose job ended without a signal, and states left by earlier versions."""
    return [state for state in states if now - state.updated_at > after]


def stale_signal(state: Assembly) -> JobEnded:
    """The sweep's record for ``state``: its job is stale, as of the newest drive it holds."""
    generation = max(state.drive, state.generation, 0)
    return JobEnded(job_id=state.job_id, how="stale", generation=generation)


def render_progress(done: int, total: int) -> int:
    """Progress while rendering: 5 at the start, 70 when every frame is in (GEN1_SPEC §3)."""
    return 5 + (65 * done) // total


def run_key(job_id: str, start: int) -> str:
    """The blocks table's key of the job's run that starts at frame ``start``."""
    return f"{job_id}:{start}"


def table_keys(state: Assembly) -> tuple[str, ...]:
    """The blocks table's keys of the runs ``state`` holds there (not in itself), in order."""
    inline = state.runs or {}
    return tuple(
        run_key(state.job_id, start) for start in state.run_starts() if str(start) not in inline
    )


def held_runs(state: Assembly, table: Mapping[str, str]) -> list[str]:
    """Every run ``state`` holds, in frame order (``encode_run``): from the state itself, or
    from the blocks ``table`` (KeyError if an entry is missing)."""
    inline = state.runs or {}
    return [
        inline[str(start)] if str(start) in inline else table[run_key(state.job_id, start)]
        for start in state.run_starts()
    ]


# ── reading the frames topic ───────────────────────────────────────────────────────────────────

# FrameBlock's namespace before the contract fixed it, and the job's end as earlier versions
# wrote it: a FrameBlock whose negative index was the signal
LEGACY_NAMESPACE = "streams.rendering.FrameBlock"
_LEGACY_ENDS = {-1: "failed", -2: "finished", -3: "stale"}


# values of ``frames`` decoded by their namespace (FrameBlock or JobEnded), or as they are
FramesSchema = RecordSchema


def read_event(value: object) -> FrameBlock | JobEnded | None:
    """What a value on ``frames`` tells the assembler: a run of blocks, the job's end, or — for
    anything else (another record, a plain value, fields of the wrong type) — None.

    Records written before the job's end had a record of its own may still be on the topic: a
    FrameBlock, under its namespace then (``LEGACY_NAMESPACE``, which faust no longer knows) or
    now, whose negative index was the signal (−1 failed, −2 finished, −3 stale). Read as the
    matching JobEnded.
    """
    if isinstance(value, dict) and _namespace(value) == LEGACY_NAMESPACE:
        value = _legacy_block(value)
    if isinstance(value, JobEnded):
        return value if _well_formed_end(value) else None
    if not isinstance(value, FrameBlock) or not _well_formed_block(value):
        return None
    if value.index >= 0:
        return value
    how = _LEGACY_ENDS.get(value.index)
    if how is None:
        return None
    spec = value.spec
    return JobEnded(
        job_id=spec.job_id, how=how, generation=spec.generation, attempt=value.attempt,
        version=value.version,
    )  # fmt: skip


def job_of(event: FrameBlock | JobEnded) -> str:
    """The id of the job ``event`` belongs to (the key it travels under)."""
    return event.job_id if isinstance(event, JobEnded) else event.spec.job_id


def _namespace(data: dict[Any, Any]) -> object:
    blessed = data.get("__faust")
    return blessed.get("ns") if isinstance(blessed, dict) else None


def _legacy_block(data: dict[Any, Any]) -> FrameBlock | None:
    try:
        block = FrameBlock.from_data(data, preferred_type=FrameBlock)
    except (TypeError, ValueError, KeyError):
        return None
    return block if isinstance(block, FrameBlock) else None


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _well_formed_block(block: FrameBlock) -> bool:
    try:  # faust decodes a nested record when it is first read: a forged one raises here
        spec = block.spec
        return (
            isinstance(spec, JobSpec)
            and isinstance(spec.job_id, str)
            and _whole(spec.generation)
            and _whole(block.index)
            and _whole(block.attempt)
            and isinstance(block.digests, list)
            and all(isinstance(digest, str) for digest in block.digests)
            and _well_formed_blocks(block.blocks, len(block.digests))
        )
    except (TypeError, ValueError, KeyError, AttributeError):
        return False


def _well_formed_blocks(blocks: object, count: int) -> bool:
    """None (the blocks are on disk), or one text per digest."""
    if blocks is None:
        return True
    return (
        isinstance(blocks, list)
        and len(blocks) == count
        and all(isinstance(block, str) for block in blocks)
    )


def _well_formed_end(ended: JobEnded) -> bool:
    return (
        isinstance(ended.job_id, str)
        and isinstance(ended.how, str)
        and _whole(ended.generation)
        and _whole(ended.attempt)
    )


# ── the agent ──────────────────────────────────────────────────────────────────────────────────


def attach(app: faust.App, pipe: Pipeline, out: faust.TopicT) -> faust.TopicT:
    """Declare ``frames``, the two tables, the agent that assembles GIFs and asks to pin, and
    the sweep of stale states."""
    partitions = pipe.settings.kafka.partitions
    name = pipe.names.frames
    schema = FramesSchema(key_type=str, value_type=None)
    topic = app.topic(name, schema=schema, partitions=partitions)
    store = BlockStore(pipe.settings.store.blocks_dir)
    blocks = app.Table(
        BLOCKS_TABLE,  # (job, first frame of a run) → the run (blocks.encode_run)
        key_type=str,
        value_type=str,
        partitions=partitions,
        extra_topic_configs=BLOCKS_CHANGELOG_CONFIG,
        # faust applies changelog records to a standby copy (and in a recovery) in batches,
        # holding them until 1,000 have come: with runs of a few MB each that held every block
        # in flight twice over (workers grew past 1 GB with 20 jobs); a few at a time instead
        recovery_buffer_size=RUNS_BUFFERED,
        standby_buffer_size=RUNS_BUFFERED,
    )
    assemblies = app.Table(
        ASSEMBLIES_TABLE,  # job → its Assembly, while the job is in flight
        key_type=str,
        value_type=Assembly,
        partitions=partitions,
        default=None,
        extra_topic_configs=BLOCKS_CHANGELOG_CONFIG,
    )
    by_commit = pipe.settings.kafka.processing_guarantee != "exactly_once"
    applier = Applier(app, pipe, out, blocks, assemblies, store, by_commit=by_commit)

    def write_pending() -> int:
        return (
            applier.write_pending(owned_partitions(app, name).__contains__)
            if applier.pending
            else 0
        )

    if isinstance(app, LanternApp):
        app.before_commit.append(write_pending)
    else:  # an app that cannot say when it commits: every state at once
        applier.by_commit = False
    # drafts of GIFs (``Draft``) a killed worker left in the content store
    pipe.store.clean_temporary(older_than_s=2 * DRAFT_IDLE_S)

    @app.agent(topic, name="lantern.assemble", concurrency=1)  # only concurrency 1 may write
    async def assemble(values: faust.StreamT[Any]) -> None:
        try:
            async for value in values:
                await _assemble_one(value)
        finally:  # stopping: the GIFs written ahead are left to whoever takes the jobs
            applier.drop_drafts()

    async def _assemble_one(value: Any) -> None:
        event = read_event(value)
        if event is None:
            log.warning("frames: skipped a value that is no FrameBlock or JobEnded: %.200r",
                        value)  # fmt: skip
            return
        job_id = job_of(event)
        work = partial(applier.handle, event)
        outcome = await pipe.guard("assemble", event, work, job_id=job_id, topic=name, key=job_id)
        if outcome.final and isinstance(event, FrameBlock) and valid_job_id(job_id):
            # dead-lettered here: the job has failed; forget it as for any failed drive
            failed = JobEnded(job_id=job_id, how="failed", generation=event.spec.generation)
            await pipe.publish(topic, job_id, failed)

    @app.timer(SWEEP_INTERVAL_S, name="lantern.assemble.sweep")  # type: ignore[untyped-decorator]
    async def sweep() -> None:
        # only the jobs of the partitions this worker actively owns, and only through the
        # agent: a timer may not write the tables
        mine = owned_partitions(app, name)

        def here(job_id: str) -> bool:
            return partition_of(job_id, partitions) in mine

        # GIFs written ahead for jobs whose partition went to another worker: it writes them
        # whole; here they would hold a file and a slot until idle for DRAFT_IDLE_S
        gone = applier.drop_drafts(keep=here)
        if gone:
            log.info("sweep: dropped %d GIFs written ahead for jobs now elsewhere", gone)
        states = [
            state
            for job_id, state in list(assemblies.items())
            if state is not None and here(job_id)
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


@dataclass
class Applier:
    """Carries out what ``step`` decides: the tables, the block store, status and pin requests.

    Every action may be applied twice (a worker killed half-way, a re-drive): table writes and
    deletes are idempotent, the GIF's bytes and CID are the same, and a second pin request pins
    nothing new.
    """

    app: faust.App
    pipe: Pipeline
    out: faust.TopicT  # pin-requests
    blocks: TableT[str, str]
    assemblies: TableT[str, Assembly]
    store: BlockStore
    # job → its GIF written so far, while its frames arrive (in memory only: ``Draft``)
    drafts: dict[str, Draft] = field(default_factory=dict)
    # states of jobs still collecting, held in the table here and sent to its changelog just
    # before the next commit of offsets (``write_pending``) rather than once a run: False
    # under exactly-once, where every write belongs to its event's transaction
    by_commit: bool = True
    # job → (the changelog partition faust would write it to, its state)
    pending: dict[str, tuple[int, Assembly]] = field(default_factory=dict)

    async def handle(self, event: FrameBlock | JobEnded) -> None:
        """Read the job's state, decide (``step``), apply the actions in order; then write
        the job's GIF ahead as far as its frames are in, in order (``_write_ahead``)."""
        job_id = check_job_id(job_of(event))  # a forged id: dead-lettered before any table or file
        present = _lazy_membership(partial(self.store.indexes, job_id))  # one listing, if any
        state = self.assemblies.get(job_id)
        after, actions = step(state, event, present=present, now=time.time())
        for action in actions:
            await self.apply(action)
        if isinstance(event, JobEnded):
            self._drop_draft(job_id)
        elif after is not None and collecting(after):
            await self._write_ahead(event.spec, after)

    async def apply(self, action: Action) -> None:
        """Carry out one action."""
        match action:
            case RecordRun(key, digests, blocks):
                self.blocks[key] = encode_run(digests, blocks)
            case SaveState(state) if self.by_commit and collecting(state):
                self.assemblies.data[state.job_id] = state
                self.pending[state.job_id] = (self._partition(state.job_id), state)
            case SaveState(state):
                self._save_now(state)
            case DeleteState(job_id):
                self.pending.pop(job_id, None)
                del self.assemblies[job_id]
            case DropRuns(keys):
                for key in keys:
                    if key in self.blocks:  # a missing key would still be sent a tombstone
                        del self.blocks[key]
            case Report(job_id, state, progress, stage, detail):
                await self.pipe.report(
                    job_id, state, progress, stage=stage, detail=detail, here=True
                )
            case RequestPin(request):
                await self.pipe.publish(self.out, request.spec.job_id, request)
            case Finish(spec, state):
                await self._finish(spec, state)
            case Flush():
                await self.app.producer.flush()
            case DropFiles(job_id):
                await asyncio.to_thread(self.store.drop, job_id)
            case Note(text):
                log.info("%s", text)

    async def _finish(self, spec: JobSpec, state: Assembly) -> None:
        """Write the GIF, ask for its pin, record the job as assembled.

        It starts at the pipeline's entry hook (``assemble.finish``), as a stage starts at
        ``guard``: every block is in, ``encoding`` is reported, nothing is written yet.
        """
        self.pipe.enter("assemble.finish", spec)
        job_id = spec.job_id
        runs = held_runs(state, self.blocks)  # a KeyError: retried
        started = time.perf_counter()
        draft = self._take_draft(spec, state)
        if draft is None:
            gif_cid, size = await asyncio.to_thread(
                self.pipe.store.put_chunks,
                gif_parts(self.store, spec, runs),
                content_type="image/gif",
            )
        else:
            frames = frames_of(spec, runs)
            gif_cid, size = await asyncio.to_thread(draft.finish, self.store, spec, frames)
        self.pipe.metrics.encode_seconds.observe(time.perf_counter() - started)
        self.pipe.metrics.gif_bytes.observe(size)
        shared = await self._share(job_id, gif_cid)
        request = PinRequest(spec=spec, gif_cid=gif_cid, gif_size=size, shared_cid=shared)
        await self.pipe.publish(self.out, job_id, request)
        detail = f"GIF of {size} bytes"
        await self.pipe.report(job_id, "pinning", 70, stage="assemble", detail=detail, here=True)
        log.info("assembled job=%s bytes=%d cid=%s", job_id, size, gif_cid)
        self._save_now(
            state.assembled(gif_cid, size, spec.generation, time.time(), shared_cid=shared)
        )

    def _save_now(self, state: Assembly) -> None:
        """Write ``state`` through to the changelog now; a state held for the commit is then
        stale and never sent."""
        self.pending.pop(state.job_id, None)
        self.assemblies[state.job_id] = state

    def write_pending(self, owned: Callable[[int], bool]) -> int:
        """Send the states held since the last commit to the table's changelog, just before
        the consumer commits the offsets of the events that made them (``LanternConsumer``):
        how many. A job's state changes with every run (ten times a default job), but only
        the last before a commit needs to be on the broker: a worker killed before it is sent
        has not committed those events either, and whoever takes the partition over recovers
        the state last sent and reads them again. A state of a partition this worker no
        longer owns (``owned``: by the frames topic's partition number) is not sent: its
        events are read again by the new owner, which would otherwise meet an older state."""
        sent = 0
        for job_id, (partition, state) in self.pending.items():
            if owned(partition):
                self.assemblies.send_changelog(partition, job_id, state)
                sent += 1
        self.pending.clear()
        return sent

    def _partition(self, job_id: str) -> int:
        """The partition of the event being processed, where faust writes a table's changes
        (``Table.partition_for_key``); the job's partition of ``frames`` outside one."""
        event = faust.current_event()
        if event is not None:
            return int(event.message.partition)
        return partition_of(job_id, self.pipe.settings.kafka.partitions)

    async def _write_ahead(self, spec: JobSpec, state: Assembly) -> None:
        """Write the job's GIF on from where its draft stands, as far as its frames are in
        from the first without a gap, so that at the end only the last runs are left to
        write. Only an optimisation: whatever goes wrong drops the draft, and the job's GIF
        is then written whole at the end, where any error is the job's."""
        job_id = spec.job_id
        digests = inline_prefix(state)
        draft = self.drafts.get(job_id)
        if draft is not None and not draft.leads_to(spec, digests):
            self._drop_draft(job_id)
            draft = None
        if draft is not None and len(digests) == draft.written:
            return
        if draft is None and (not digests or not self._room_for_draft()):
            return
        try:
            if draft is None:
                draft = self.drafts[job_id] = Draft.start(self.pipe.store, spec)
            await asyncio.to_thread(draft.extend, self.store, job_id, digests)
        except Exception as exc:
            log.info("GIF of job=%s not written ahead: %s", job_id, exc)
            self._drop_draft(job_id)

    def _room_for_draft(self) -> bool:
        """Whether another draft may start: drafts idle for ``DRAFT_IDLE_S`` go first."""
        now = time.monotonic()
        for job_id in [j for j, d in self.drafts.items() if now - d.touched > DRAFT_IDLE_S]:
            self._drop_draft(job_id)
        return len(self.drafts) < DRAFTS_MAX

    def _take_draft(self, spec: JobSpec, state: Assembly) -> Draft | None:
        """The job's draft, taken for its Finish, if it leads to the GIF of ``state``."""
        draft = self.drafts.pop(spec.job_id, None)
        if draft is not None and not draft.leads_to(spec, inline_prefix(state)):
            draft.abort()
            return None
        return draft

    def drop_drafts(self, keep: Callable[[str], bool] = lambda job_id: False) -> int:
        """Drop the drafts of the jobs ``keep`` refuses (by default every one: the agent
        stops): how many."""
        dropped = [job_id for job_id in self.drafts if not keep(job_id)]
        for job_id in dropped:
            self._drop_draft(job_id)
        return len(dropped)

    def _drop_draft(self, job_id: str) -> None:
        draft = self.drafts.pop(job_id, None)
        if draft is not None:
            draft.abort()

    async def _share(self, job_id: str, gif_cid: str) -> str:
        """Add the GIF to the pin backend's node (if it has one), for whichever worker pins the
        job: its CID there, or "". A node that is away fails the Finish, which is retried from
        the blocks held; one that refuses for good (credentials, another CID) is left to the pin
        stage, which meets the same refusal and fails the job where it belongs, at ``pin``."""
        path = await asyncio.to_thread(self.pipe.store.path, gif_cid)
        name = f"gen1-{job_id}.gif"
        try:
            return await self.pipe.shared.share(path, name=name, content_type="image/gif")
        except Exception as exc:
            if not is_permanent(exc):
                raise
            log.warning("GIF of job=%s not added to the node: %s", job_id, exc)
            return ""


def collecting(state: Assembly) -> bool:
    """Whether ``state`` is of a job still collecting its frames: some not in, no GIF."""
    return not state.gif_cid and state.count < state.frames


def _lazy_membership(listing: Callable[[], frozenset[int]]) -> Callable[[int], bool]:
    """``index in listing()``, listing only when first asked (a run carried through Kafka never
    asks)."""
    once = cache(listing)
    return lambda index: index in once()


def gif_parts(store: BlockStore, spec: JobSpec, runs: list[str]) -> Iterator[bytes]:
    """The GIF of the table's ``runs``, part by part: header, the blocks in frame order, each
    checked against its digest as it comes (decoded from the run, or read from the block
    store), trailer. Blocking, so iterated in a thread, straight into the content store: the
    whole GIF is never held in memory (a 1024² × 1000 job's is ~260 MB). PipelineError,
    before the first part, unless the runs hold exactly the job's frames."""
    return _parts(store, spec, frames_of(spec, runs))


def frames_of(spec: JobSpec, runs: list[str]) -> list[tuple[str, str | None]]:
    """(digest, carried bytes or None) of every frame the table's ``runs`` hold, in order;
    PipelineError unless they are exactly the job's frames."""
    frames = [item for run in runs for item in decode_run(run)]
    if len(frames) != spec.frames:
        found = f"{len(frames)} frame blocks recorded for {spec.frames} frames"
        raise PipelineError(found, job_id=spec.job_id)
    return frames


def _parts(
    store: BlockStore, spec: JobSpec, frames: list[tuple[str, str | None]]
) -> Iterator[bytes]:
    yield _header(spec)
    yield from _read_ahead(store, spec.job_id, frames)
    yield GIF_TRAILER


def _header(spec: JobSpec) -> bytes:
    return gif_header(int(spec.options["size"]), bytes.fromhex(spec.palette), loop=0)


def _read_ahead(
    store: BlockStore,
    job_id: str,
    frames: list[tuple[str, str | None]],
    depth: int = READ_AHEAD,
    first: int = 0,
) -> Iterator[bytes]:
    """Each frame's block in order (``block_of``: read, or decoded, and checked), fetched by a
    thread of its own up to ``depth`` blocks ahead of the caller. Hashing and file reads release
    the GIL, so checking the blocks overlaps the content store's hashing and writing of the
    GIF: the job's last step, on cores the render processes have left idle. The first bad
    block, in frame order, raises as before. ``frames`` start at frame ``first``."""
    with ThreadPoolExecutor(1, thread_name_prefix="gif-read-ahead") as reader:
        pending: deque[Future[bytes]] = deque()
        queued = iter(enumerate(frames, start=first))

        def read_next() -> None:
            item = next(queued, None)
            if item is not None:
                index, (digest, carried) = item
                pending.append(reader.submit(block_of, store, job_id, index, digest, carried))

        try:
            for _ in range(depth):
                read_next()
            while pending:
                block = pending.popleft().result()
                read_next()
                yield block
        finally:  # stopped early (a bad block, the writer failed): read nothing more
            for future in pending:
                future.cancel()


def inline_prefix(state: Assembly) -> list[str]:
    """The digests of the frames ``state`` holds from the first without a gap, as far as their
    runs are kept in the state itself (blocks in the block folder; a run in the blocks table
    ends it)."""
    inline = state.runs or {}
    digests: list[str] = []
    for start in state.run_starts():
        run = inline.get(str(start))
        if start != len(digests) or run is None:
            break
        digests += [digest for digest, _ in decode_run(run)]
    return digests


@dataclass
class Draft:
    """A job's GIF written ahead while its frames arrive: the header, then the blocks of its
    first frames in order, each read from the block folder and checked against its digest,
    into a writer of the content store (``LocalStore.writer``), hashed as it goes.

    At the job's end the Finish writes only the blocks not yet written and the trailer, then
    commits: the same bytes, so the same CID, as writing the GIF whole (``gif_parts``). A
    draft lives in the worker's memory only; a worker that takes the job over writes the GIF
    whole. It is used only if it still leads to the job's GIF (``leads_to``: the same header
    and the same digests so far), else dropped.
    """

    header: bytes
    writer: StoreWriter
    digests: list[str] = field(default_factory=list)  # the frames written so far
    touched: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, content: LocalStore, spec: JobSpec) -> Draft:
        """A draft of ``spec``'s GIF with its header written."""
        header = _header(spec)
        writer = content.writer(content_type="image/gif")
        writer.write(header)
        return cls(header, writer)

    @property
    def written(self) -> int:
        """How many frames' blocks are written."""
        return len(self.digests)

    def leads_to(self, spec: JobSpec, digests: list[str]) -> bool:
        """Whether this draft is the start of the GIF of ``spec`` whose first frames have
        ``digests``."""
        return (
            self.header == _header(spec)
            and len(digests) >= self.written
            and digests[: self.written] == self.digests
        )

    def extend(self, store: BlockStore, job_id: str, digests: list[str]) -> None:
        """Write the blocks of the frames after those written, up to ``digests``' end.
        Blocking: run in a thread. If a block is missing or damaged it raises, and the draft
        must be dropped."""
        todo: list[tuple[str, str | None]] = [(d, None) for d in digests[self.written :]]
        blocks = _read_ahead(store, job_id, todo, first=self.written)
        for (digest, _), block in zip(todo, blocks, strict=True):
            self.writer.write(block)
            self.digests.append(digest)
        self.writer.sync()  # on disk now, while frames render, not at the job's end
        self.touched = time.monotonic()

    def finish(
        self, store: BlockStore, spec: JobSpec, frames: list[tuple[str, str | None]]
    ) -> tuple[str, int]:
        """Write the rest of the GIF of ``frames`` (every frame's digest and carried bytes)
        and commit it: its CID and size. Blocking: run in a thread. If anything raises, the
        draft is dropped (a retried Finish writes the GIF whole)."""
        try:
            for block in _read_ahead(
                store, spec.job_id, frames[self.written :], first=self.written
            ):
                self.writer.write(block)
            self.writer.write(GIF_TRAILER)
        except BaseException:
            self.writer.abort()
            raise
        return self.writer.commit()

    def abort(self) -> None:
        """Drop what was written."""
        self.writer.abort()
