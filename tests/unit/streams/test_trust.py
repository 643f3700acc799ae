"""Workers do not trust events: job ids that could name files outside the block store are
refused (permanently: dead-lettered at once), and retries go back only to stage topics."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lantern.contract import RetryEnvelope
from lantern.settings import Settings
from streams import blocks
from streams.app import create_app
from streams.blocks import BlockStore, InvalidBlockPath
from streams.errors import PipelineError
from streams.ids import InvalidJobId, check_job_id, valid_job_id
from streams.pipeline import is_permanent
from streams.retry import STAGE_TOPICS, allowed_target, attach, stage_topics
from streams.topics import TopicNames

GOOD = "0123456789abcdef0123456789abcdef"
BAD = [
    "",
    "../x",
    "../../etc",
    "a/b",
    "/" + GOOD[1:],
    GOOD[:16] + "/" + GOOD[17:],
    GOOD + "0",  # 33
    GOOD[:31],  # 31
    GOOD.upper(),
    GOOD[:31] + "A",
    GOOD[:31] + "g",
    GOOD + "\n",
    "\n" + GOOD[1:],
    " " + GOOD[1:],
    GOOD[:31] + "\x00",
    ".." + GOOD[2:],
    "-" * 32,
]


# ── the validator ─────────────────────────────────────────────────────────────────────────────


def test_ids_lantern_makes_are_valid() -> None:
    assert valid_job_id(GOOD)
    assert valid_job_id(uuid.uuid4().hex)
    assert valid_job_id(hashlib.sha256(b"wallet\nkey").hexdigest()[:32])  # api key_job_id
    assert check_job_id(GOOD) == GOOD


@pytest.mark.parametrize("job_id", BAD)
def test_anything_else_is_not(job_id: str) -> None:
    assert not valid_job_id(job_id)
    with pytest.raises(InvalidJobId):
        check_job_id(job_id)


@pytest.mark.parametrize("job_id", [None, 12345, b"0123456789abcdef0123456789abcdef", [GOOD]])
def test_a_job_id_that_is_not_a_string_is_not_valid(job_id: object) -> None:
    assert not valid_job_id(job_id)
    with pytest.raises(InvalidJobId):
        check_job_id(job_id)


def test_an_invalid_job_id_is_a_permanent_pipeline_error() -> None:
    with pytest.raises(InvalidJobId) as caught:
        check_job_id("../x")
    assert isinstance(caught.value, PipelineError)
    assert is_permanent(caught.value)  # the guard dead-letters it at once, no retries
    assert is_permanent(InvalidBlockPath("x"))


# ── the block store ───────────────────────────────────────────────────────────────────────────


def _tree(path: Path) -> set[Path]:
    return set(path.rglob("*"))


@pytest.fixture
def store(tmp_path: Path) -> BlockStore:
    root = tmp_path / "store" / "blocks"
    root.mkdir(parents=True)
    return BlockStore(root)


def test_a_valid_job_round_trips(store: BlockStore) -> None:
    digest = store.put(GOOD, 3, b"block")
    assert store.has(GOOD, 3) and not store.has(GOOD, 4)
    assert store.get(GOOD, 3, digest) == b"block"
    assert store.path(GOOD, 3) == store.root / GOOD / "3.blk"
    store.drop(GOOD)
    assert not (store.root / GOOD).exists()


@pytest.mark.parametrize("job_id", BAD)
def test_a_bad_job_id_touches_nothing(tmp_path: Path, store: BlockStore, job_id: str) -> None:
    # something a traversal could reach: beside the store, and the store's parent
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    before = _tree(tmp_path)
    with pytest.raises(InvalidJobId):
        store.put(job_id, 0, b"evil")
    with pytest.raises(InvalidJobId):
        store.get(job_id, 0, hashlib.sha256(b"evil").hexdigest())
    with pytest.raises(InvalidJobId):
        store.has(job_id, 0)
    with pytest.raises(InvalidJobId):
        store.drop(job_id)
    with pytest.raises(InvalidJobId):
        store.folder(job_id)
    assert _tree(tmp_path) == before
    assert (victim / "keep.txt").read_text() == "keep"


def test_drop_cannot_remove_a_folder_outside(tmp_path: Path, store: BlockStore) -> None:
    victim = store.root.parent / "victim"  # what ``../victim`` would name
    victim.mkdir()
    (victim / "0.blk").write_bytes(b"keep")
    with pytest.raises(InvalidJobId):
        store.drop("../victim")
    assert (victim / "0.blk").read_bytes() == b"keep"


@pytest.mark.parametrize("index", [-1, "../../x", "0", 1.5, True, None])
def test_a_bad_frame_index_is_refused(store: BlockStore, index: object) -> None:
    before = _tree(store.root.parent)
    with pytest.raises(InvalidBlockPath):
        store.put(GOOD, index, b"evil")  # type: ignore[arg-type]
    with pytest.raises(InvalidBlockPath):
        store.get(GOOD, index, "00")  # type: ignore[arg-type]
    assert _tree(store.root.parent) == before


def test_a_link_out_of_the_store_is_refused(tmp_path: Path, store: BlockStore) -> None:
    # defence in depth: a valid id whose folder is a link leading outside the root
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "0.blk").write_bytes(b"keep")
    (store.root / GOOD).symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidBlockPath):
        store.put(GOOD, 1, b"evil")
    with pytest.raises(InvalidBlockPath):
        store.get(GOOD, 0, hashlib.sha256(b"keep").hexdigest())
    with pytest.raises(InvalidBlockPath):
        store.drop(GOOD)
    assert sorted(p.name for p in outside.iterdir()) == ["0.blk"]
    assert (outside / "0.blk").read_bytes() == b"keep"


def test_a_block_file_linked_out_of_the_store_is_refused(tmp_path: Path, store: BlockStore) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"secret")
    (store.root / GOOD).mkdir()
    (store.root / GOOD / "0.blk").symlink_to(secret)
    with pytest.raises(InvalidBlockPath):
        store.get(GOOD, 0, hashlib.sha256(b"secret").hexdigest())
    with pytest.raises(InvalidBlockPath):
        store.put(GOOD, 0, b"evil")
    assert secret.read_bytes() == b"secret"


def test_a_relative_root_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = BlockStore(Path("blocks"))
    digest = store.put(GOOD, 0, b"x")
    assert store.get(GOOD, 0, digest) == b"x"


# ── the retry agent's targets ─────────────────────────────────────────────────────────────────


def test_the_stage_topics_are_allowed() -> None:
    names = TopicNames.from_settings(Settings())
    allowed = stage_topics(names.retry)
    assert allowed == {
        names.mint_requests,
        names.frame_tasks,
        names.frame_tasks_bulk,
        names.frames,
        names.pin_requests,
        names.chain_events,
        names.token_updates,
    }
    for topic in allowed:
        assert allowed_target(topic, allowed)


def test_stage_topics_keep_the_prefix() -> None:
    assert stage_topics("acme.prod.retry") == {f"acme.prod.{t}" for t in STAGE_TOPICS}
    with pytest.raises(ValueError):
        stage_topics("acme.prod.redo")


@pytest.mark.parametrize(
    "topic",
    [
        "lantern.status",
        "lantern.retry",
        "lantern.dead-letters",
        "lantern-job-status-changelog",
        "lantern-assemblies-changelog",
        "__consumer_offsets",
        "other.frames",
        "frames",
        "lantern.frames ",
        "",
        None,
        ["lantern.frames"],
    ],
)
def test_any_other_topic_is_not(topic: object) -> None:
    allowed = stage_topics(TopicNames.from_settings(Settings()).retry)
    assert not allowed_target(topic, allowed)


class _FakeTopic:
    def __init__(self, name: str, sent: list[tuple[str, bytes]]) -> None:
        self.name, self.sent = name, sent

    async def send(
        self, *, key: bytes, value: bytes, partition: int | None
    ) -> asyncio.Future[None]:
        self.sent.append((self.name, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _envelope(topic: str) -> RetryEnvelope:
    return RetryEnvelope(
        job_id=GOOD,
        stage="render",
        topic=topic,
        key=GOOD,
        payload=f'"to {topic}"',
        attempt=2,
        due_at=0.0,
        error="boom",
    )


def test_the_agent_republishes_to_stage_topics_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings()
    names = TopicNames.from_settings(settings)
    app = create_app(settings)
    attach(app, names.retry, 1)
    redeliver = app.agents["lantern.retry"].fun
    declare = app.topic
    sent: list[tuple[str, bytes]] = []

    def topic(name: str, **kwargs: Any) -> Any:
        if kwargs.get("value_serializer") == "raw":  # the agent's raw re-publishing topics
            return _FakeTopic(name, sent)
        return declare(name, **kwargs)

    monkeypatch.setattr(app, "topic", topic)

    async def envelopes() -> AsyncIterator[RetryEnvelope]:
        for name in (names.status, names.frames, "__consumer_offsets", names.dead_letters):
            yield _envelope(name)

    with caplog.at_level(logging.WARNING, logger="streams.retry"):
        asyncio.run(redeliver(envelopes()))
    assert sent == [(names.frames, f'"to {names.frames}"'.encode())]
    dropped = [r.getMessage() for r in caplog.records if "retry dropped" in r.getMessage()]
    assert len(dropped) == 3


def test_render_to_store_refuses_a_bad_job_id_before_rendering(
    store: BlockStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def render_blocks(*args: Any) -> list[bytes]:
        raise AssertionError("rendered a forged job")

    monkeypatch.setattr(blocks, "render_blocks", render_blocks)
    before = _tree(store.root.parent)
    with pytest.raises(InvalidJobId):
        blocks.render_to_store(store.root, "../../etc", None, None, b"", 0, 1)  # type: ignore[arg-type]
    assert _tree(store.root.parent) == before


def test_the_listing_of_a_jobs_blocks_holds_block_files_only(
    tmp_path: Path, store: BlockStore
) -> None:
    assert store.indexes(GOOD) == frozenset()  # no folder yet
    for index in (0, 2, 10):
        store.put(GOOD, index, b"x")
    folder = store.root / GOOD
    (folder / "3.blk").symlink_to(tmp_path / "elsewhere")  # a link is no block
    (folder / "4.blk").mkdir()  # nor a folder
    (folder / "5.tmp").write_bytes(b"x")
    (folder / "x.blk").write_bytes(b"x")
    assert store.indexes(GOOD) == {0, 2, 10}
    assert [store.has(GOOD, i) for i in range(6)] == [True, False, True, False, False, False]
    store.drop(GOOD)
    assert store.indexes(GOOD) == frozenset()


def test_a_block_that_cannot_be_opened_for_another_reason_is_retried_not_refused(
    store: BlockStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    store.put(GOOD, 0, b"x")

    def out_of_descriptors(*args: object, **kwargs: object) -> int:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(os, "open", out_of_descriptors)
    with pytest.raises(OSError) as raised:
        store.get(GOOD, 0, digest)
    assert not isinstance(raised.value, InvalidBlockPath)  # transient: not a permanent refusal
    assert not is_permanent(raised.value)
