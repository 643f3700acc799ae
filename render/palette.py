"""One palette per artwork, and frames mapped onto it.

The palette is chosen once from a few evenly spaced sample frames, so every frame of a GIF
shares the global colour table and frames can be quantized independently, in any process.
It holds 255 colours; index 255 is kept free for the transparent pixels of inter-frame
optimisation. Measured on the default artwork (512 px, 100 frames, `bench/RESULTS.md`):
median cut refined by one k-means pass over ~65k sample pixels gives 42.3 dB for ~0.1 s;
over 4x the pixels, 42.2 dB for 0.2 s; plain median cut 41.1 dB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from render.errors import RenderError

__all__ = [
    "COLOURS",
    "PALETTE_BYTES",
    "TRANSPARENT",
    "choose_palette",
    "palette_rgb",
    "quantize",
    "sample_indices",
]

PALETTE_SIZE = 256
PALETTE_BYTES = 3 * PALETTE_SIZE
COLOURS = 255  # colours a frame may use: indices 0-254
TRANSPARENT = 255  # the index kept for "unchanged since the previous frame"
_SAMPLE_PIXELS = 1 << 16  # pixels the palette statistics look at, whatever the size
_KMEANS_PASSES = 1  # further passes change nothing measurable


def sample_indices(frames: int, count: int = 4) -> list[int]:
    """`count` evenly spaced frame indices out of `frames`, each at the middle of its stretch."""
    count = min(count, frames)
    return [(2 * i + 1) * frames // (2 * count) for i in range(count)]


def choose_palette(frames: Sequence[npt.NDArray[np.uint8]]) -> bytes:
    """The 768-byte palette (256 RGB triples, the last one unused) from sample frames."""
    if not frames:
        raise RenderError("a palette needs at least one sample frame")
    stacked = np.concatenate(frames, axis=0)
    stride = max(1, math.isqrt(stacked.shape[0] * stacked.shape[1] // _SAMPLE_PIXELS))
    sampled = np.ascontiguousarray(stacked[::stride, ::stride])
    chosen = Image.fromarray(sampled).quantize(
        COLOURS,
        method=Image.Quantize.MEDIANCUT,
        kmeans=_KMEANS_PASSES,
        dither=Image.Dither.NONE,
    )
    colours = bytes(chosen.getpalette() or [])[: 3 * COLOURS]
    # Fewer colours (a flat frame): repeat the last one, so no index maps to a stray black.
    if len(colours) < 3 * COLOURS:
        colours += colours[-3:] * (COLOURS - len(colours) // 3)
    return colours + b"\x00\x00\x00"  # the transparent index's entry: never shown


def palette_rgb(palette: bytes) -> npt.NDArray[np.uint8]:
    """The palette as a (256, 3) array, for looking indices up."""
    if len(palette) != PALETTE_BYTES:
        raise RenderError(f"a palette is {PALETTE_BYTES} bytes, got {len(palette)}")
    return np.frombuffer(palette, dtype=np.uint8).reshape(PALETTE_SIZE, 3)


def _palette_image(palette: bytes) -> Image.Image:
    if len(palette) != PALETTE_BYTES:
        raise RenderError(f"a palette is {PALETTE_BYTES} bytes, got {len(palette)}")
    image = Image.new("P", (1, 1))
    image.putpalette(palette[: 3 * COLOURS])  # 255 entries: TRANSPARENT is never chosen
    return image


def quantize(
    frame: npt.NDArray[np.uint8], palette: bytes, *, dither: bool = False
) -> npt.NDArray[np.uint8]:
    """The frame's (H, W) palette indices, all below TRANSPARENT.

    Without dithering each pixel takes the nearest palette colour (Pillow looks colours up
    through a cache at 6 bits per channel, ~2 dB short of an exact search but 20x faster);
    with it, Floyd-Steinberg error diffusion.
    """
    indexed = Image.fromarray(frame).quantize(
        palette=_palette_image(palette),
        dither=Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE,
    )
    indices: npt.NDArray[np.uint8] = np.asarray(indexed, dtype=np.uint8)
    return indices
