"""The palette's median cut in C (render/_mediancut.c) picks the colours its numpy formulation
(mediancut_reference.py) picks: on the presets' sample frames, on pixel sets built to hit
ties and corners, and on random ones; and refuses what it cannot cut."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from render import Gen1Settings, RenderOptions, render_frame
from render.mediancut import median_cut_samples, sample_pixels
from render.palette import COLOURS, sample_indices

from . import mediancut_reference as reference

Pixels = npt.NDArray[np.uint8]

PRESETS: dict[str, dict[str, object]] = {
    "default": {},
    "dense lines": {"flowFields": {"lineDensity": 0.25, "lineLength": 35}},
    "contours": {
        "flowField": {"color1": "#f97316", "color2": "#7c3aed"},
        "contour": {"enabled": True, "levels": 8},
    },
}


def samples_of(preset: str, size: int) -> Pixels:
    settings = Gen1Settings.from_dict(PRESETS[preset])
    options = RenderOptions(size=size)
    return sample_pixels([render_frame(settings, options, i) for i in sample_indices(100)])


def assert_same_colours(pixels: list[Pixels], colours: int) -> None:
    expected = reference.median_cut_samples(pixels, colours)
    got = median_cut_samples(pixels, colours)
    assert got.dtype == np.uint8 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("size", [96, 512])
@pytest.mark.parametrize("preset", list(PRESETS))
def test_the_presets_get_the_reference_palette(preset: str, size: int) -> None:
    pixels = samples_of(preset, size)
    assert_same_colours([pixels], COLOURS)
    assert len(median_cut_samples([pixels], COLOURS)) == COLOURS  # Gen1 art has plenty of cells


def test_samples_in_shares_give_the_palette_of_the_whole() -> None:
    pixels = samples_of("default", 128)
    half = len(pixels) // 3
    shares = [pixels[:half], pixels[half:]]
    np.testing.assert_array_equal(
        median_cut_samples(shares, COLOURS), median_cut_samples([pixels], COLOURS)
    )


RNG = np.random.default_rng(23)
CORNERS: dict[str, Pixels] = {
    "one pixel": np.array([[200, 10, 77]], dtype=np.uint8),
    "one colour": np.full((500, 3), 128, dtype=np.uint8),
    # two levels of one cell: a box of one cell has error but cannot be cut
    "one cell, two levels": np.array([[10, 10, 10], [11, 11, 11]] * 50, dtype=np.uint8),
    "fewer cells than colours": np.repeat(RNG.integers(0, 256, (7, 3), dtype=np.uint8), 30, axis=0),
    # a grey ramp: every channel's error equal (ties between channels and between boxes)
    "grey ramp": np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(256, 3),
    # a lattice: many boxes of equal error, cuts of equal score
    "lattice": np.array(
        [(r, g, b) for r in range(0, 256, 32) for g in range(0, 256, 32) for b in (0, 64, 128)],
        dtype=np.uint8,
    ),
    # three evenly spaced cells in a row: both cuts leave the same error (the first is taken)
    "three in a row": np.array([[0, 0, 0], [64, 0, 0], [128, 0, 0]] * 10, dtype=np.uint8),
    "extremes": np.array([[0, 0, 0], [255, 255, 255], [0, 255, 0], [255, 0, 255]] * 9, np.uint8),
    "noise": RNG.integers(0, 256, (20000, 3), dtype=np.uint8),
    "narrow noise": RNG.integers(96, 104, (3000, 3), dtype=np.uint8),
}


@pytest.mark.parametrize("colours", [1, 2, 3, 16, COLOURS, 256])
@pytest.mark.parametrize("name", list(CORNERS))
def test_corners_get_the_reference_palette(name: str, colours: int) -> None:
    assert_same_colours([CORNERS[name]], colours)


def test_random_pixel_sets_get_the_reference_palette() -> None:
    rng = np.random.default_rng(5)
    for _ in range(60):
        count = int(rng.integers(1, 6000))
        centre = rng.integers(0, 256, 3)
        spread = int(rng.integers(1, 120))
        pixels = rng.normal(centre, spread, (count, 3)).clip(0, 255).astype(np.uint8)
        assert_same_colours([pixels], int(rng.integers(1, 257)))


def test_fewer_cells_than_colours_gives_each_cell_its_mean() -> None:
    cells = np.array([[0, 0, 0], [100, 50, 200], [255, 255, 255]], dtype=np.uint8)
    got = median_cut_samples([np.repeat(cells, 4, axis=0)], COLOURS)
    assert sorted(map(tuple, got)) == sorted(map(tuple, cells))


@pytest.mark.parametrize(
    ("pixels", "colours", "reason"),
    [
        (b"", 255, "at least one"),
        (b"\x01\x02", 255, "r, g, b bytes"),
        (b"\x01\x02\x03", 0, "1 to 256 colours"),
        (b"\x01\x02\x03", 257, "1 to 256 colours"),
    ],
)
def test_what_cannot_be_cut_is_refused(pixels: bytes, colours: int, reason: str) -> None:
    from render import _mediancut

    with pytest.raises(ValueError, match=reason):
        _mediancut.median_cut(pixels, colours)
