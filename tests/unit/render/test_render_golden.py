"""Golden frames, the loop seam, every size, and the degenerate corners of the settings.

Golden frames are small PNGs in tests/fixtures/render/. After a deliberate change to the
look, regenerate them and look at them before committing:

    .venv/bin/python tests/unit/render/test_render_golden.py --update
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from render import Gen1Settings, RenderOptions, render_frame, render_gif

from .test_render_gif import decode_pillow

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "render"

# name: (settings JSON, render options JSON, frame index)
GOLDEN: dict[str, tuple[dict[str, Any], dict[str, Any], int]] = {
    "default-128-loop-10": ({}, {"size": 128}, 10),
    "default-128-legacy-37": ({}, {"size": 128, "timing": "legacy"}, 37),
    "dense-96": ({"flowFields": {"lineDensity": 0.3, "lineLength": 30}}, {"size": 96}, 3),
    "contours-64": (
        {"contour": {"levels": 20, "octaves": 6, "smoothness": 0.1}, "contourAffectsFlow": False},
        {"size": 64},
        50,
    ),
    "lines-turned-128": (
        {
            "flowField": {"enabled": False},
            "contour": {"enabled": False},
            "flowFields": {"direction": -1, "rotation": 45, "lineLength": 60, "octaves": 3},
        },
        {"size": 128},
        20,
    ),
    "colours-mirrored-100": (
        {"flowField": {"color1": "#ff2200", "color2": "#0022ff", "direction": -1}},
        {"size": 100, "frames": 40},
        7,
    ),
}

Frame = npt.NDArray[np.uint8]


def golden_frame(name: str) -> Frame:
    settings, options, index = GOLDEN[name]
    return render_frame(Gen1Settings.from_dict(settings), RenderOptions.from_dict(options), index)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_frames(name: str) -> None:
    with Image.open(FIXTURES / f"{name}.png") as image:
        expected = np.asarray(image.convert("RGB")).astype(int)
    difference = np.abs(golden_frame(name).astype(int) - expected)
    # Room for another Pillow, numpy or AGG build to round an edge pixel differently.
    assert difference.mean() < 0.2
    assert np.mean(difference > 2) < 0.005


def steps(frames: list[Frame]) -> list[float]:
    return [float(np.abs(b.astype(int) - a).mean()) for a, b in itertools.pairwise(frames)]


def test_the_loop_seam_is_as_smooth_as_any_step() -> None:
    options = RenderOptions(size=64, frames=20)
    frames = [render_frame(Gen1Settings(), options, index) for index in range(21)]
    assert np.array_equal(frames[20], frames[0])  # frame N is frame 0 again, exactly
    inner = steps(frames[:20])
    seam = steps([frames[19], frames[0]])[0]
    assert min(inner) * 0.8 <= seam <= max(inner) * 1.2


def test_legacy_timing_jumps_at_the_seam() -> None:
    # The original's motion is slow and never wraps: its seam is a visible jump.
    options = RenderOptions(size=64, frames=20, timing="legacy")
    frames = [render_frame(Gen1Settings(), options, index) for index in range(20)]
    assert steps([frames[19], frames[0]])[0] > 5 * max(steps(frames))


@pytest.mark.parametrize("size", [64, 65, 333, 1024])
def test_every_size_renders(size: int) -> None:
    frame = render_frame(Gen1Settings(), RenderOptions(size=size), 5)
    assert frame.shape == (size, size, 3) and frame.dtype == np.uint8


def test_1024_keeps_the_look_of_512() -> None:
    big = render_frame(Gen1Settings(), RenderOptions(size=1024), 9).astype(float)
    small = render_frame(Gen1Settings(), RenderOptions(size=512), 9).astype(float)
    assert np.abs(big.reshape(512, 2, 512, 2, 3).mean(axis=(1, 3)) - small).mean() < 1.5


def test_all_layers_disabled_is_a_black_gif() -> None:
    settings = Gen1Settings.from_dict(
        {layer: {"enabled": False} for layer in ("flowField", "flowFields", "contour")}
    )
    gif = render_gif(settings, RenderOptions(size=64, frames=3))
    assert [frame.any() for frame in decode_pillow(gif)] == [False, False, False]


@pytest.mark.parametrize(
    "flow",
    [
        {"lineDensity": 0.01, "lineLength": 5},
        {"lineDensity": 0.01, "lineLength": 100},
        {"lineDensity": 0.5, "lineLength": 5},
        {"lineDensity": 0.5, "lineLength": 100, "octaves": 8, "baseFrequency": 0.05},
    ],
)
def test_line_density_and_length_at_both_ends(flow: dict[str, float]) -> None:
    settings = Gen1Settings.from_dict({"flowFields": flow})
    options = RenderOptions(size=64, frames=2)
    frames = decode_pillow(render_gif(settings, options))
    assert len(frames) == 2
    rendered = render_frame(settings, options, 1).astype(float)
    assert np.abs(frames[1] - rendered).mean() < 3


def _update() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name in sorted(GOLDEN):
        Image.fromarray(golden_frame(name)).save(FIXTURES / f"{name}.png", optimize=True)
        print(f"wrote {FIXTURES / name}.png")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit(__doc__)
    _update()
