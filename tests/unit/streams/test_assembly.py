"""The assembler's step, case by case: what each event does to a job's state, and in what order
the agent is told to do it."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from lantern.contract import FrameBlock, JobEnded, JobSpec, PinRequest
from streams.assemble import (
    Action,
    Applier,
    Assembly,
    DeleteState,
    DropFiles,
    DropRuns,
    Finish,
    Flush,
    Note,
    RecordRun,
    Report,
    RequestPin,
    SaveState,
    held_runs,
    new_runs,
    run_key,
    step,
    table_keys,
)
from streams.blocks import decode_run, encode_run
from streams.topics import partition_of

JOB = "0123456789abcdef0123456789abcdef"
FRAMES = 30
NOW = 10_000.0


def spec(generation: int = 0, frames: int = FRAMES) -> JobSpec:
    return JobSpec(
        job_id=JOB, settings={}, options={"frames": frames, "size": 96}, wallet="0x",
        palette="00" * 768, submitted_at=0.0, generation=generation,
    )  # fmt: skip


def digests(start: int, stop: int) -> list[str]:
    return [f"d{i}" for i in range(start, stop)]


def block(start: int, count: int = 10, generation: int = 0, frames: int = FRAMES) -> FrameBlock:
    return FrameBlock(
        spec=spec(generation, frames), index=start, digests=digests(start, start + count)
    )


def payloads(start: int, stop: int) -> list[str]:
    return [f"b{i}" for i in range(start, stop)]


def carried(start: int, count: int = 10, generation: int = 0, frames: int = FRAMES) -> FrameBlock:
    """A run whose event carries its blocks' bytes (blocks via Kafka)."""
    return FrameBlock(
        spec=spec(generation, frames),
        index=start,
        digests=digests(start, start + count),
        blocks=payloads(start, start + count),
    )


def ended(how: str, generation: int = 0) -> JobEnded:
    return JobEnded(job_id=JOB, how=how, generation=generation)


@dataclass
class Agent:
    """The agent's tables and the block store as the actions leave them. ``Finish`` is applied
    as the agent does, with the GIF's CID made of its digests."""

    state: Assembly | None = None
    runs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    carried: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the runs' bytes, if any
    files: set[int] = field(default_factory=lambda: set(range(FRAMES)))
    sent: list[Action] = field(default_factory=list)  # reports, pin requests, notes

    def feed(self, event: FrameBlock | JobEnded, now: float = NOW) -> list[Action]:
        state, actions = step(self.state, event, present=self.files.__contains__, now=now)
        self.apply(actions)
        if not any(isinstance(action, Finish) for action in actions):
            assert self.state == state  # the step says what the tables hold once applied
        return actions

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case RecordRun(key, run, blocks):
                    self.runs[key] = run
                    self.carried[key] = blocks
                case SaveState(state):
                    self.state = state
                case DeleteState():
                    self.state = None
                case DropRuns(keys):
                    for key in keys:
                        self.runs.pop(key, None)
                        self.carried.pop(key, None)
                case Finish(finished, state):
                    self.sent.append(action)
                    cid = gif_of(self.gif_digests(state))
                    self.state = state.assembled(cid, 1, finished.generation, NOW)
                case DropFiles():
                    self.files.clear()
                case Flush():
                    pass
                case _:
                    self.sent.append(action)

    def gif_digests(self, state: Assembly) -> list[str]:
        table = {key: encode_run(run, ()) for key, run in self.runs.items()}
        return [digest for run in held_runs(state, table) for digest, _ in decode_run(run)]


def gif_of(frames: list[str]) -> str:
    """The CID ``Agent`` gives the GIF of blocks ``frames``."""
    return f"cid({'+'.join(frames)})"


def kinds(actions: list[Action]) -> list[str]:
    return [type(action).__name__ for action in actions]


def collecting(*starts: int, count: int = 10) -> Agent:
    agent = Agent()
    for start in starts:
        agent.feed(block(start, count))
    return agent


# ── collecting runs ───────────────────────────────────────────────────────────────────────────


