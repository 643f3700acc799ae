"""Frame blocks between render and assemble: carried through Kafka or left on disk, the table's
entries for both, the checks on the way back, and the largest event a job can make."""

from __future__ import annotations

import base64
import hashlib
import random
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lantern.contract import FrameBlock, JobSpec
from lantern.settings import KafkaSettings
from pinning import LocalStore
from render import Gen1Settings, RenderOptions, plan_palette, render_blocks, render_gif
from streams.assemble import READ_AHEAD, Applier, Assembly, Draft, gif_parts, inline_prefix
from streams.blocks import (
    BlockStore,
    block_of,
    decode_run,
    encode_run,
    render_carried,
    render_to_store,
)
from streams.errors import PipelineError
from streams.lanes import frames_per_task

JOB = "0123456789abcdef0123456789abcdef"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_carried_blocks_are_the_bytes_the_block_store_would_hold(tmp_path: Path) -> None:
    settings, options = Gen1Settings(), RenderOptions(size=64, frames=6)
    palette = plan_palette(settings, options)
    digests, carried = render_carried(settings, options, palette, 2, 5)
    on_disk = render_to_store(tmp_path, JOB, settings, options, palette, 2, 5)
    expected = render_blocks(settings, options, palette, 2, 5)
    assert digests == on_disk == [sha(block) for block in expected]
    assert [base64.b64decode(block) for block in carried] == expected


def test_a_run_entry_says_which_way_each_block_came() -> None:
    assert decode_run(encode_run(("d0", "d1"), ())) == [("d0", None), ("d1", None)]
    carried = encode_run(["d0", "d1"], ["AAE=", "Ag+/"])
    assert carried == "d0:AAE=,d1:Ag+/"
    assert decode_run(carried) == [("d0", "AAE="), ("d1", "Ag+/")]
    # an entry written before blocks travelled: digests only, the blocks on disk
    assert decode_run("d0,d1,d2") == [("d0", None), ("d1", None), ("d2", None)]


