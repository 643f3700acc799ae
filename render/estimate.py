"""How large a job's GIF will be, before it is rendered: a bound and a sampled estimate.

A GIF's size depends on the art far more than on its size and frame count: over 25 random
settings at 256 px it ranged from 0.04 to 1.18 bytes per pixel per frame. So two figures:

- `gif_size_bound`: a hard upper bound from size and frames alone. LZW codes are at most
  12 bits and each stands for at least one pixel, so a frame's image data cannot exceed
  1.5 bytes a pixel (plus the block framing). A job under the bound needs no estimate.
- `estimate_gif_bytes`: renders four frames at the job's own size (a palette from two of them,
  then one frame encoded against its predecessor at each), and scales the mean encoded frame
  to the job's frame count. Measured on random settings (`bench/gif_size.py`) it lands 0-31 %
  above the real size; rendering at a reduced size instead was off by 0.4-2.3x, as fine
  detail compresses differently at each scale.
"""

from __future__ import annotations

import math

from render.art import render_frame
from render.encoder import FrameEncoder
from render.job import default_encoding
from render.palette import choose_palette
from render.settings import Gen1Settings, RenderOptions

__all__ = ["estimate_gif_bytes", "gif_size_bound"]

_RUN = 2  # consecutive frames encoded at each sampled point (the first one is the reference)
_HEADER = 13 + 768 + 19  # screen descriptor, a full colour table, the loop extension
_FRAME_OVERHEAD = 8 + 10 + 1 + 1  # control extension, image descriptor, code size, terminator
_MAX_BYTES_PER_PIXEL = 1.5  # 12-bit codes, each at least one pixel


def gif_size_bound(options: RenderOptions) -> int:
    """The most bytes a GIF of ``options.frames`` frames of ``options.size``² can take."""
    pixels = options.size * options.size
    data = math.ceil(pixels * _MAX_BYTES_PER_PIXEL)
    sub_blocks = math.ceil(data / 255)  # a length byte before every 255 bytes of data
    return _HEADER + 1 + options.frames * (_FRAME_OVERHEAD + data + sub_blocks)


def estimate_gif_bytes(settings: Gen1Settings, options: RenderOptions) -> int:
    """The job's GIF size, from four frames rendered (the cost of four of the job's frames)."""
    starts = sorted({0, options.frames // 2} if options.frames > _RUN else {0})
    runs = [
        [
            render_frame(settings, options, i)
            for i in range(start, min(start + _RUN, options.frames))
        ]
        for start in starts
    ]
    palette = choose_palette([run[0] for run in runs])
    sizes: list[int] = []
    for run in runs:
        encoder = FrameEncoder(palette, options.delay_ms, default_encoding(options), None)
        blocks = [encoder.encode(frame) for frame in run]
        # the first block of a run is whole; the others are as the job encodes them
        sizes.extend(len(block) for block in blocks[1:] or blocks)
    per_frame = sum(sizes) / len(sizes)
    return round(_HEADER + 1 + per_frame * options.frames)
