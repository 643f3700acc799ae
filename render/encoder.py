"""RGB frames to GIF image blocks: quantize onto the palette, keep what changed, LZW-encode.

The stages are plain functions (quantize → delta → LZW) so any process can run them for any
frame; a block depends only on its frame and, with inter-frame optimisation, on the frame
before it, which the caller renders again or keeps from the previous step. Defaults are the
measured best (bench/RESULTS.md, default artwork at 512 px): no dithering (Floyd-Steinberg
made the GIF 1.25x larger, 3 dB worse and twice as slow to encode, and its noise defeats
transparency), and inter-frame optimisation on: at the default loop speed nearly every
pixel changes, so blocks stay whole opaque frames (the cost is one compare per frame, and in
the stream one extra render for the frame before), but in slow motion (legacy timing, long
loops) most pixels keep their index and blocks shrink 2-2.5x.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from render.delta import changed_patch, full_patch
from render.errors import RenderError
from render.gif import assemble_gif, frame_block, gif_header
from render.palette import TRANSPARENT, choose_palette, quantize, quantizer_for, sample_indices

__all__ = [
    "DEFAULT_TOLERANCE",
    "Encoding",
    "FrameEncoder",
    "encode_block",
    "encode_frames",
    "encode_gif",
]

# Lossy LZW's colour tolerance, in squared RGB error beyond the nearest colour's (see
# Encoding): chosen from the rate-quality points in bench/RESULTS.md, where it is the smallest
# that puts every preset's GIF under ffmpeg's at a better PSNR.
DEFAULT_TOLERANCE = 25

Frame = npt.NDArray[np.uint8]  # (S, S, 3) RGB
Indices = npt.NDArray[np.uint8]  # (S, S) palette indices


@dataclass(frozen=True)
class Encoding:
    """How frames become image blocks.

    Args:
        dither: Floyd-Steinberg error diffusion when quantizing (off: nearest colour).
        optimise: each block after the first covers only the rectangle that changed since
            the previous frame, its unchanged pixels transparent (off: every block a full
            frame, independent of the previous one).
        tolerance: lossy LZW. A pixel may be drawn in its second-nearest palette colour,
            where that continues an LZW string, if that colour's squared RGB error is at most
            `tolerance` more than the nearest's; 0 draws every pixel in its nearest colour.
            Not with dithering (its noise is the point).
    """

    dither: bool = False
    optimise: bool = True
    tolerance: int = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        if self.tolerance < 0:
            raise RenderError(f"tolerance is 0 or more, got {self.tolerance}")


class FrameEncoder:
    """Encodes consecutive frames into blocks, keeping each frame's indices for the next delta.

    `previous` is the frame before the first one to encode (None: the first is drawn whole).
    """

    def __init__(
        self,
        palette: bytes,
        delay_ms: int,
        encoding: Encoding,
        previous: Frame | None = None,
    ) -> None:
        self._palette = palette
        self._quantizer = quantizer_for(palette, 0 if encoding.dither else encoding.tolerance)
        self._delay_ms = delay_ms
        self._encoding = encoding
        self._before: Indices | None = None
        if previous is not None and encoding.optimise:
            self._before = self._quantize(previous)[0]

    def _quantize(self, frame: Frame) -> tuple[Indices, Indices | None]:
        if self._encoding.dither:
            return quantize(frame, self._palette, dither=True), None
        return self._quantizer.with_alternates(frame)

    def encode(self, frame: Frame) -> bytes:
        """The next frame's image block."""
        indices, alternates = self._quantize(frame)
        if self._before is None:
            patch = full_patch(indices, alternates)
        else:
            patch = changed_patch(self._before, indices, TRANSPARENT, alternates)
        if self._encoding.optimise:
            self._before = indices
        return frame_block(patch, self._delay_ms)


def encode_block(
    frame: Frame, previous: Frame | None, palette: bytes, delay_ms: int, encoding: Encoding
) -> bytes:
    """The image block of `frame`, drawn over `previous` (None for the first frame)."""
    return FrameEncoder(palette, delay_ms, encoding, previous).encode(frame)


def encode_frames(
    frames: Sequence[Frame],
    previous: Frame | None,
    palette: bytes,
    delay_ms: int,
    encoding: Encoding,
) -> list[bytes]:
    """The blocks of consecutive `frames`, the first drawn over `previous` (None: none).

    Each frame is quantized once; the bytes equal `encode_block` frame by frame.
    """
    encoder = FrameEncoder(palette, delay_ms, encoding, previous)
    return [encoder.encode(frame) for frame in frames]


def encode_gif(
    frames: Sequence[Frame],
    delay_ms: int = 30,
    *,
    encoding: Encoding = Encoding(),
    threads: int | None = None,
    loop: int = 0,
) -> bytes:
    """A looping GIF of any square RGB frames (the library door the benchmarks use).

    Args:
        frames: (S, S, 3) uint8 arrays, in order.
        delay_ms: per frame, a multiple of 10.
        encoding: dithering, inter-frame optimisation and the colour tolerance.
        threads: runs of consecutive frames are encoded in this many threads (the quantizer
            and LZW release the GIL, and the frames are not copied); None: one per CPU this
            process may use. The bytes are the same for any value.
        loop: repeat count, 0 = forever.
    """
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    palette = choose_palette([frames[index] for index in sample_indices(len(frames))])
    header = gif_header(frames[0].shape[0], palette, loop)
    threads = min(len(frames), threads or len(os.sched_getaffinity(0)))
    if threads <= 1:
        return assemble_gif(header, encode_frames(frames, None, palette, delay_ms, encoding))
    step = math.ceil(len(frames) / threads)
    starts = range(0, len(frames), step)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        runs = pool.map(
            lambda start: encode_frames(
                frames[start : start + step],
                frames[start - 1] if start else None,
                palette,
                delay_ms,
                encoding,
            ),
            starts,
        )
        return assemble_gif(header, [block for run in runs for block in run])
