"""One 256-colour palette per artwork, and frames mapped onto it.

The palette is chosen once from a few evenly spaced sample frames, so every frame of a GIF
shares the global colour table and frames can be quantized independently, in any process.
Measured on the default artwork (512 px, 100 frames): median cut refined by one k-means
pass over the samples at half resolution gives ~42.3 dB PSNR for ~0.25 s per artwork; plain
median cut ~41.1 dB (0.06 s), max coverage ~39.6 dB, fast octree ~38 dB (82 colours).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from render.errors import RenderError

__all__ = ["PALETTE_BYTES", "choose_palette", "quantize", "sample_indices"]

PALETTE_SIZE = 256
PALETTE_BYTES = 3 * PALETTE_SIZE
_SAMPLE_STRIDE = 2  # palette statistics from every other pixel: a quarter of the work
_KMEANS_PASSES = 1  # further passes change nothing measurable


def sample_indices(frames: int, count: int = 4) -> list[int]:
    """`count` evenly spaced frame indices out of `frames`, each at the middle of its stretch."""
    count = min(count, frames)
    return [(2 * i + 1) * frames // (2 * count) for i in range(count)]


def choose_palette(frames: Sequence[npt.NDArray[np.uint8]]) -> bytes:
    """The 768-byte palette (256 RGB triples) for an artwork, from its sample frames."""
    if not frames:
        raise RenderError("a palette needs at least one sample frame")
    stacked = np.concatenate(frames, axis=0)[::_SAMPLE_STRIDE, ::_SAMPLE_STRIDE]
    chosen = Image.fromarray(np.ascontiguousarray(stacked)).quantize(
        PALETTE_SIZE,
        method=Image.Quantize.MEDIANCUT,
        kmeans=_KMEANS_PASSES,
        dither=Image.Dither.NONE,
    )
    colours = bytes(chosen.getpalette() or [])[:PALETTE_BYTES]
    # Fewer colours than 256 (a flat frame): pad with black so the table is always full.
    return colours.ljust(PALETTE_BYTES, b"\x00")


def _palette_image(palette: bytes) -> Image.Image:
    if len(palette) != PALETTE_BYTES:
        raise RenderError(f"a palette is {PALETTE_BYTES} bytes, got {len(palette)}")
    image = Image.new("P", (1, 1))
    image.putpalette(palette)
    return image


def quantize(frame: npt.NDArray[np.uint8], palette: bytes) -> npt.NDArray[np.uint8]:
    """The frame's (S, S) palette indices: each pixel's nearest palette colour, no dithering.

    Pillow looks colours up through a cache at 6 bits per channel, so "nearest" is nearest
    to the pixel's 4x4x4 colour cell: fast, and ~1.5 dB short of an exact search.
    """
    indexed = Image.fromarray(frame).quantize(
        palette=_palette_image(palette), dither=Image.Dither.NONE
    )
    indices: npt.NDArray[np.uint8] = np.asarray(indexed, dtype=np.uint8)
    return indices
