"""Inter-frame optimisation: only what changed since the previous frame, the rest transparent.

Frames share one palette, so "unchanged" is exact: the same palette index at the same pixel.
A block then covers the bounding rectangle of the changed pixels (everything outside it is
left as the previous frame drew it, GIF disposal 1), and inside the rectangle unchanged
pixels take the transparent index when enough of them are unchanged. Both steps only ever
drop pixels that would be redrawn identically, so the decoded frames are the same.

Transparency pays only when unchanged pixels are common: it turns them into long runs of one
code, but where they are scattered it breaks the runs of the picture itself. Measured per
frame at 256 px (bench/RESULTS.md), transparent/opaque block size: 0.4-0.7 with 50-97 %
unchanged (slow motion, legacy timing), ~1.0 around 40 %, 1.03-1.29 below 36 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from render import _gifcodec

__all__ = ["Patch", "changed_patch", "full_patch"]

_TRANSPARENCY_PAYS = 0.4  # share of unchanged pixels in the rectangle from which it does

Indices = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Patch:
    """The pixels one image block draws: `indices` placed at (left, top) on the screen."""

    indices: Indices
    left: int = 0
    top: int = 0
    transparent: int | None = None  # the index that leaves a pixel as it was, if any
    # per pixel, a near colour lossy LZW may draw instead (NO_ALTERNATE: none); None: lossless
    alternates: Indices | None = None


def full_patch(indices: Indices, alternates: Indices | None = None) -> Patch:
    """The whole frame, every pixel drawn (the first frame, or no optimisation)."""
    return Patch(indices, alternates=alternates)


def changed_patch(
    previous: Indices, current: Indices, transparent: int, alternates: Indices | None = None
) -> Patch:
    """The rectangle of `current` that differs from `previous`; unchanged pixels transparent
    where that pays. `alternates` (the frame's, if any) are cut to the same rectangle, and a
    transparent pixel has none: "unchanged" is exact.

    "Unchanged" compares nearest colours, not what lossy LZW drew for `previous`, so a block
    depends only on the two frames (any process can encode it) and a pixel left as it was
    shows a colour within the tolerance of its own nearest one.

    An unchanged frame still needs a block (it carries the frame's delay): one transparent
    pixel.
    """
    if previous.shape != current.shape:
        raise ValueError(f"frames differ in shape: {previous.shape} and {current.shape}")
    previous, current = np.ascontiguousarray(previous), np.ascontiguousarray(current)
    width = current.shape[1]
    box = _gifcodec.changes(previous, current, width)
    if box is None:
        return Patch(np.full((1, 1), transparent, dtype=np.uint8), transparent=transparent)
    count, top, bottom, left, right = box
    pixels = current[top:bottom, left:right]
    near = None if alternates is None else alternates[top:bottom, left:right]
    if count > (1 - _TRANSPARENCY_PAYS) * pixels.size:
        return Patch(pixels, left, top, alternates=near)
    patch = np.empty_like(pixels)
    near = None if alternates is None else np.empty_like(pixels)
    whole = None if alternates is None else np.ascontiguousarray(alternates)
    rectangle = (top, bottom, left, right)
    _gifcodec.cut(previous, current, width, rectangle, transparent, patch, whole, near)
    return Patch(patch, left, top, transparent, near)