def test_the_first_block_starts_the_state_and_records_its_run() -> None:
    state, actions = step(None, block(0), present=lambda i: True, now=NOW)
    assert state is not None
    assert (state.job_id, state.frames, state.count, state.drive) == (JOB, FRAMES, 10, 0)
    assert state.updated_at == NOW
    # its blocks are in the block folder: the state keeps the run's digests, no table entry
    assert state.runs == {"0": ",".join(digests(0, 10))}
    assert actions == [SaveState(state)]  # 10 of 30 frames: no progress report yet


def test_a_carried_run_goes_to_the_blocks_table_not_the_state() -> None:
    state, actions = step(None, carried(0), present=lambda i: False, now=NOW)
    assert state is not None and state.count == 10 and state.runs is None
    run = RecordRun(run_key(JOB, 0), tuple(digests(0, 10)), tuple(payloads(0, 10)))
    assert actions == [run, SaveState(state)]


def test_a_redelivered_run_records_nothing_and_reports_nothing() -> None:
    agent = collecting(0)
    assert agent.feed(block(0)) == []
    assert agent.state is not None and agent.state.count == 10


def test_runs_arriving_out_of_order_are_read_back_in_frame_order() -> None:
    agent = collecting(20, 10)
    assert agent.state is not None and agent.state.run_starts() == [10, 20]
    actions = agent.feed(block(0))
    finish = next(a for a in actions if isinstance(a, Finish))
    assert finish.state.run_starts() == [0, 10, 20]
    assert agent.sent[-1] == finish
    assert agent.state is not None and agent.state.gif_cid == gif_of(digests(0, 30))


def test_a_run_overlapping_held_frames_records_only_the_new_ones() -> None:
    agent = collecting(5, count=5)  # frames 5-9
    agent.feed(block(0, 15))  # frames 0-14 from a worker with longer runs
    assert agent.state is not None
    runs = {str(s): ",".join(digests(s, s + 5)) for s in (0, 5, 10)}
    assert agent.state.runs == runs
    assert agent.state.count == 15
    assert agent.state.run_starts() == [0, 5, 10]
    assert not agent.state.holds(15)


def test_progress_is_reported_every_20_frames_as_the_original_did() -> None:
    agent = Agent(files=set(range(100)))
    reports = [
        [a.progress for a in agent.feed(block(i, 10, frames=100)) if isinstance(a, Report)]
        for i in range(0, 90, 10)
    ]
    # runs of 10 of 100 frames: a report at 20, 40, 60 and 80 frames, on the 5 → 70 scale
    assert reports == [[], [18], [], [31], [], [44], [], [57], []]
    first = next(a for a in agent.sent if isinstance(a, Report))
    assert (first.state, first.stage, first.detail) == ("rendering", "render", "20/100 frames")
    last = agent.feed(block(90, 10, frames=100))
    assert [(a.state, a.progress) for a in last if isinstance(a, Report)] == [("encoding", 70)]


def test_progress_of_a_short_job_moves_once_and_of_a_long_one_every_5_percent() -> None:
    short = Agent()
    reported = [
        bool([a for a in short.feed(block(i, 1, frames=FRAMES)) if isinstance(a, Report)])
        for i in range(FRAMES - 1)
    ]
    assert [i + 1 for i, r in enumerate(reported) if r] == [20]  # 30 frames: at 20
    long = Agent(files=set(range(1000)))
    reported = [
        bool([a for a in long.feed(block(i, 10, frames=1000)) if isinstance(a, Report)])
        for i in range(0, 200, 10)
    ]
    assert [10 * (i + 1) for i, r in enumerate(reported) if r] == [50, 100, 150, 200]


