"""One palette per artwork, and frames mapped onto it.

The palette is chosen once from a few evenly spaced sample frames, so every frame of a GIF
shares the global colour table and frames can be quantized independently, in any process.
It holds 255 colours (`render.mediancut`: median cut by error, one Lloyd pass); index 255
is kept free for the transparent pixels of inter-frame optimisation.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from render import _gifcodec
from render.errors import RenderError
from render.mediancut import median_cut_samples, sample_pixels

__all__ = [
    "COLOURS",
    "NO_ALTERNATE",
    "PALETTE_BYTES",
    "TRANSPARENT",
    "Quantizer",
    "choose_palette",
    "palette_of_samples",
    "palette_rgb",
    "quantize",
    "quantizer_for",
    "sample_indices",
    "sample_pixels",
]

PALETTE_SIZE = 256
PALETTE_BYTES = 3 * PALETTE_SIZE
COLOURS = 255  # colours a frame may use: indices 0-254
TRANSPARENT = 255  # the index kept for "unchanged since the previous frame"
_CELLS = 1 << 21  # the colour table: 7 bits per channel
_EMPTY = 0xFFFF  # a table cell not looked up yet
NO_ALTERNATE = 255  # an alternate of "none" (never a colour: colours are 0-254)


def sample_indices(frames: int, count: int = 4) -> list[int]:
    """`count` evenly spaced frame indices out of `frames`, each at the middle of its stretch."""
    count = min(count, frames)
    return [(2 * i + 1) * frames // (2 * count) for i in range(count)]


def choose_palette(frames: Sequence[npt.NDArray[np.uint8]]) -> bytes:
    """The 768-byte palette (256 RGB triples, the last one unused) from sample frames."""
    if not frames:
        raise RenderError("a palette needs at least one sample frame")
    return palette_of_samples([sample_pixels(frames)])


def palette_of_samples(samples: Sequence[npt.NDArray[np.uint8]]) -> bytes:
    """`choose_palette` of the sample frames whose `sample_pixels` are `samples`, in order (a
    share of the frames each, sampled where they were rendered)."""
    if not samples or not any(len(pixels) for pixels in samples):
        raise RenderError("a palette needs at least one sample frame")
    colours = median_cut_samples(samples, COLOURS).tobytes()
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


class Quantizer:
    """Maps frames onto one palette: each pixel to the palette colour nearest its 7-bit cell.

    Colours are looked up at 7 bits per channel (cells 2 levels wide) in a table filled as
    cells first appear, by an exact search from the cell's centre (render/_gifcodec.c); so
    consecutive frames, which share most colours, cost a lookup each. Measured on the default
    artwork at 512 px: 44.2 dB, against 42.3 dB for Pillow's own mapping (a 6-bit cache, cells
    4 levels wide). Every table entry is a pure function of its cell, so the indices do not
    depend on which frames came before.

    With a `tolerance` > 0 the table also keeps each cell's second-nearest colour when it is
    at most `tolerance` further (in squared RGB error) than the nearest: the alternates that
    lossy LZW may use where they continue a string (`with_alternates`, render/gif.py).
    """

    def __init__(self, palette: bytes, tolerance: int = 0) -> None:
        if len(palette) != PALETTE_BYTES:
            raise RenderError(f"a palette is {PALETTE_BYTES} bytes, got {len(palette)}")
        if tolerance < 0:
            raise RenderError(f"a colour tolerance is 0 or more, got {tolerance}")
        self._palette = palette
        self.tolerance = tolerance
        self._table = np.full(_CELLS, _EMPTY, dtype=np.uint16)

    def __call__(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """The frame's (H, W) palette indices, all below TRANSPARENT."""
        indices = np.empty(frame.shape[:2], dtype=np.uint8)
        _gifcodec.quantize(self._pixels(frame), self._table, self._palette, indices)
        return indices

    def with_alternates(
        self, frame: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8] | None]:
        """The frame's indices and each pixel's alternate colour (NO_ALTERNATE where it has
        none); no alternates at all with a tolerance of 0."""
        if not self.tolerance:
            return self(frame), None
        indices = np.empty(frame.shape[:2], dtype=np.uint8)
        alternates = np.empty(frame.shape[:2], dtype=np.uint8)
        _gifcodec.quantize(
            self._pixels(frame), self._table, self._palette, indices, alternates, self.tolerance
        )
        return indices, alternates

    @staticmethod
    def _pixels(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise RenderError(
                f"a frame is an (H, W, 3) uint8 array, got {frame.shape} {frame.dtype}"
            )
        return np.ascontiguousarray(frame)


def quantize(
    frame: npt.NDArray[np.uint8], palette: bytes, *, dither: bool = False
) -> npt.NDArray[np.uint8]:
    """The frame's (H, W) palette indices, all below TRANSPARENT.

    Without dithering, each pixel's nearest palette colour (`Quantizer`; keep one for many
    frames); with it, Pillow's Floyd-Steinberg error diffusion.
    """
    if not dither:
        return Quantizer(palette)(frame)
    indexed = Image.fromarray(frame).quantize(
        palette=_palette_image(palette), dither=Image.Dither.FLOYDSTEINBERG
    )
    indices: npt.NDArray[np.uint8] = np.asarray(indexed, dtype=np.uint8)
    return indices


@functools.lru_cache(maxsize=8)
def quantizer_for(palette: bytes, tolerance: int = 0) -> Quantizer:
    """A Quantizer kept per palette and tolerance in this process (4 MiB each), so a render
    worker that encodes many frames of one artwork fills its colour table once, not once per
    frame. Safe to share, between threads too: every table entry is a pure function of its
    cell, so two threads filling one cell write the same value."""
    return Quantizer(palette, tolerance)
