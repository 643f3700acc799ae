"""What the assembler reads off the ``frames`` topic: blocks and job ends decoded by their
namespace, records of earlier versions read as they meant, anything else skipped — never a
stopped agent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import faust
import pytest

from lantern.contract import FrameBlock, JobEnded, JobSpec, StatusEvent
from streams.assemble import LEGACY_NAMESPACE, FramesSchema, read_event

JOB = "0123456789abcdef0123456789abcdef"


def spec(generation: int = 0) -> JobSpec:
    return JobSpec(
        job_id=JOB, settings={}, options={"frames": 20}, wallet="0x", palette="",
        submitted_at=0.0, generation=generation,
    )  # fmt: skip


@pytest.fixture(scope="module")
def app() -> Iterator[faust.App]:
    yield faust.App("frames-test", autodiscover=False)


def decode(app: faust.App, raw: bytes | None) -> Any:
    """The value the agent's stream yields for ``raw`` on the wire."""
    schema = FramesSchema(key_type=str, value_type=None)
    return schema.loads_value(app, SimpleNamespace(value=raw))


def legacy(index: int, namespace: str = LEGACY_NAMESPACE) -> bytes:
    """A FrameBlock as an earlier version wrote it: a negative index was the job's end."""
    wire = json.loads(FrameBlock(spec=spec(3), index=index, digests=[]).dumps())
    wire["__faust"]["ns"] = namespace
    wire["spec"]["__faust"]["ns"] = "streams.rendering.JobSpec"
    return json.dumps(wire).encode()


def test_both_record_types_decode_by_their_namespace(app: faust.App) -> None:
    block = FrameBlock(spec=spec(), index=10, digests=["d10", "d11"])
    ended = JobEnded(job_id=JOB, how="finished", generation=2)
    assert read_event(decode(app, block.dumps())) == block
    assert read_event(decode(app, ended.dumps())) == ended


def test_a_block_carrying_its_bytes_decodes_with_them(app: faust.App) -> None:
    block = FrameBlock(spec=spec(), index=10, digests=["d10", "d11"], blocks=["AAE=", "AgM="])
    event = read_event(decode(app, block.dumps()))
    assert event == block
    assert isinstance(event, FrameBlock) and event.blocks == ["AAE=", "AgM="]


def test_a_block_without_bytes_is_one_on_disk(app: faust.App) -> None:
    # as a worker with blocks via disk writes it, or a version before blocks travelled
    wire = json.loads(FrameBlock(spec=spec(), index=1, digests=["d1"]).dumps())
    wire.pop("blocks")
    event = read_event(decode(app, json.dumps(wire).encode()))
    assert isinstance(event, FrameBlock) and event.blocks is None


@pytest.mark.parametrize(("index", "how"), [(-1, "failed"), (-2, "finished"), (-3, "stale")])
def test_a_signal_of_an_earlier_version_reads_as_the_jobs_end(
    app: faust.App, index: int, how: str
) -> None:
    for namespace in (LEGACY_NAMESPACE, "lantern.FrameBlock"):
        value = decode(app, legacy(index, namespace))
        assert read_event(value) == JobEnded(job_id=JOB, how=how, generation=3)


def test_a_block_of_an_earlier_version_reads_as_a_block(app: faust.App) -> None:
    wire = json.loads(legacy(-1))
    wire["index"], wire["digests"] = 4, ["d4"]
    event = read_event(decode(app, json.dumps(wire).encode()))
    assert isinstance(event, FrameBlock)
    assert (event.spec.job_id, event.index, event.digests) == (JOB, 4, ["d4"])


@pytest.mark.parametrize(
    "raw",
    [
        b'{"__faust": {"ns": "evil.Forged"}, "job_id": "x"}',  # a namespace nobody registered
        b'{"__faust": {"ns": "lantern.FrameBlock"}, "index": 1}',  # fields missing
        b'{"spec": {}, "index": 1, "digests": []}',  # a plain dict
        b'{"__faust": {"ns": "' + LEGACY_NAMESPACE.encode() + b'"}}',  # an earlier one, empty
        b"[1, 2]",
        b'"text"',
        b"not json \xff",
        b"null",
        None,  # a tombstone
    ],
)
def test_anything_else_is_skipped_not_thrown(app: faust.App, raw: bytes | None) -> None:
    assert read_event(decode(app, raw)) is None


def test_another_record_type_and_forged_fields_are_skipped(app: faust.App) -> None:
    status = StatusEvent(job_id=JOB, state="failed", progress=0)
    assert read_event(decode(app, status.dumps())) is None
    unknown_signal = legacy(-9, "lantern.FrameBlock")
    assert read_event(decode(app, unknown_signal)) is None
    block = json.loads(FrameBlock(spec=spec(), index=1, digests=["d1"]).dumps())
    ended = json.loads(JobEnded(job_id=JOB, how="failed").dumps())
    forged = [
        {**block, "spec": "x"},
        {**block, "spec": {**block["spec"], "job_id": 7}},
        {**block, "index": "1"},
        {**block, "index": True},
        {**block, "digests": "d1"},
        {**block, "digests": [1]},
        {**block, "attempt": "2"},
        {**block, "blocks": "AAE="},  # not a list
        {**block, "blocks": []},  # not one per digest
        {**block, "blocks": ["AAE=", "AgM="]},
        {**block, "blocks": [7]},
        {**ended, "job_id": 7},
        {**ended, "how": None},
        {**ended, "generation": "0"},
    ]
    for record in forged:
        assert read_event(decode(app, json.dumps(record).encode())) is None, record


def test_a_key_that_is_not_text_stays_bytes(app: faust.App) -> None:
    schema = FramesSchema(key_type=str, value_type=None)
    assert schema.loads_key(app, SimpleNamespace(key=b"\xff\xfe")) == b"\xff\xfe"
    assert schema.loads_key(app, SimpleNamespace(key=JOB.encode())) == JOB
