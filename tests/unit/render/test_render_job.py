"""The render pipeline: serial and parallel give the same bytes, blocks, progress, failures."""

from __future__ import annotations

import io
import math
import pickle

import numpy as np
import pytest
from PIL import Image

from render import (
    Encoding,
    Gen1Settings,
    RenderError,
    RenderOptions,
    assemble_gif,
    gif_header,
    palette_of_samples,
    plan_palette,
    render_block,
    render_frames,
    render_gif,
    render_samples,
    sample_indices,
)
from render.job import _render_run, sample_shares
from render.mediancut import sample_pixels

SETTINGS = Gen1Settings()
OPTIONS = RenderOptions(size=64, frames=7)


@pytest.fixture(scope="module")
def serial() -> bytes:
    return render_gif(SETTINGS, OPTIONS)


@pytest.mark.parametrize("encoding", [Encoding(), Encoding(optimise=False)])
def test_render_gif_is_header_and_independent_blocks(encoding: Encoding) -> None:
    # Each block alone, as the stream's workers make them, in any order.
    palette = plan_palette(SETTINGS, OPTIONS)
    order = [4, 0, 6, 2, 1, 5, 3]
    blocks = {i: render_block(SETTINGS, OPTIONS, palette, i, encoding) for i in order}
    gif = assemble_gif(gif_header(OPTIONS.size, palette), [blocks[i] for i in range(7)])
    assert gif == render_gif(SETTINGS, OPTIONS, encoding=encoding)
    with Image.open(io.BytesIO(gif)) as image:
        assert image.n_frames == OPTIONS.frames
        assert image.info["duration"] == OPTIONS.delay_ms


@pytest.mark.parametrize("processes", [1, 2, 4])
def test_the_bytes_are_the_same_for_any_process_count(serial: bytes, processes: int) -> None:
    assert render_gif(SETTINGS, OPTIONS, processes=processes) == serial


def test_progress_reports_every_frame_serially_and_ends_at_the_total() -> None:
    calls: list[tuple[int, int]] = []
    render_gif(SETTINGS, OPTIONS, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(done, 7) for done in range(1, 8)]
    calls.clear()
    render_gif(SETTINGS, OPTIONS, processes=2, progress=lambda d, t: calls.append((d, t)))
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == 7 and len(done) > 1


@pytest.mark.parametrize("processes", [1, 2])
def test_a_one_frame_gif(processes: int) -> None:
    gif = render_gif(SETTINGS, RenderOptions(size=64, frames=1), processes=processes)
    with Image.open(io.BytesIO(gif)) as image:
        assert image.n_frames == 1
        assert image.size == (64, 64)


def test_render_block_pickles_for_a_process_pool() -> None:
    assert pickle.loads(pickle.dumps(render_block)) is render_block


def test_a_failing_frame_names_its_index() -> None:
    with pytest.raises(RenderError) as info:
        render_block(SETTINGS, OPTIONS, b"not a palette", 3)
    assert info.value.frame_index == 3
    with pytest.raises(RenderError) as info:
        _render_run(SETTINGS, OPTIONS, b"bad", Encoding(), 2, 5)
    assert info.value.frame_index == 2


def test_a_worker_failure_aborts_the_render(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("render.job.palette_of_samples", lambda samples: b"not a palette")
    with pytest.raises(RenderError) as info:
        render_gif(SETTINGS, OPTIONS, processes=2)
    assert info.value.frame_index is not None


def test_processes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="processes"):
        render_gif(SETTINGS, OPTIONS, processes=0)


@pytest.mark.parametrize("size", [64, 100, 500])  # 500: rows per frame not a multiple of the stride
@pytest.mark.parametrize("processes", [2, 3, 4])
def test_a_palette_from_shares_of_the_samples_is_plan_palettes(size: int, processes: int) -> None:
    settings, options = Gen1Settings(), RenderOptions(size=size, frames=40)
    indices = sample_indices(options.frames)
    shares = sample_shares(indices, processes)
    assert [index for part, _ in shares for index in part] == indices
    samples = [render_samples(settings, options, part, at, len(indices)) for part, at in shares]
    frames = render_frames(settings, options, indices)
    # the frames stacked one under the other, every stride-th row and column of the stack
    stacked = np.concatenate(frames, axis=0)
    stride = max(1, math.isqrt(stacked.shape[0] * stacked.shape[1] // 65536))
    whole = stacked[::stride, ::stride].reshape(-1, 3)
    assert np.array_equal(np.concatenate(samples), whole)
    assert np.array_equal(sample_pixels(frames), whole)
    if size == 500:  # a ninth of the frames' bytes is what the processes send back
        assert sum(sample.nbytes for sample in samples) * 8 < sum(f.nbytes for f in frames)
    assert palette_of_samples(samples) == plan_palette(settings, options)


def test_a_palette_needs_samples() -> None:
    with pytest.raises(RenderError, match="at least one sample frame"):
        palette_of_samples([])
