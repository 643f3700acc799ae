"""Which jobs the watcher re-drives and which it forgets."""

from __future__ import annotations

from streams.status import JobStatus
from streams.watch import expired, stalled


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