def test_a_carried_block_is_checked_against_its_digest(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    data = b"\x21\xf9\x04 block bytes"
    encoded = base64.b64encode(data).decode()
    assert block_of(store, JOB, 0, sha(data), encoded) == data
    with pytest.raises(PipelineError, match="frame 3 block does not match its digest"):
        block_of(store, JOB, 3, sha(b"other bytes"), encoded)
    with pytest.raises(PipelineError, match="frame 4 block is not base64"):
        block_of(store, JOB, 4, sha(data), "not base64!")


def test_a_block_without_bytes_is_read_from_the_block_store(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    digest = store.put(JOB, 7, b"on disk")
    assert block_of(store, JOB, 7, digest, None) == b"on disk"
    with pytest.raises(PipelineError, match="frame 8 block missing"):
        block_of(store, JOB, 8, digest, None)  # a worker that does not share the folder


def _largest_block(size: int) -> int:
    """The most bytes one frame's block can take: every pixel its own 12-bit LZW code (GIF's
    widest), a clear code every 4,093 codes, a length byte per 255 bytes of data, and the
    graphic control extension, image descriptor, code size and terminator around them."""
    codes = size * size + size * size // 4093 + 2
    data = -(-codes * 12 // 8)
    return data + -(-data // 255) + 8 + 10 + 1 + 1


def test_the_largest_run_any_job_can_send_fits_in_one_kafka_message() -> None:
    """A task carries fewer frames at larger sizes; the worst run of every size, at the bound
    on a block's bytes, base64 in its event, is under ``max_message_bytes`` (the topic's, the
    changelog's, the producer's and the consumer's limit)."""
    limit = KafkaSettings().max_message_bytes
    worst = max(
        range(64, 1025),
        key=lambda size: (
            _largest_block(size) * frames_per_task(RenderOptions(size=size, frames=1000), 10)
        ),
    )
    options = RenderOptions(size=worst, frames=1000)
    count = frames_per_task(options, 10)
    rng = random.Random(worst)
    blocks = [rng.randbytes(_largest_block(worst)) for _ in range(count)]
    spec = JobSpec(
        job_id=JOB,
        settings=Gen1Settings().to_dict(),
        options=options.to_dict(),
        wallet="0x52908400098527886E0F7030069857D2E4169EE7",
        palette="ff" * 768,
        submitted_at=1.0e9,
        generation=99,
    )
    event = FrameBlock(
        spec=spec,
        index=990,
        digests=[sha(block) for block in blocks],
        blocks=[base64.b64encode(block).decode() for block in blocks],
    )
    size = len(event.dumps())
    assert (worst, count) == (1023, 3)  # 10 × 512² / 1023² = 2.505 frames, rounded to 3
    assert size < 0.8 * limit, f"{size} bytes against a limit of {limit}"
    # the assembler's table entry for the run is no larger than the event
    entry = encode_run(event.digests, event.blocks or [])
    assert len(entry) < size


def _job(settings: Gen1Settings, options: RenderOptions, palette: bytes) -> JobSpec:
    return JobSpec(
        job_id=JOB, settings=settings.to_dict(), options=options.to_dict(), wallet="0x",
        palette=palette.hex(), submitted_at=0.0,
    )  # fmt: skip


def test_the_gif_is_stored_from_its_runs_as_the_one_rendered_in_process(tmp_path: Path) -> None:
    settings, options = Gen1Settings(), RenderOptions(size=64, frames=6)
    palette = plan_palette(settings, options)
    digests, carried = render_carried(settings, options, palette, 0, 3)
    on_disk = render_to_store(tmp_path / "blocks", JOB, settings, options, palette, 3, 6)
    runs = [encode_run(digests, carried), encode_run(on_disk, ())]  # one each way
    store = LocalStore(tmp_path / "store")
    job = _job(settings, options, palette)
    cid, size = store.put_chunks(
        gif_parts(BlockStore(tmp_path / "blocks"), job, runs), content_type="image/gif"
    )
    expected = render_gif(settings, options)
    assert store.get(cid) == expected and size == len(expected)


def test_blocks_read_ahead_of_the_writer_keep_frame_order(tmp_path: Path) -> None:
    # more frames than the blocks read ahead, in runs of uneven length, both ways
    settings, options = Gen1Settings(), RenderOptions(size=32, frames=READ_AHEAD * 3 + 1)
    palette = plan_palette(settings, options)
    cuts = [0, 5, 6, 17, options.frames]
    runs = []
    for number, (start, stop) in enumerate(pairwise(cuts)):
        if number % 2:
            runs.append(encode_run(*render_carried(settings, options, palette, start, stop)))
        else:
            on_disk = render_to_store(
                tmp_path / "blocks", JOB, settings, options, palette, start, stop
            )
            runs.append(encode_run(on_disk, ()))
    store = LocalStore(tmp_path / "store")
    job = _job(settings, options, palette)
    cid, _ = store.put_chunks(
        gif_parts(BlockStore(tmp_path / "blocks"), job, runs), content_type="image/gif"
    )
    assert store.get(cid) == render_gif(settings, options)


def test_the_first_damaged_block_in_frame_order_is_named(tmp_path: Path) -> None:
    settings, options = Gen1Settings(), RenderOptions(size=32, frames=12)
    palette = plan_palette(settings, options)
    blocks = BlockStore(tmp_path / "blocks")
    digests = render_to_store(blocks.root, JOB, settings, options, palette, 0, 12)
    for index in (9, 3):  # both within the blocks read ahead of frame 3
        blocks.path(JOB, index).write_bytes(b"not the block")
    parts = gif_parts(blocks, _job(settings, options, palette), [encode_run(digests, ())])
    with pytest.raises(PipelineError, match="frame 3 block does not match"):
        LocalStore(tmp_path / "store").put_chunks(parts, content_type="image/gif")


def test_a_gif_with_a_damaged_block_is_not_stored(tmp_path: Path) -> None:
    settings, options = Gen1Settings(), RenderOptions(size=64, frames=6)
    palette = plan_palette(settings, options)
    blocks = BlockStore(tmp_path / "blocks")
    digests = render_to_store(blocks.root, JOB, settings, options, palette, 0, 6)
    blocks.path(JOB, 4).write_bytes(b"\x21\xf9\x04 not the block")
    store = LocalStore(tmp_path / "store")
    parts = gif_parts(blocks, _job(settings, options, palette), [encode_run(digests, ())])
    with pytest.raises(PipelineError, match="frame 4"):
        store.put_chunks(parts, content_type="image/gif")
    assert list(store.root.iterdir()) == []
    with pytest.raises(PipelineError, match="5 frame blocks recorded for 6 frames"):
        gif_parts(blocks, _job(settings, options, palette), [encode_run(digests[:5], ())])


def _in_folder(
    tmp_path: Path, frames: int
) -> tuple[Gen1Settings, RenderOptions, bytes, BlockStore, list[str]]:
    """Default art at 32 px, its palette, and every frame's block in the block folder (their
    digests)."""
    settings, options = Gen1Settings(), RenderOptions(size=32, frames=frames)
    palette = plan_palette(settings, options)
    blocks = BlockStore(tmp_path / "blocks")
    digests = render_to_store(blocks.root, JOB, settings, options, palette, 0, frames)
    return settings, options, palette, blocks, digests


def test_a_gif_written_ahead_run_by_run_is_the_gif_written_whole(tmp_path: Path) -> None:
    settings, options, palette, blocks, digests = _in_folder(tmp_path, READ_AHEAD * 2 + 3)
    job, store = _job(settings, options, palette), LocalStore(tmp_path / "store")
    draft = Draft.start(store, job)
    for stop in (4, 4, 11, 17):  # as runs come in (one twice: nothing new to write)
        assert draft.leads_to(job, digests[:stop])
        draft.extend(blocks, JOB, digests[:stop])
        assert draft.written == stop
    frames: list[tuple[str, str | None]] = [(digest, None) for digest in digests]
    cid, size = draft.finish(blocks, job, frames)
    expected = render_gif(settings, options)
    assert store.get(cid) == expected and size == len(expected)
    whole = LocalStore(tmp_path / "whole").put_chunks(
        gif_parts(blocks, job, [encode_run(digests, ())]), content_type="image/gif"
    )
    assert whole == (cid, size)


def test_a_draft_leads_only_to_its_own_gif(tmp_path: Path) -> None:
    settings, options, palette, blocks, digests = _in_folder(tmp_path, 6)
    job, store = _job(settings, options, palette), LocalStore(tmp_path / "store")
    draft = Draft.start(store, job)
    draft.extend(blocks, JOB, digests[:3])
    assert draft.leads_to(job, digests) and draft.leads_to(job, digests[:3])
    assert not draft.leads_to(job, digests[:2])  # fewer frames than it has written
    assert not draft.leads_to(job, [digests[0], "0" * 64, *digests[2:]])  # another frame 1
    other = _job(settings, options, bytes(reversed(palette)))
    assert not draft.leads_to(other, digests)  # another header
    draft.abort()
    assert not [p for p in store.root.iterdir()]  # nothing stored, nothing left behind


def test_a_damaged_block_stops_a_draft_where_it_is(tmp_path: Path) -> None:
    settings, options, palette, blocks, digests = _in_folder(tmp_path, 8)
    blocks.path(JOB, 5).write_bytes(b"not the block")
    job, store = _job(settings, options, palette), LocalStore(tmp_path / "store")
    draft = Draft.start(store, job)
    with pytest.raises(PipelineError, match="frame 5 block does not match"):
        draft.extend(blocks, JOB, digests)
    assert draft.written == 5 and draft.leads_to(job, digests)
    with pytest.raises(PipelineError, match="frame 5"):
        draft.finish(blocks, job, [(digest, None) for digest in digests])
    assert not [p for p in store.root.iterdir()]  # a failed finish stores nothing


def test_the_frames_written_ahead_are_the_first_without_a_gap() -> None:
    state = Assembly(job_id=JOB, frames=12)
    assert inline_prefix(state) == []
    state = state.with_run(3, 2, 0.0, ("d3", "d4"))  # not from the first frame: nothing yet
    assert inline_prefix(state) == []
    state = state.with_run(0, 3, 0.0, ("d0", "d1", "d2"))
    assert inline_prefix(state) == ["d0", "d1", "d2", "d3", "d4"]
    state = state.with_run(8, 2, 0.0, ("d8", "d9"))  # after a gap: not yet
    assert inline_prefix(state) == ["d0", "d1", "d2", "d3", "d4"]
    state = state.with_run(5, 2, 0.0)  # a run in the blocks table (carried) ends it
    state = state.with_run(7, 1, 0.0, ("d7",))
    assert inline_prefix(state) == ["d0", "d1", "d2", "d3", "d4"]


def _writing_applier(content: LocalStore, blocks: BlockStore) -> Applier:
    none: Any = None
    pipe: Any = SimpleNamespace(store=content)
    return Applier(none, pipe, none, none, none, blocks)


async def test_the_assembler_writes_a_gif_ahead_as_far_as_its_frames_are_in(
    tmp_path: Path,
) -> None:
    settings, options, palette, blocks, digests = _in_folder(tmp_path, 9)
    job = _job(settings, options, palette)
    agent = _writing_applier(LocalStore(tmp_path / "store"), blocks)
    state = Assembly(job_id=JOB, frames=9).with_run(3, 3, 0.0, tuple(digests[3:6]))
    await agent._write_ahead(job, state)
    assert agent.drafts == {}  # frame 0 is not in: nothing to write yet
    state = state.with_run(0, 3, 0.0, tuple(digests[:3]))
    await agent._write_ahead(job, state)
    assert agent.drafts[JOB].written == 6
    agent.drop_drafts()
    assert not list((tmp_path / "store").iterdir())


async def test_only_the_drafts_of_jobs_still_here_are_kept(tmp_path: Path) -> None:
    settings, options, palette, blocks, digests = _in_folder(tmp_path, 6)
    content = LocalStore(tmp_path / "store")
    agent = _writing_applier(content, blocks)
    job = _job(settings, options, palette)
    state = Assembly(job_id=JOB, frames=6).with_run(0, 3, 0.0, tuple(digests[:3]))
    await agent._write_ahead(job, state)
    assert agent.drop_drafts(keep=lambda job_id: job_id == JOB) == 0  # still this worker's
    assert agent.drafts[JOB].written == 3
    assert agent.drop_drafts(keep=lambda job_id: False) == 1  # its partition went elsewhere
    assert agent.drafts == {} and not list(content.root.iterdir())  # its file is gone too


async def test_a_store_that_cannot_take_a_draft_leaves_the_gif_to_the_end(
    tmp_path: Path,
) -> None:
    settings, options, palette, blocks, digests = _in_folder(tmp_path, 6)
    content = LocalStore(tmp_path / "store")
    content.root.rmdir()  # gone: no temporary file can be made there
    agent = _writing_applier(content, blocks)
    state = Assembly(job_id=JOB, frames=6).with_run(0, 3, 0.0, tuple(digests[:3]))
    await agent._write_ahead(_job(settings, options, palette), state)  # does not raise
    assert agent.drafts == {}
