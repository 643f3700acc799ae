"""Finished jobs leave no assembler state: which ends forget a job, and what the sweep takes."""

from __future__ import annotations

from typing import Any

from lantern.contract import JobEnded
from streams.assemble import Assembly, forgets, new_runs, stale, stale_signal

NOW = 10_000.0
TTL = 3600.0


def state(**fields: Any) -> Assembly:
    return Assembly(**{"job_id": "j", "frames": 20, "updated_at": NOW, **fields})


def test_a_completed_job_is_forgotten_whatever_is_held() -> None:
    for held in (None, state(), state(count=5, drive=3), state(gif_cid="Qm", generation=7)):
        assert forgets(held, "finished", generation=0, now=NOW)


def test_a_failed_drive_is_forgotten() -> None:
    assert forgets(state(count=5, drive=0), "failed", generation=0, now=NOW)
    assert forgets(state(gif_cid="Qm", generation=1, drive=1), "failed", generation=1, now=NOW)
    assert forgets(None, "failed", generation=0, now=NOW)  # nothing recorded: its files still go


def test_a_late_failure_of_an_old_drive_spares_a_newer_one() -> None:
    # an operator retry (drive 1) is collecting when a dead letter of drive 0 comes in
    assert not forgets(state(count=5, drive=1), "failed", generation=0, now=NOW)
    # a re-drive (1) has re-pinned the GIF when the first drive's pin dead-letters
    assert not forgets(state(gif_cid="Qm", generation=1, drive=0), "failed", generation=0, now=NOW)


def test_a_stale_state_is_forgotten_unless_it_moved_since_the_sweep() -> None:
    idle = state(count=5, updated_at=NOW - TTL - 1)
    assert forgets(idle, "stale", generation=0, now=NOW, after=TTL)
    moved = idle.derive(updated_at=NOW - 1)  # a block came in between the sweep and the signal
    assert not forgets(moved, "stale", generation=0, now=NOW, after=TTL)
    assert not forgets(None, "stale", generation=0, now=NOW, after=TTL)  # already forgotten


def test_an_unknown_end_forgets_nothing() -> None:
    assert not forgets(state(), "minted", generation=0, now=NOW)


def test_the_sweep_takes_only_states_idle_past_the_ttl() -> None:
    states = [
        state(job_id="partial", count=3, updated_at=NOW - TTL - 60),
        state(job_id="written", gif_cid="Qm", generation=0, updated_at=NOW - 2 * TTL),
        state(job_id="legacy", updated_at=0.0),  # an old version's record, never updated
        state(job_id="live", count=3, updated_at=NOW - 30),
        state(job_id="borderline", count=3, updated_at=NOW - TTL),
    ]
    assert [s.job_id for s in stale(states, NOW, TTL)] == ["partial", "written", "legacy"]


def test_the_sweeps_record_forgets_the_state_it_was_sent_for() -> None:
    idle = state(count=5, drive=2, updated_at=NOW - TTL - 1)
    ended = JobEnded.loads(stale_signal(idle).dumps())  # as it comes back off the topic
    assert (ended.job_id, ended.how, ended.generation) == ("j", "stale", 2)
    assert forgets(idle, ended.how, ended.generation, now=NOW, after=TTL)


def test_blocks_whose_files_are_gone_are_not_recorded() -> None:
    # a late block of a forgotten job: frames 10-14 were re-rendered after the drop, 15-19 not
    present = set(range(10, 15))
    runs = new_runs(state(), 10, [f"d{i}" for i in range(10, 20)], present.__contains__)
    assert runs == [(10, ["d10", "d11", "d12", "d13", "d14"])]
    assert new_runs(state(), 15, ["d15", "d16"], present.__contains__) == []


def test_missing_files_split_a_run_around_them() -> None:
    runs = new_runs(state(), 0, ["d0", "d1", "d2", "d3"], lambda index: index != 1)
    assert runs == [(0, ["d0"]), (2, ["d2", "d3"])]


def test_a_record_from_before_jobs_were_forgotten_still_loads_as_an_empty_state() -> None:
    legacy = b'{"job_id": "j", "frames": 20, "have": "0", "starts": "0", "closed": true}'
    old = Assembly.loads(legacy)
    assert old.run_starts() == []
    assert old.count == 0
    assert old.drive == -1
