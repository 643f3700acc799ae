"""render_frame and its layers: shapes, determinism, each layer alone, timing and scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from render import (
    Contour,
    FlowField,
    FlowFields,
    Gen1Settings,
    RenderError,
    RenderOptions,
    frame_time,
    render_frame,
)
from render.art import CONTOUR_RGB, LINE_ALPHA
from render.layers import flow_lines
from render.timing import loop_cycles

SMALL = RenderOptions(size=64, frames=10)
OFF = {"flow_field": FlowField(enabled=False), "flow_fields": FlowFields(enabled=False),
       "contour": Contour(enabled=False)}  # fmt: skip


def only(**layers: object) -> Gen1Settings:
    """Settings with every layer disabled except those given."""
    return Gen1Settings(**{**OFF, **layers})  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [64, 100, 512])
def test_frame_shape_and_dtype(size: int) -> None:
    frame = render_frame(Gen1Settings(), RenderOptions(size=size), 3)
    assert frame.shape == (size, size, 3)
    assert frame.dtype == np.uint8


def test_frames_are_deterministic() -> None:
    settings = Gen1Settings()
    assert np.array_equal(render_frame(settings, SMALL, 4), render_frame(settings, SMALL, 4))


def test_all_layers_disabled_is_black() -> None:
    assert not render_frame(only(), SMALL, 2).any()


def test_background_centre_is_the_colour_midpoint() -> None:
    flow_field = FlowField(color1="#000000", color2="#c864fa")
    for size in (64, 100):
        frame = render_frame(only(flow_field=flow_field), RenderOptions(size=size), 7)
        centre = frame[size // 2, size // 2].astype(int)
        assert np.all(np.abs(centre - [100, 50, 125]) <= 1)


def test_background_runs_from_color1_to_color2_along_the_angle() -> None:
    # Frame 0: angle 0, so u falls from left to right and color1 is at the right.
    flow_field = FlowField(color1="#ff0000", color2="#0000ff")
    frame = render_frame(only(flow_field=flow_field), SMALL, 0).astype(int)
    right, left = frame[32, -1], frame[32, 0]
    assert right[0] > left[0] and right[2] < left[2]
    assert np.array_equal(frame[0], frame[-1])  # constant down each column
    # u stays within [0.146, 0.854]: the pure end colours never appear.
    assert frame[..., 0].max() < 255 * 0.86 and frame[..., 0].min() > 255 * 0.14


def test_lines_only_are_white_strokes_at_alpha_point_six() -> None:
    # lineDensity 0.01: 5x5 cells ~100 px apart at 512, so 20 px lines never overlap.
    settings = only(flow_fields=FlowFields(line_density=0.01))
    frame = render_frame(settings, RenderOptions(size=512), 0).astype(int)
    assert np.array_equal(frame[..., 0], frame[..., 1])
    assert np.array_equal(frame[..., 0], frame[..., 2])
    assert frame.max() <= round(255 * LINE_ALPHA)  # one stroke at most
    assert frame.max() >= 100  # and somewhere nearly full coverage
    lit = np.count_nonzero(frame[..., 0])
    assert 25 * 20 <= lit <= 25 * 20 * 4  # 25 lines, 20 px long, ~1-3 px across


def test_overlapping_lines_accumulate() -> None:
    settings = only(flow_fields=FlowFields(line_density=0.5, line_length=100))
    frame = render_frame(settings, SMALL, 0)
    assert frame.max() > round(255 * LINE_ALPHA)


def test_contour_only_paints_band_alphas_of_its_colour() -> None:
    levels = 4
    settings = only(contour=Contour(levels=levels, smoothness=0.3))
    frame = render_frame(settings, SMALL, 1)
    alphas = [(0.3 * (i + 1) / levels) ** 2 * s for i in range(levels) for s in (1.0, 0.3)]
    # Alpha is 8-bit, as canvas's colours are: the fill blends at round(alpha·255)/255.
    masks = [round(a * 255) / 255 for a in [0.0, *alphas]]
    allowed = {tuple(np.rint(np.array(CONTOUR_RGB) * m).astype(int)) for m in masks}
    seen = {tuple(pixel) for pixel in frame.reshape(-1, 3).astype(int)}
    assert seen <= allowed
    assert len(seen) > 2


def test_contour_cells_are_8px_blocks_at_512() -> None:
    frame = render_frame(only(contour=Contour()), RenderOptions(size=512), 0)
    blocks = frame.reshape(64, 8, 64, 8, 3)
    assert np.array_equal(blocks, np.broadcast_to(blocks[:, :1, :, :1], blocks.shape))


def test_contour_affects_flow_only_when_the_contour_is_enabled() -> None:
    lines = FlowFields()
    with_switch = only(flow_fields=lines)
    without = Gen1Settings(**{**OFF, "flow_fields": lines, "contour_affects_flow": False})  # type: ignore[arg-type]
    assert np.array_equal(render_frame(with_switch, SMALL, 0), render_frame(without, SMALL, 0))
    both = Gen1Settings(flow_field=FlowField(enabled=False))
    both_off = Gen1Settings(flow_field=FlowField(enabled=False), contour_affects_flow=False)
    assert not np.array_equal(render_frame(both, SMALL, 0), render_frame(both_off, SMALL, 0))


def test_direction_mirrors_x_only_and_rotation_turns_lines() -> None:
    base = Gen1Settings()
    starts, ends = flow_lines(base, 512, 0.4)
    mirrored = Gen1Settings(flow_fields=FlowFields(direction=-1))
    m_starts, m_ends = flow_lines(mirrored, 512, 0.4)
    assert np.array_equal(starts, m_starts)
    assert np.allclose(m_ends - m_starts, (ends - starts) * [-1, 1])
    turned = Gen1Settings(flow_fields=FlowFields(rotation=90))
    t_starts, t_ends = flow_lines(turned, 512, 0.4)
    d, t = ends - starts, t_ends - t_starts
    assert np.allclose(t, np.stack([-d[:, 1], d[:, 0]], axis=1))
    assert np.allclose(np.hypot(*d.T), 20.0)
    assert len(starts) == 51 * 51  # density 0.1 at 512: 51 cells per side


def test_loop_timing_wraps_exactly() -> None:
    settings = Gen1Settings()
    options = RenderOptions(size=64, frames=7)
    first = render_frame(settings, options, 0)
    assert np.array_equal(render_frame(settings, options, 7), first)
    assert not np.array_equal(render_frame(settings, options, 1), first)


def test_frame_time_loop() -> None:
    options = RenderOptions(frames=100)
    assert frame_time(options, 0) == (0.0, 0.0)
    assert frame_time(options, 25) == pytest.approx((math.pi / 2, math.pi / 2))
    assert frame_time(options, 25, direction=-1) == pytest.approx((math.pi / 2, -math.pi / 2))
    assert frame_time(options, 100) == (0.0, 0.0)
    assert loop_cycles(100) == 1 and loop_cycles(1000) == 1
    assert loop_cycles(10_000) == round(0.002 * 10_000 / (2 * math.pi)) == 3


def test_frame_time_legacy_is_the_original_formula() -> None:
    options = RenderOptions(frames=100, timing="legacy")
    for frame in (0, 5, 999):
        t = 0.2 * frame
        assert frame_time(options, frame) == (0.01 * t, t / 100)
        assert frame_time(options, frame, direction=-1) == (0.01 * t, -t / 100)
    settings = Gen1Settings()
    legacy = RenderOptions(size=64, frames=10, timing="legacy")
    assert not np.array_equal(render_frame(settings, legacy, 0), render_frame(settings, legacy, 5))
    # Legacy frame 10 is not frame 0: the original never looped seamlessly.
    assert not np.array_equal(render_frame(settings, legacy, 0), render_frame(settings, legacy, 10))


def test_smaller_sizes_keep_the_look() -> None:
    settings = Gen1Settings()
    big = render_frame(settings, RenderOptions(size=512), 7).astype(float)
    small = render_frame(settings, RenderOptions(size=128), 7).astype(float)
    downscaled = big.reshape(128, 4, 128, 4, 3).mean(axis=(1, 3))
    assert np.abs(small - downscaled).mean() < 1.5


def test_a_negative_index_is_a_render_error() -> None:
    with pytest.raises(RenderError) as info:
        render_frame(Gen1Settings(), SMALL, -1)
    assert info.value.frame_index == -1
