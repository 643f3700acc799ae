"""The `raster` render option: "cairo" (the default, unchanged) and "browser" (Chromium-like).

tests/browser/test_raster_browser.py compares whole frames with Chromium itself; here the line
model's properties, a few pixel values measured in Chromium 156, and the default's bytes.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from render import (
    Gen1Settings,
    RenderOptions,
    SettingsError,
    frame_time,
    hairline,
    render_frame,
    render_gif,
)
from render.art import CONTOUR_RGB, LINE_ALPHA, LINE_RGB
from render.hairline import hairline_alpha, hairline_fragments
from render.layers import REFERENCE_SIZE, background, contour_mask, flow_lines
from render.strokes import draw_strokes

Frame = npt.NDArray[np.uint8]
DENSE = {"flowFields": {"lineDensity": 0.25, "lineLength": 35}}


def strokes(
    segments: list[tuple[float, float, float, float]],
    size: int,
    raster: str,
    alpha: float = 1.0,
    under: int = 0,
    width: float = 1.0,
) -> Frame:
    """White strokes over a grey level `under`, as an (size, size) "L" array."""
    image = Image.new("L", (size, size), under)
    lines = np.array(segments, dtype=np.float64).reshape(-1, 4)
    draw_strokes(image, lines[:, :2], lines[:, 2:], width, (255, 255, 255), alpha, raster)
    return np.asarray(image)


def frame_before(settings: Gen1Settings, options: RenderOptions, index: int) -> Frame:
    """render_frame as it was before the option existed (render/art.py, AGG strokes)."""
    size = options.size
    phase, angle = frame_time(options, index, settings.flow_field.direction)
    if settings.flow_field.enabled:
        image = background(settings.flow_field, size, angle)
    else:
        image = Image.new("RGB", (size, size))
    if settings.flow_fields.enabled:
        starts, ends = flow_lines(settings, size, phase)
        draw_strokes(image, starts, ends, size / REFERENCE_SIZE, LINE_RGB, LINE_ALPHA)
    if settings.contour.enabled:
        fill = Image.new("RGB", (size, size), CONTOUR_RGB)
        image = Image.composite(fill, image, contour_mask(settings.contour, size, phase))
    return np.asarray(image)


# --- the option ---------------------------------------------------------------------------


def test_cairo_is_the_default() -> None:
    assert RenderOptions().raster == "cairo"
    assert RenderOptions.from_dict({}) == RenderOptions(raster="cairo")
    assert RenderOptions().to_dict()["raster"] == "cairo"
    browser = RenderOptions.from_dict({"raster": "browser", "size": 64})
    assert browser.raster == "browser"
    assert browser.to_dict()["raster"] == "browser"
    assert RenderOptions.from_dict(browser.to_dict()) == browser
    # a job submitted before the option existed has no "raster": it renders as it did
    assert (
        RenderOptions.from_dict({"size": 64, "frames": 1, "delay_ms": 30, "timing": "loop"}).raster
        == "cairo"
    )


@pytest.mark.parametrize("value", ["skia", "", None, 1, "Browser"])
def test_raster_must_be_cairo_or_browser(value: object) -> None:
    with pytest.raises(SettingsError) as caught:
        RenderOptions.from_dict({"raster": value})
    assert [(e.field, e.reason) for e in caught.value.errors] == [
        ("raster", 'must be "cairo" or "browser"')
    ]


def test_draw_strokes_refuses_an_unknown_raster() -> None:
    with pytest.raises(ValueError, match="raster"):
        strokes([(1, 1, 5, 5)], 8, "skia")


# --- cairo: the same bytes as before --------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "options", "index"),
    [
        ({}, {"size": 512}, 0),
        ({}, {"size": 128, "timing": "legacy"}, 37),
        (DENSE, {"size": 96}, 3),
        ({"contour": {"enabled": False}, "flowFields": {"rotation": 45}}, {"size": 200}, 11),
    ],
)
def test_cairo_frames_are_the_frames_from_before(
    settings: dict[str, object], options: dict[str, object], index: int
) -> None:
    parsed, chosen = Gen1Settings.from_dict(settings), RenderOptions.from_dict(options)
    before = frame_before(parsed, chosen, index)
    assert np.array_equal(render_frame(parsed, chosen, index), before)
    explicit = RenderOptions.from_dict({**options, "raster": "cairo"})
    assert np.array_equal(render_frame(parsed, explicit, index), before)


def test_cairo_gif_bytes_do_not_depend_on_naming_the_default() -> None:
    settings = Gen1Settings()
    implicit = render_gif(settings, RenderOptions(size=64, frames=4))
    assert render_gif(settings, RenderOptions(size=64, frames=4, raster="cairo")) == implicit
    assert render_gif(settings, RenderOptions(size=64, frames=4, raster="browser")) != implicit


# --- browser: the hairline model ----------------------------------------------------------


def test_browser_frames_are_deterministic() -> None:
    settings, options = Gen1Settings.from_dict(DENSE), RenderOptions(size=256, raster="browser")
    first = render_frame(settings, options, 5)
    assert np.array_equal(render_frame(settings, options, 5), first)
    assert not np.array_equal(render_frame(settings, RenderOptions(size=256), 5), first)
    small = RenderOptions(size=64, frames=4, raster="browser")
    assert render_gif(settings, small, processes=1) == render_gif(settings, small, processes=2)


def test_strokes_blend_in_order_whatever_the_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # Overlapping strokes blend in drawing order: one call, two calls, or many small batches
    # give the same bytes.
    settings = Gen1Settings.from_dict(DENSE)
    starts, ends = flow_lines(settings, 128, 1.0)
    under = background(settings.flow_field, 128, 0.3)
    whole = under.copy()
    draw_strokes(whole, starts, ends, 1.0, LINE_RGB, LINE_ALPHA, "browser")
    halves = under.copy()
    for part in (slice(0, 700), slice(700, None)):
        draw_strokes(halves, starts[part], ends[part], 1.0, LINE_RGB, LINE_ALPHA, "browser")
    assert halves.tobytes() == whole.tobytes()
    monkeypatch.setattr(hairline, "_BATCH", 97)
    batched = under.copy()
    draw_strokes(batched, starts, ends, 1.0, LINE_RGB, LINE_ALPHA, "browser")
    assert batched.tobytes() == whole.tobytes()


def test_a_horizontal_line_has_the_exact_area_ink() -> None:
    line = [(10.0, 20.3, 110.0, 20.3)]  # 100 px long, 1 px wide
    browser = int(strokes(line, 128, "browser").sum(dtype=np.int64))
    cairo = int(strokes(line, 128, "cairo").sum(dtype=np.int64))
    assert browser == 100 * 255  # each column splits exactly 255 between two rows
    assert browser == pytest.approx(cairo, rel=0.01)


@pytest.mark.parametrize("degrees", [0, 20, 30, 45, 60, 90, 135, 200, 315])
def test_ink_per_unit_length_falls_with_the_angle(degrees: float) -> None:
    # One unit of coverage per step along the major axis: ink ∝ max(|cos θ|, |sin θ|) of an
    # exact-area stroke's, 1/√2 on a diagonal.
    theta = math.radians(degrees)
    centre, half = 64.37, 50.0
    dx, dy = half * math.cos(theta), half * math.sin(theta)
    line = [(centre - dx, centre - dy, centre + dx, centre + dy)]
    _, coverage, _ = hairline_fragments(np.array([line[0][:2]]), np.array([line[0][2:]]), 128, 128)
    browser = float(coverage.sum())
    cairo = float(strokes(line, 128, "cairo").sum(dtype=np.int64))
    expected = max(abs(math.cos(theta)), abs(math.sin(theta)))
    assert browser / cairo == pytest.approx(expected, abs=0.02)


def test_a_diagonal_gets_one_over_root_two_of_the_ink() -> None:
    line = [(10.3, 10.3, 110.3, 110.3)]
    browser = int(strokes(line, 128, "browser").sum(dtype=np.int64))
    cairo = int(strokes(line, 128, "cairo").sum(dtype=np.int64))
    assert browser / cairo == pytest.approx(1 / math.sqrt(2), abs=0.01)


def test_default_frame_lines_are_dimmer_than_cairo() -> None:
    settings = Gen1Settings.from_dict({"contour": {"enabled": False}})
    phase, angle = frame_time(RenderOptions(), 0)
    starts, ends = flow_lines(settings, 512, phase)
    under = background(settings.flow_field, 512, angle)
    inks = []
    for raster in ("cairo", "browser"):
        image = under.copy()
        draw_strokes(image, starts, ends, 1.0, LINE_RGB, LINE_ALPHA, raster)
        inks.append(int(np.asarray(image).sum(dtype=np.int64) - np.asarray(under).sum()))
    assert 0.7 < inks[1] / inks[0] < 0.95


# Pixel values read back from Debian's chromium 156 (canvas 2D, software raster): white
# strokes at alpha 0.6, one stroke() each.
CHROMIUM_HORIZONTAL = [
    [0, 0, 87, 124, 124, 124, 124, 124, 124, 124, 124, 124, 73, 0],  # row 3
    [0, 0, 20, 29, 29, 29, 29, 29, 29, 29, 29, 29, 17, 0],  # row 4
]
CHROMIUM_SLOPED = [  # rows 2-8
    [0, 0, 23, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 84, 113, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 40, 112, 120, 47, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 32, 105, 127, 54, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 25, 98, 135, 62, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 18, 91, 142, 41, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11, 50, 0],
]
# Six overlapping strokes over rgb(100,100,100) on a 16x16 canvas: sloped, axis-aligned and
# clipped ones, which Skia blends through different blitters.
CHROMIUM_MIXED_LINES = [
    (1.3, 2.2, 14.6, 5.9),
    (3.1, 4.0, 5.7, 25.0),
    (9.2, 3.5, 6.4, 30.0),
    (-4.0, 9.3, 20.0, 11.8),
    (12.5, 1.0, 12.5, 14.2),
    (0.4, 14.6, 15.2, 7.1),
]
CHROMIUM_MIXED = (
    "64646464646464646464646464646464647464646464646464646464c16464646494bfa58b71646464646464"
    "c1646464646466809ab3b49a8b866464c1646464646484a06464708abad4a990c8646464646478ac64646464"
    "94907b95dfb9876464646cb8646464649e876464c16c7c6d646464be66646464a87d6464c297bb6b646464b3"
    "72646464b2736695e48e6464a89e95bd96776e64bb98be8fc16464647d8690beb8adb7d4f2c5a49bd3877e74"
    "646464909491c19bb776808ad49da7b1646464a7d892647ca9646464c1646464648fbea2ab6464869f646464"
    "c16464649a95666db6646490956464647564646465646464bf65649a8b64646464646464"
)


def test_pixels_measured_in_chromium() -> None:
    horizontal = strokes([(2.3, 3.7, 12.6, 3.7)], 16, "browser", LINE_ALPHA)
    assert horizontal[3:5, :14].tolist() == CHROMIUM_HORIZONTAL
    assert not horizontal[[0, 1, 2, 5]].any()
    sloped = strokes([(2.3, 3.2, 12.6, 8.1)], 16, "browser", LINE_ALPHA)
    assert sloped[2:9, :14].tolist() == CHROMIUM_SLOPED
    mixed = strokes(CHROMIUM_MIXED_LINES, 16, "browser", LINE_ALPHA, under=100)
    assert mixed.tobytes().hex() == CHROMIUM_MIXED


def test_strokes_wider_than_a_pixel_are_polygons_in_both_rasters() -> None:
    # Above 512 px the 1 px line is wider than a pixel: Chromium fills it as a path too.
    line = [(3.2, 5.1, 90.7, 40.3), (80.0, 2.0, 10.0, 70.0)]
    for width in (1.5, 2.0):
        wide = strokes(line, 96, "browser", LINE_ALPHA, 40, width)
        assert np.array_equal(wide, strokes(line, 96, "cairo", LINE_ALPHA, 40, width))


def test_thinner_strokes_are_hairlines_with_less_alpha() -> None:
    assert hairline_alpha(0.6, 1.0) == 153
    assert hairline_alpha(0.6, 0.5) == 76  # Skia: 153·int(0.5·256) >> 8
    assert hairline_alpha(0.6, 0.125) == 19
    line = [(2.0, 4.5, 30.0, 4.5)]
    full = strokes(line, 32, "browser", LINE_ALPHA)
    half = strokes(line, 32, "browser", LINE_ALPHA, width=0.5)
    assert full[4, 10] == 153 and half[4, 10] == 76


def test_degenerate_lines_draw_nothing() -> None:
    lines = [
        (5.0, 5.0, 5.0, 5.0),  # zero length
        (-30.0, -5.0, -2.0, -9.0),  # wholly outside
        (40.0, 3.0, 90.0, 3.0),
        (float("nan"), 1.0, 4.0, 4.0),
    ]
    assert not strokes(lines, 32, "browser").any()


def test_lines_longer_than_511_px_are_drawn_whole() -> None:
    # Skia halves them (fixed-point range); the ink is still one unit per column.
    line = [(3.5, 100.25, 1020.5, 700.25)]
    ink = int(strokes(line, 1024, "browser", width=1.0).sum(dtype=np.int64))
    assert ink == pytest.approx(1017 * 255, rel=0.005)