def test_a_state_from_one_entry_per_frame_reads_each_frame_as_a_run() -> None:
    # written before runs were recorded: frames 0, 1 and 3 held, one table entry each
    old = Assembly(job_id=JOB, frames=5, have=format(0b1011, "x"), count=3)
    assert old.run_starts() == [0, 1, 3]
    state, _ = step(old, block(2, 1, frames=5), present=lambda i: True, now=NOW)
    assert state is not None and state.run_starts() == [0, 1, 2, 3]
    assert state.runs == {"2": "d2"}  # the new run in the state, the old ones in the table
    assert table_keys(state) == (run_key(JOB, 0), run_key(JOB, 1), run_key(JOB, 3))
    table = {run_key(JOB, i): f"d{i}" for i in (0, 1, 3)}
    assert held_runs(state, table) == ["d0", "d1", "d2", "d3"]


def test_missing_files_split_a_run_around_them() -> None:
    state = Assembly(job_id=JOB, frames=20)
    runs = new_runs(state, 0, ["d0", "d1", "d2", "d3"], lambda index: index != 1)
    assert runs == [(0, ["d0"]), (2, ["d2", "d3"])]


# ── the last block ────────────────────────────────────────────────────────────────────────────


def test_the_last_block_finishes_the_job_then_forgets_its_files() -> None:
    agent = collecting(0, 10)
    state, actions = step(agent.state, block(20), present=lambda i: True, now=NOW)
    assert state is not None and state.count == FRAMES and not state.gif_cid
    assert actions == [
        SaveState(state),
        Report(JOB, "encoding", 70, "assemble", "writing GIF"),
        Finish(spec(), state),
        Flush(),
        DropFiles(JOB),
    ]  # the runs were in the state: no table entry to drop


def test_the_last_carried_block_finishes_the_job_then_forgets_its_runs() -> None:
    agent = Agent()
    for start in (0, 10):
        agent.feed(carried(start))
    state, actions = step(agent.state, carried(20), present=lambda i: False, now=NOW)
    assert state is not None and state.count == FRAMES and not state.gif_cid
    keys = tuple(run_key(JOB, s) for s in (0, 10, 20))
    assert actions == [
        RecordRun(run_key(JOB, 20), tuple(digests(20, 30)), tuple(payloads(20, 30))),
        SaveState(state),
        Report(JOB, "encoding", 70, "assemble", "writing GIF"),
        Finish(spec(), state),
        DropRuns(keys),
        Flush(),
        DropFiles(JOB),
    ]


def test_the_last_short_run_completes_the_job() -> None:
    agent = Agent(files=set(range(25)))
    for start in (0, 10):
        agent.feed(block(start, frames=25))
    actions = agent.feed(block(20, 5, frames=25))
    assert "Finish" in kinds(actions)
    assert agent.state is not None and agent.state.gif_cid


def test_a_complete_state_finishes_even_when_the_event_adds_nothing() -> None:
    complete = Assembly(job_id=JOB, frames=10).with_run(0, 10, NOW)
    state, actions = step(complete, block(0, 10, frames=10), present=lambda i: True, now=NOW)
    assert state == complete
    assert kinds(actions) == ["Report", "Finish", "DropRuns", "Flush", "DropFiles"]


# ── a crash between writing the GIF and the flush ─────────────────────────────────────────────


def _last_block_actions() -> tuple[Agent, list[Action]]:
    """The last run of a job whose blocks came through Kafka (its runs in the blocks table)."""
    agent = Agent()
    for start in (0, 10):
        agent.feed(carried(start))
    _, actions = step(agent.state, carried(20), present=agent.files.__contains__, now=NOW)
    return agent, actions


def test_the_blocks_files_go_only_after_the_flush_that_follows_the_finish() -> None:
    _, actions = _last_block_actions()
    order = kinds(actions)
    assert order.index("Finish") < order.index("DropRuns") < order.index("Flush")
    assert order.index("Flush") < order.index("DropFiles") == len(order) - 1


def test_a_crash_as_the_gif_is_started_finishes_again_from_the_same_blocks() -> None:
    # the worker died at the Finish's entry: runs and state recorded, `encoding` reported
    agent, actions = _last_block_actions()
    agent.apply(actions[: kinds(actions).index("Finish")])
    first = next(a for a in actions if isinstance(a, Finish))
    again = agent.feed(carried(20))  # not committed: the event comes again
    assert kinds(again) == ["Report", "Finish", "DropRuns", "Flush", "DropFiles"]
    assert next(a for a in again if isinstance(a, Finish)) == first
    assert agent.state is not None and agent.state.gif_cid == gif_of(digests(0, 30))


