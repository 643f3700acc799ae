"""The assembler's bookkeeping: runs of frames held once each, in order, whatever arrives."""

from __future__ import annotations

from streams.assemble import Assembly, new_runs


def digests(start: int, stop: int) -> list[str]:
    return [f"d{i}" for i in range(start, stop)]


def take(state: Assembly, start: int, count: int) -> tuple[Assembly, dict[int, list[str]]]:
    """Feed one run of frames as the agent does: the state after it and the table entries."""
    entries = {}
    for first, run in new_runs(state, start, digests(start, start + count)):
        entries[first] = run
        state = state.with_run(first, len(run))
    return state, entries


def test_runs_arriving_out_of_order_are_read_back_in_frame_order() -> None:
    state, table = Assembly(job_id="j", frames=30), {}
    for start in (20, 0, 10):
        state, entries = take(state, start, 10)
        table.update(entries)
    assert state.count == 30
    assert state.run_starts() == [0, 10, 20]
    assert [d for s in state.run_starts() for d in table[s]] == digests(0, 30)


def test_a_redelivered_run_adds_nothing() -> None:
    state, _ = take(Assembly(job_id="j", frames=20), 0, 10)
    again, entries = take(state, 0, 10)
    assert entries == {}
    assert again.count == 10


def test_a_run_overlapping_held_frames_records_only_the_new_ones() -> None:
    state, table = take(Assembly(job_id="j", frames=20), 5, 5)  # frames 5-9
    state, entries = take(state, 0, 15)  # frames 0-14 from a worker with longer runs
    table.update(entries)
    assert entries == {0: digests(0, 5), 10: digests(10, 15)}
    assert state.count == 15
    assert state.run_starts() == [0, 5, 10]
    assert not state.holds(15)


def test_the_last_short_run_completes_the_job() -> None:
    state = Assembly(job_id="j", frames=25)
    for start in (0, 10, 20):
        state, _ = take(state, start, min(10, 25 - start))
    assert state.count == state.frames == 25


def test_a_state_from_one_entry_per_frame_reads_each_frame_as_a_run() -> None:
    # written before runs were recorded: frames 0, 1 and 3 held, one table entry each
    old = Assembly(job_id="j", frames=5, have=format(0b1011, "x"), count=3)
    assert old.run_starts() == [0, 1, 3]
    state, entries = take(old, 2, 1)
    assert entries == {2: ["d2"]}
    assert state.run_starts() == [0, 1, 2, 3]
