"""Types of the GIF codec's C inner loops (render/_gifcodec.c)."""

from typing import Any, TypeAlias

import numpy as np

# what the C functions read through the buffer protocol (C-contiguous)
Buffer: TypeAlias = bytes | bytearray | memoryview | np.ndarray[Any, Any]

def quantize(
    frame: Buffer,
    table: Buffer,
    palette: Buffer,
    out: Buffer,
    alternates: Buffer | None = None,
    tolerance: int = 0,
) -> None:
    """Each pixel's nearest palette index into `out` (and its alternate into `alternates`),
    through the 7-bit colour table, filling cells that hold 0xFFFF."""

def lzw(indices: Buffer, alternates: Buffer | None = None) -> bytes:
    """GIF LZW image data (minimum code size 8) in sub-blocks, without the code size and the
    terminator; a string may go on with a pixel's alternate colour."""

def changes(before: Buffer, after: Buffer, width: int) -> tuple[int, int, int, int, int] | None:
    """How many pixels differ between two frames and the rectangle holding them: (count, top,
    bottom, left, right), bottom and right exclusive; None if none differs."""

def cut(
    before: Buffer,
    after: Buffer,
    width: int,
    box: tuple[int, int, int, int],
    transparent: int,
    out: Buffer,
    alternates: Buffer | None = None,
    near: Buffer | None = None,
) -> None:
    """The rectangle (top, bottom, left, right) of `after` into `out`, pixels equal in
    `before` as `transparent`; with `alternates`, the rectangle's alternates into `near`
    (NO_ALTERNATE where equal)."""