def test_a_crash_before_anything_reached_the_broker_collects_the_last_run_again() -> None:
    # neither the run nor the state reached the broker: the event comes again
    agent, actions = _last_block_actions()
    assert agent.state is not None and agent.state.count == 20
    assert agent.feed(carried(20)) == actions
    on_disk = collecting(0, 10)  # blocks in the folder: their files are still there
    _, actions = step(on_disk.state, block(20), present=on_disk.files.__contains__, now=NOW)
    assert 29 in on_disk.files and on_disk.feed(block(20)) == actions


def test_a_crash_after_the_gif_was_recorded_does_nothing_more() -> None:
    # the assembled state reached the broker (and the pin request went before it)
    agent, actions = _last_block_actions()
    agent.apply(actions[: kinds(actions).index("Finish") + 1])
    assert agent.state is not None and agent.state.gif_cid
    assert agent.feed(block(20)) == []


# ── after the GIF is written ──────────────────────────────────────────────────────────────────


def written(generation: int = 0) -> Assembly:
    return Assembly(
        job_id=JOB, frames=FRAMES, gif_cid="Qm", gif_size=9, generation=generation,
        drive=generation, updated_at=NOW - 100,
    )  # fmt: skip


def test_a_late_block_of_a_drive_already_assembled_does_nothing() -> None:
    for generation in (0, 1):
        late = block(0, generation=generation)
        assert step(written(1), late, present=lambda i: True, now=NOW) == (written(1), [])


def test_a_block_of_a_newer_drive_pins_the_written_gif_again() -> None:
    state, actions = step(written(0), block(10, generation=2), present=set().__contains__, now=NOW)
    assert state == written(0).derive(generation=2, updated_at=NOW)
    request = PinRequest(spec=spec(2), gif_cid="Qm", gif_size=9)
    assert actions == [
        RequestPin(request),
        SaveState(state),
        Note(f"re-pin job={JOB} generation=2"),
    ]


def test_a_newer_drive_asks_for_the_gif_where_the_assembler_added_it() -> None:
    held = written(0).derive(shared_cid="bafk-on-the-node")
    _, actions = step(held, block(10, generation=1), present=set().__contains__, now=NOW)
    [pin] = [a for a in actions if isinstance(a, RequestPin)]
    assert pin.request.shared_cid == "bafk-on-the-node" and pin.request.gif_cid == "Qm"


# ── the job's end ─────────────────────────────────────────────────────────────────────────────


def test_a_finished_job_is_forgotten_tables_first_then_its_files() -> None:
    agent = Agent()
    for start in (0, 10):
        agent.feed(carried(start))
    state, actions = step(agent.state, ended("finished"), present=lambda i: True, now=NOW)
    assert state is None
    assert actions == [
        DropRuns((run_key(JOB, 0), run_key(JOB, 10))),
        DeleteState(JOB),
        Flush(),
        DropFiles(JOB),
        Note(f"forgot job={JOB} (finished)"),
    ]
    on_disk = collecting(0, 10)  # runs in the state: deleting it deletes them
    state, actions = step(on_disk.state, ended("finished"), present=lambda i: True, now=NOW)
    assert state is None
    assert kinds(actions) == ["DeleteState", "Flush", "DropFiles", "Note"]


def test_the_end_of_a_job_with_nothing_recorded_drops_only_its_files() -> None:
    state, actions = step(None, ended("failed"), present=lambda i: True, now=NOW)
    assert state is None
    assert actions == [DropFiles(JOB), Note(f"forgot job={JOB} (failed)")]


def test_a_late_failure_of_an_old_drive_changes_nothing() -> None:
    newer = Assembly(job_id=JOB, frames=FRAMES, count=5, drive=1, updated_at=NOW)
    late = ended("failed", generation=0)
    assert step(newer, late, present=lambda i: True, now=NOW) == (newer, [])


