"""The status fold: monotonic progress, terminal states final, stages in order."""

from __future__ import annotations

import pytest

from lantern.contract import JobStatus, StatusEvent
from streams.assemble import render_progress
from streams.status import fold


def event(state: str, progress: int, at: float = 1.0, **extra: object) -> StatusEvent:
    return StatusEvent(job_id="j1", state=state, progress=progress, at=at, **extra)


def run(*events: StatusEvent) -> JobStatus:
    status = None
    for item in events:
        status = fold(status, item)
    assert status is not None
    return status


def test_first_event_creates_the_job() -> None:
    status = run(event("queued", 0, at=10.0, wallet="0xabc"))
    assert (status.state, status.progress, status.wallet) == ("queued", 0, "0xabc")
    assert status.created_at == status.updated_at == 10.0


def test_progress_never_goes_backwards() -> None:
    status = run(event("rendering", 44), event("rendering", 18))
    assert status.progress == 44


def test_an_earlier_stage_arriving_late_is_ignored() -> None:
    status = run(event("queued", 0), event("pinning", 70), event("rendering", 57))
    assert (status.state, status.progress) == ("pinning", 70)


@pytest.mark.parametrize("terminal", ["completed", "failed"])
def test_terminal_states_are_final(terminal: str) -> None:
    status = run(event("rendering", 30), event(terminal, 100, error="boom"), event("pinning", 85))
    assert status.state == terminal


def test_failure_keeps_progress_and_reason() -> None:
    status = run(
        event("rendering", 31), event("failed", 0, error="RenderError: bad", stage="render")
    )
    assert (status.state, status.progress, status.error, status.stage) == (
        "failed",
        31,
        "RenderError: bad",
        "render",
    )


def test_created_at_kept_and_result_carried() -> None:
    status = run(event("queued", 0, at=1.0), event("completed", 100, at=5.0, result={"a": 1}))
    assert (status.created_at, status.updated_at, status.result) == (1.0, 5.0, {"a": 1})


def test_render_progress_spans_the_original_scale() -> None:
    assert render_progress(0, 100) == 5
    assert render_progress(100, 100) == 70
    values = [render_progress(i, 100) for i in range(101)]
    assert values == sorted(values)


def test_an_operator_retry_reopens_a_failed_job_at_zero() -> None:
    failed = run(event("rendering", 40), event("failed", 0, error="boom"))
    reopened = fold(failed, event("queued", 0, reopen=True, generation=1))
    assert reopened is not None
    assert (reopened.state, reopened.progress, reopened.error) == ("queued", 0, None)
    assert (reopened.generation, reopened.retries) == (1, 1)


def test_a_completed_job_cannot_be_reopened() -> None:
    done = run(event("completed", 100))
    assert fold(done, event("queued", 0, reopen=True)) is done


def test_purge_forgets_the_job() -> None:
    assert fold(run(event("completed", 100)), event("completed", 0, purge=True)) is None


def test_the_request_is_kept_for_re_drives() -> None:
    status = run(event("queued", 0, request={"job_id": "j1"}), event("rendering", 5))
    assert status.request == {"job_id": "j1"}


def test_the_request_position_is_the_newest_drives() -> None:
    queued = event("queued", 0, request_partition=3, request_offset=10)
    status = run(queued, event("rendering", 5))  # later stages say nothing of it
    assert (status.request_partition, status.request_offset) == (3, 10)
    again = run(queued, event("queued", 0, generation=1, request_partition=3, request_offset=42))
    assert again.request_offset == 42
    late = fold(again, event("queued", 0, generation=0, request_partition=3, request_offset=10))
    assert late is not None and late.request_offset == 42  # an older drive's word is stale


def test_a_job_whose_queued_status_never_arrived_is_known_from_the_split() -> None:
    first = event("rendering", 1, request={"job_id": "j1"}, request_partition=1, request_offset=4)
    status = run(first)
    assert status.request == {"job_id": "j1"} and status.request_offset == 4


def test_a_split_report_overtaken_by_the_assemblers_keeps_the_later_step() -> None:
    """The assembler folds its reports in place; the split's travel through the topic and may
    come after them: what they carry is kept, the step they name is not taken back."""
    tick = event("rendering", 31, at=3.0, stage="render", detail="20/100 frames")
    late = event(
        "rendering", 1, at=2.0, stage="split", detail="choosing palette",
        request={"job_id": "j1"}, request_partition=2, request_offset=7, generation=1,
    )  # fmt: skip
    status = run(event("queued", 0, stage="api"), tick, late)
    assert (status.stage, status.detail, status.progress) == ("render", "20/100 frames", 31)
    assert (status.request, status.request_offset, status.generation) == ({"job_id": "j1"}, 7, 1)
    assert [entry["stage"] for entry in status.timeline or []] == ["api", "render"]


def test_a_retry_notice_of_an_earlier_stage_is_still_told() -> None:
    notice = "split failed (attempt 1 of 3); retrying in 2.0s"
    tick = event("rendering", 31, stage="render", detail="20/100 frames")
    status = run(tick, event("rendering", 0, stage="split", detail=notice))
    assert (status.stage, status.detail) == ("split", notice)
