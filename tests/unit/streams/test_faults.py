"""The one hook at a stage's entry: a record of a newer contract dead-lettered at once, and the
drills of ``LANTERN_FAULTS_*`` — configured one way, applied there, absent from the stages."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from lantern.contract import (
    CONTRACT_VERSION,
    DeadLetter,
    FrameTask,
    JobSpec,
    PinRequest,
    RetryEnvelope,
    StatusEvent,
)
from lantern.settings import FaultSettings, Settings
from monitoring.metrics import WorkerMetrics
from pinning.store import LocalStore
from streams import faults
from streams.errors import InjectedFault
from streams.faults import Faults
from streams.pipeline import Pipeline
from streams.topics import TopicNames

JOB = "0123456789abcdef0123456789abcdef"
RED, BLUE = "#ff0000", "#0000ff"
STAGES = Path(__file__).resolve().parents[3] / "streams"


def spec(colour: str = RED) -> JobSpec:
    return JobSpec(
        job_id=JOB, settings={"flowField": {"color1": colour}}, options={"frames": 10},
        wallet="0x", palette="", submitted_at=0.0,
    )  # fmt: skip


def task(colour: str = RED, **fields: Any) -> FrameTask:
    return FrameTask(spec=spec(colour), index=0, **fields)


def pin_request(colour: str = RED, attempt: int = 1) -> PinRequest:
    return PinRequest(spec=spec(colour), gif_cid="Qm", gif_size=1, attempt=attempt)


# ── the drills ────────────────────────────────────────────────────────────────────────────────


def test_a_render_fault_hits_every_frame_of_its_colour_only(tmp_path: Path) -> None:
    drills = Faults(FaultSettings(render_color=RED), marks=tmp_path)
    with pytest.raises(InjectedFault, match="injected render fault"):
        drills.enter("render", task(RED))
    with pytest.raises(InjectedFault):
        drills.enter("render", task(RED, attempt=3))
    drills.enter("render", task(BLUE))
    drills.enter("pin", pin_request(RED))  # another stage


def test_a_pin_fault_fails_the_first_attempts_then_passes(tmp_path: Path) -> None:
    drills = Faults(FaultSettings(pin_color=RED, pin_failures=2), marks=tmp_path)
    for attempt in (1, 2):
        with pytest.raises(InjectedFault, match=f"attempt {attempt}"):
            drills.enter("pin", pin_request(RED, attempt))
    drills.enter("pin", pin_request(RED, 3))
    drills.enter("pin", pin_request(BLUE, 1))


def test_the_assemble_crash_dies_once_per_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deaths: list[str] = []
    monkeypatch.setattr(faults, "_die", lambda: deaths.append("killed"))
    drills = Faults(FaultSettings(assemble_crash_color=RED), marks=tmp_path / "blocks")
    drills.enter("assemble", spec(RED))  # the stage's entry: not the moment
    drills.enter("assemble.finish", spec(BLUE))
    assert deaths == []
    drills.enter("assemble.finish", spec(RED))
    assert deaths == ["killed"]
    assert (tmp_path / "blocks" / f".crashed-{JOB}").exists()
    drills.enter("assemble.finish", spec(RED))  # the worker taking over finishes the job
    assert deaths == ["killed"]


def test_no_drill_is_configured_by_default(tmp_path: Path) -> None:
    drills = Faults(FaultSettings(), marks=tmp_path)
    for point, subject in [("render", task()), ("pin", pin_request()), ("assemble.finish", spec())]:
        drills.enter(point, subject)
    assert list(tmp_path.iterdir()) == []


def test_the_drills_are_configured_from_the_environment() -> None:
    env = {
        "LANTERN_FAULTS_RENDER_COLOR": RED,
        "LANTERN_FAULTS_PIN_COLOR": BLUE,
        "LANTERN_FAULTS_PIN_FAILURES": "2",
        "LANTERN_FAULTS_ASSEMBLE_CRASH_COLOR": "#c0ffee",
    }
    settings = Settings.from_env(env)
    assert settings.faults == FaultSettings(RED, BLUE, 2, "#c0ffee")


@pytest.mark.parametrize("module", ["split", "rendering", "assemble", "pin"])
def test_no_stage_knows_the_drills(module: str) -> None:
    source = (STAGES / f"{module}.py").read_text()
    for word in ("(?<!de)fault", "colou?r", "sigkill", "crash"):
        assert not re.search(word, source, re.IGNORECASE), f"{word!r} in streams/{module}.py"


# ── the hook in the guard ─────────────────────────────────────────────────────────────────────


class Topic:
    """A topic that keeps what is sent to it."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, *, key: str, value: Any, partition: int | None = None) -> Any:
        self.sent.append(value)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def pipeline(tmp_path: Path, drills: FaultSettings | None = None) -> Pipeline:
    base = Settings()
    settings = dataclasses.replace(
        base,
        store=dataclasses.replace(base.store, root=tmp_path / "ipfs"),
        faults=drills or FaultSettings(),
    )
    return Pipeline(
        settings=settings,
        names=TopicNames.from_settings(settings),
        store=LocalStore(tmp_path / "ipfs"),
        status_topic=Topic(),  # type: ignore[arg-type]
        retry_topic=Topic(),  # type: ignore[arg-type]
        dead_letter_topic=Topic(),  # type: ignore[arg-type]
        pool=None,  # type: ignore[arg-type]
        metrics=WorkerMetrics.create(),
    )


def sent(topic: Any) -> list[Any]:
    return list(topic.sent)


async def test_a_record_of_a_newer_contract_is_dead_lettered_before_the_work(
    tmp_path: Path,
) -> None:
    pipe = pipeline(tmp_path)
    worked: list[bool] = []

    async def work() -> None:
        worked.append(True)

    newer = task(BLUE, version=CONTRACT_VERSION + 1)
    outcome = await pipe.guard("render", newer, work, job_id=JOB, topic="frame-tasks", key=JOB)
    assert worked == []
    assert (outcome.failed, outcome.final) == (True, True)  # permanent: no retry
    assert sent(pipe.retry_topic) == []
    [letter] = sent(pipe.dead_letter_topic)
    assert isinstance(letter, DeadLetter)
    assert (letter.stage, letter.attempts) == ("render", 1)
    assert "NewerContract" in letter.error
    [status] = sent(pipe.status_topic)
    assert isinstance(status, StatusEvent) and status.state == "failed"


async def test_an_injected_fault_takes_the_path_of_any_failure(tmp_path: Path) -> None:
    pipe = pipeline(tmp_path, FaultSettings(render_color=RED))
    worked: list[int] = []

    async def work() -> None:
        worked.append(1)

    first = await pipe.guard("render", task(RED), work, job_id=JOB, topic="tasks", key=JOB)
    assert (first.failed, first.final) == (True, False)
    [envelope] = sent(pipe.retry_topic)
    assert isinstance(envelope, RetryEnvelope)
    assert (envelope.attempt, envelope.topic) == (2, "tasks")
    assert "injected render fault" in envelope.error
    last = await pipe.guard("render", task(RED, attempt=3), work, job_id=JOB, topic="t", key=JOB)
    assert last.final
    assert len(sent(pipe.dead_letter_topic)) == 1
    clean = await pipe.guard("render", task(BLUE), work, job_id=JOB, topic="t", key=JOB)
    assert (clean.failed, worked) == (False, [1])


async def test_the_drill_marks_go_beside_the_frame_blocks(tmp_path: Path) -> None:
    pipe = pipeline(tmp_path)
    assert pipe.faults.marks == pipe.settings.store.blocks_dir
