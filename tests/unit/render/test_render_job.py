"""The render pipeline: serial and parallel give the same bytes, progress, failures."""

from __future__ import annotations

import io
import pickle

import pytest
from PIL import Image

from render import (
    Gen1Settings,
    RenderError,
    RenderOptions,
    assemble_gif,
    gif_header,
    plan_palette,
    render_block,
    render_gif,
)
from render.job import _render_parallel

SETTINGS = Gen1Settings()
OPTIONS = RenderOptions(size=64, frames=5)


@pytest.fixture(scope="module")
def serial() -> bytes:
    return render_gif(SETTINGS, OPTIONS)


def test_render_gif_is_header_blocks_and_trailer(serial: bytes) -> None:
    palette = plan_palette(SETTINGS, OPTIONS)
    blocks = [render_block(SETTINGS, OPTIONS, palette, index) for index in range(OPTIONS.frames)]
    assert serial == assemble_gif(gif_header(OPTIONS.size, palette), blocks)
    with Image.open(io.BytesIO(serial)) as image:
        assert image.n_frames == OPTIONS.frames
        assert image.info["duration"] == OPTIONS.delay_ms


@pytest.mark.parametrize("processes", [2, 4])
def test_parallel_equals_serial(serial: bytes, processes: int) -> None:
    assert render_gif(SETTINGS, OPTIONS, processes=processes) == serial


def test_progress_reports_every_frame() -> None:
    calls: list[tuple[int, int]] = []
    render_gif(SETTINGS, OPTIONS, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(done, 5) for done in range(1, 6)]
    calls.clear()
    render_gif(SETTINGS, OPTIONS, processes=2, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(done, 5) for done in range(1, 6)]


def test_a_one_frame_gif() -> None:
    gif = render_gif(SETTINGS, RenderOptions(size=64, frames=1), processes=2)
    with Image.open(io.BytesIO(gif)) as image:
        assert image.n_frames == 1
        assert image.size == (64, 64)


def test_render_block_pickles_for_a_process_pool() -> None:
    assert pickle.loads(pickle.dumps(render_block)) is render_block


def test_a_failing_frame_names_its_index() -> None:
    with pytest.raises(RenderError) as info:
        render_block(SETTINGS, OPTIONS, b"not a palette", 3)
    assert info.value.frame_index == 3


def test_a_worker_failure_aborts_the_render() -> None:
    with pytest.raises(RenderError) as info:
        _render_parallel(SETTINGS, OPTIONS, b"not a palette", 2, None)
    assert info.value.frame_index is not None


def test_processes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="processes"):
        render_gif(SETTINGS, OPTIONS, processes=0)