def test_a_stale_end_of_a_state_that_moved_since_changes_nothing() -> None:
    moved = Assembly(job_id=JOB, frames=FRAMES, count=5, updated_at=NOW - 1)
    assert step(moved, ended("stale"), present=lambda i: True, now=NOW) == (moved, [])


def test_an_end_this_version_does_not_know_changes_nothing() -> None:
    held = Assembly(job_id=JOB, frames=FRAMES, count=5, updated_at=NOW)
    assert step(held, ended("minted"), present=lambda i: True, now=NOW) == (held, [])


# ── after the job failed ──────────────────────────────────────────────────────────────────────


def test_after_a_failure_late_blocks_whose_files_went_with_the_job_are_dropped() -> None:
    agent = collecting(0)
    agent.feed(ended("failed"))
    assert agent.state is None and agent.runs == {} and agent.files == set()
    actions = agent.feed(block(10))
    assert actions == [Note(f"late block job={JOB} index=10: dropped")]
    assert agent.state is None


def test_after_a_failure_a_block_rendered_again_starts_a_partial_state() -> None:
    agent = collecting(0)
    agent.feed(ended("failed"))
    agent.files |= {12, 13}  # a frame task still rendering when the job failed
    agent.feed(block(10))
    assert agent.state is not None
    assert agent.state.run_starts() == [12]
    assert agent.state.count == 2  # never completes: the sweep forgets it


def test_after_a_failure_an_operator_retry_collects_afresh() -> None:
    agent = collecting(0)
    agent.feed(ended("failed"))
    agent.files = set(range(FRAMES))  # drive 1 renders every frame again
    for start in (0, 10, 20):
        agent.feed(block(start, generation=1))
    assert agent.state is not None and agent.state.gif_cid and agent.state.generation == 1


# ── blocks carried through Kafka ──────────────────────────────────────────────────────────────


def test_a_run_carrying_its_blocks_records_their_bytes_and_looks_for_no_file() -> None:
    def present(index: int) -> bool:
        raise AssertionError("looked for a block file of a run that carries its bytes")

    state, actions = step(None, carried(0), present=present, now=NOW)
    assert state is not None and state.count == 10
    record = RecordRun(run_key(JOB, 0), tuple(digests(0, 10)), tuple(payloads(0, 10)))
    assert actions[:2] == [record, SaveState(state)]


def test_a_carried_run_overlapping_held_frames_records_only_the_new_blocks() -> None:
    agent = Agent(files=set())
    agent.feed(carried(5, 5))  # frames 5-9
    actions = agent.feed(carried(0, 15))  # frames 0-14 from a worker with longer runs
    records = [a for a in actions if isinstance(a, RecordRun)]
    assert records == [
        RecordRun(run_key(JOB, 0), tuple(digests(0, 5)), tuple(payloads(0, 5))),
        RecordRun(run_key(JOB, 10), tuple(digests(10, 15)), tuple(payloads(10, 15))),
    ]


def test_a_redelivered_carried_run_records_nothing() -> None:
    agent = Agent(files=set())
    agent.feed(carried(0))
    assert agent.feed(carried(0)) == []


def test_runs_on_disk_and_carried_runs_make_one_gif() -> None:
    # workers configured differently (or a change of the setting mid-job): each run says how
    agent = Agent(files=set(range(10)))
    agent.feed(block(0))
    agent.feed(carried(10))
    actions = agent.feed(carried(20))
    assert "Finish" in kinds(actions)
    assert agent.state is not None and agent.state.gif_cid == gif_of(digests(0, 30))
    assert agent.runs == {} and agent.carried == {}  # forgotten once the GIF is written


def test_a_worker_taking_over_finishes_from_the_runs_it_recovered() -> None:
    # no file anywhere: the recovered tables (the state, the runs with their bytes) are all a
    # worker that shares no disk with the first one has
    first = Agent(files=set())
    first.feed(carried(0))
    first.feed(carried(10))
    successor = Agent(
        state=first.state, runs=dict(first.runs), carried=dict(first.carried), files=set()
    )
    actions = successor.feed(carried(20))
    finish = next(a for a in actions if isinstance(a, Finish))
    assert finish.state.run_starts() == [0, 10, 20]
    assert successor.state is not None and successor.state.gif_cid == gif_of(digests(0, 30))


