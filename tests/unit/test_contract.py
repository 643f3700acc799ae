"""The event contract: one JobState with its moves, stable names on the wire, versions that mean
something."""

from __future__ import annotations

import json

import pytest

from lantern.contract import (
    CONTRACT_VERSION,
    STATES,
    TERMINAL,
    TRANSITIONS,
    JobState,
    MintRequest,
    NewerContract,
    StatusEvent,
    check_version,
)
from streams.status import fold


def test_the_states_in_order_and_the_terminal_ones() -> None:
    assert STATES == (
        "queued", "rendering", "encoding", "pinning", "completed", "minted", "failed"
    )  # fmt: skip
    assert {s for s in JobState if s.terminal} == TERMINAL == {"completed", "minted", "failed"}


def test_every_unfinished_state_moves_forward_or_fails_and_never_back() -> None:
    path = list(JobState)[:5]
    for i, state in enumerate(path[:-1]):
        assert TRANSITIONS[state] == {*path[i:], JobState.FAILED}
    # only the chain moves a completed job on, and nothing leaves failed but a retry
    assert TRANSITIONS[JobState.COMPLETED] == {JobState.MINTED}
    assert TRANSITIONS[JobState.MINTED] == {JobState.MINTED}
    assert TRANSITIONS[JobState.FAILED] == frozenset()


def test_a_minted_job_keeps_its_token_and_a_repeat_changes_nothing_of_its_names() -> None:
    job = fold(None, _event("completed", progress=100, result={"token_uri": "ipfs://a"}))
    assert fold(job, _event("queued")) is job  # completed never goes back
    minted = {"token_id": 7, "tx_hash": "0x1", "block_number": 3}
    job = fold(job, _event("minted", progress=100, token=minted))
    assert job is not None and job.state == "minted" and job.token == minted
    named = {"token_id": 7, "token_uri": "ipfs://b", "metadata_cid": "b"}
    job = fold(job, _event("minted", progress=100, token=named))
    assert job is not None and job.token == {**minted, **named}
    again = fold(job, _event("minted", progress=100, token=minted))  # read again: same names
    assert again is not None and again.token == {**minted, **named}
    assert again.result == {"token_uri": "ipfs://a"}
    assert fold(again, _event("failed")) is again  # a minted job cannot fail


def _event(state: str, **extra: object) -> StatusEvent:
    return StatusEvent(job_id="a" * 32, state=state, progress=extra.pop("progress", 0), **extra)  # type: ignore[arg-type]


def test_the_fold_follows_the_transitions() -> None:
    job = fold(None, _event("queued"))
    job = fold(job, _event("encoding", progress=70))
    assert job is not None and job.state == "encoding"
    assert fold(job, _event("rendering", progress=40)) is job  # an earlier stage: ignored
    assert fold(job, _event("burnt")) is job  # a state this version does not know: ignored
    assert fold(job, _event("minted")) is job  # only a completed job is minted
    failed = fold(job, _event("failed"))
    assert failed is not None and failed.state == "failed"
    assert fold(failed, _event("completed")) is failed  # nothing leaves failed but a retry
    reopened = fold(failed, _event("queued", reopen=True, generation=1))
    assert reopened is not None and (reopened.state, reopened.retries) == ("queued", 1)


def test_records_carry_a_fixed_name_on_the_wire() -> None:
    request = MintRequest(job_id="a" * 32, settings={}, options={}, wallet="0x", submitted_at=0)
    wire = json.loads(request.dumps())
    assert wire["__faust"]["ns"] == "lantern.MintRequest"
    assert wire["version"] == CONTRACT_VERSION


def test_a_record_from_an_older_writer_still_reads() -> None:
    # the namespace an earlier release wrote, and a field it had that this one dropped
    old = {"job_id": "a" * 32, "state": "queued", "progress": 0, "stalled": False,
           "__faust": {"ns": "streams.status.StatusEvent"}}  # fmt: skip
    event = StatusEvent.from_data(old, preferred_type=StatusEvent)  # as a typed topic reads it
    assert (event.job_id, event.state) == ("a" * 32, "queued")
    check_version(event)


def test_a_record_of_a_newer_contract_is_refused_not_misread() -> None:
    newer = _event("queued", version=CONTRACT_VERSION + 1)
    with pytest.raises(NewerContract, match="upgrade") as refused:
        check_version(newer)
    assert refused.value.retryable is False  # dead-lettered at once, never retried


def test_a_queued_status_overtaken_by_the_split_s_still_gives_the_job_its_wallet() -> None:
    job = fold(None, _event("rendering", progress=1, at=20.0))  # the split's status came first
    late = fold(job, _event("queued", wallet="0x" + "a" * 40, at=10.0))
    assert late is not None and late.state == "rendering" and late.wallet == "0x" + "a" * 40
    assert late.created_at == 10.0 and late.updated_at == 20.0
    assert [entry["state"] for entry in late.timeline or []] == ["queued", "rendering"]
    again = fold(late, _event("queued", wallet="0x" + "b" * 40, at=10.0))  # redelivered
    assert again is late
