"""Which jobs the watcher re-drives and which it forgets."""

from __future__ import annotations

import pytest

import streams.watch
from lantern.contract import JobStatus
from streams.topics import partition_of
from streams.watch import OwnedJobs, expired, lost, stalled, unplaced


def job(job_id: str, state: str, updated_at: float, request: bool = True) -> JobStatus:
    return JobStatus(
        job_id=job_id, state=state, progress=10, updated_at=updated_at,
        request={"job_id": job_id} if request else None,
    )  # fmt: skip


def test_only_jobs_in_progress_without_change_are_stalled() -> None:
    jobs = [
        job("old-render", "rendering", 0),
        job("old-pin", "pinning", 0),
        job("fresh", "rendering", 95),
        job("waiting", "queued", 0),  # waiting its turn is not a stall
        job("done", "completed", 0),
        job("no-request", "encoding", 0, request=False),
    ]
    assert {j.job_id for j in stalled(jobs, now=100, after=60)} == {"old-render", "old-pin"}


def test_retention_keeps_the_newest_and_the_recent() -> None:
    jobs = [job(f"c{i}", "completed", float(i)) for i in range(10)]
    jobs += [job(f"f{i}", "failed", float(i)) for i in range(4)]
    gone = expired(jobs, now=100, retention=95, keep={"completed": 3, "failed": 3})
    # newest 3 of each kept; of the rest only those older than 95 s (updated before t=5) go
    assert {j.job_id for j in gone} == {"c0", "c1", "c2", "c3", "c4", "f0"}


def queued(
    job_id: str, partition: int | None, offset: int | None, updated_at: float = 0
) -> JobStatus:
    return job(job_id, "queued", updated_at).derive(
        request_partition=partition, request_offset=offset
    )


def test_a_queued_job_is_lost_only_once_its_offset_is_committed() -> None:
    jobs = [
        queued("consumed", 2, 7),  # the group committed 9 on partition 2: 7 was taken
        queued("next", 2, 9),  # 9 is the next to read: waiting, however old
        queued("behind", 3, 40),  # a backlog on partition 3
        queued("nowhere", None, None),
        job("moving", "rendering", 0).derive(request_partition=2, request_offset=1),
    ]
    found = lost(jobs, committed={2: 9, 3: 12})
    assert [j.job_id for j in found] == ["consumed"]


def test_a_partition_the_group_never_committed_holds_no_lost_request() -> None:
    assert lost([queued("first", 5, 0)], committed={}) == []


def test_only_a_request_at_no_known_offset_falls_back_on_the_clock() -> None:
    jobs = [queued("old-unplaced", None, None, 0), queued("new-unplaced", None, None, 95),
            queued("old-placed", 1, 3, 0)]  # fmt: skip
    assert [j.job_id for j in unplaced(jobs, now=100, max_age=60)] == ["old-unplaced"]


def test_the_watcher_looks_only_at_the_jobs_of_its_own_partitions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worked_out: list[str] = []

    def counted(key: str, partitions: int) -> int:
        worked_out.append(key)
        return partition_of(key, partitions)

    monkeypatch.setattr(streams.watch, "partition_of", counted)
    table = {f"job-{i}": job(f"job-{i}", "rendering", 0) for i in range(40)}
    table["gone"] = None  # a deleted entry
    by_partition = {job_id: partition_of(job_id, 8) for job_id in table}
    owned = OwnedJobs(8)

    def looked_at(mine: set[int]) -> set[str]:
        return {j.job_id for j in owned.among(list(table.items()), mine)}

    expected = {job_id for job_id, p in by_partition.items() if p in {1, 4} and table[job_id]}
    assert expected and looked_at({1, 4}) == expected
    assert len(worked_out) == 40  # once per job; a deleted entry has none

    # a rebalance: other partitions, the same jobs, nothing worked out again
    assert looked_at(set(range(8))) == set(table) - {"gone"}
    assert looked_at(set()) == set()
    assert len(worked_out) == 40

    # a job that leaves the table is forgotten; if its id comes back, it is worked out anew
    del table["job-0"]
    looked_at({1})
    table["job-0"] = job("job-0", "rendering", 0)
    assert "job-0" in looked_at({by_partition["job-0"]})
    assert worked_out[40:] == ["job-0"]