def test_a_carried_block_after_the_job_finished_starts_a_partial_state_the_sweep_takes() -> None:
    agent = collecting(0, 10)
    agent.feed(ended("finished"))
    agent.feed(carried(20))  # a run rendered again after a worker died, arriving late
    assert agent.state is not None and agent.state.count == 10 and not agent.state.gif_cid
    later = NOW + 3601
    agent.feed(ended("stale"), now=later)
    assert agent.state is None and agent.runs == {} and agent.carried == {}


# ── the Applier: a collecting job's state is sent once per commit, not once per run ─────────────


@dataclass
class Table:
    """What the Applier asks of a faust table: its data, set and delete (each sent to the
    changelog at once), and a changelog record sent on its own."""

    data: dict[str, Assembly] = field(default_factory=dict)
    changelog: list[tuple[str, Assembly | None]] = field(default_factory=list)

    def __setitem__(self, key: str, value: Assembly) -> None:
        self.data[key] = value
        self.changelog.append((key, value))

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self.changelog.append((key, None))

    def send_changelog(self, partition: int | None, key: str, value: Assembly) -> None:
        assert partition == partition_of(key, 8)  # the job's partition, as faust's own writes
        self.changelog.append((key, value))


def applier(by_commit: bool = True) -> tuple[Applier, Table]:
    table = Table()
    pipe: Any = SimpleNamespace(settings=SimpleNamespace(kafka=SimpleNamespace(partitions=8)))
    none: Any = None
    return Applier(none, pipe, none, none, cast(Any, table), none, by_commit=by_commit), table


def collecting_states(count: int) -> list[Assembly]:
    state = Assembly(job_id=JOB, frames=FRAMES)
    states = []
    for number in range(count):
        state = state.with_run(10 * number, 10, NOW, tuple(digests(10 * number, 10 * number + 10)))
        states.append(state)
    return states


async def test_a_collecting_state_is_held_and_only_its_last_sent_at_the_commit() -> None:
    agent, table = applier()
    first, second = collecting_states(2)
    for state in (first, second):
        await agent.apply(SaveState(state))
        assert table.data[JOB] == state  # read back at once by the next event
    assert table.changelog == []  # nothing sent yet
    mine = partition_of(JOB, 8)
    assert agent.write_pending(lambda partition: partition == mine) == 1
    assert table.changelog == [(JOB, second)]
    assert agent.write_pending(lambda partition: True) == 0  # sent once


async def test_a_held_state_of_a_partition_no_longer_owned_is_not_sent() -> None:
    agent, table = applier()
    await agent.apply(SaveState(collecting_states(1)[0]))
    assert agent.write_pending(lambda partition: False) == 0
    assert table.changelog == [] and agent.pending == {}  # its new owner reads its events again


async def test_a_finished_or_forgotten_state_is_sent_at_once_and_replaces_the_held_one() -> None:
    agent, table = applier()
    collecting = collecting_states(2)[1]
    await agent.apply(SaveState(collecting))
    complete = collecting.with_run(20, 10, NOW, tuple(digests(20, 30)))  # every frame in
    await agent.apply(SaveState(complete))
    assert table.changelog == [(JOB, complete)]
    assert agent.write_pending(lambda partition: True) == 0  # the older state never follows
    await agent.apply(SaveState(collecting))
    await agent.apply(DeleteState(JOB))
    assert table.changelog[-1] == (JOB, None)
    assert agent.write_pending(lambda partition: True) == 0


async def test_under_exactly_once_every_state_is_sent_with_its_event() -> None:
    agent, table = applier(by_commit=False)
    states = collecting_states(2)
    for state in states:
        await agent.apply(SaveState(state))
    assert table.changelog == [(JOB, state) for state in states]
