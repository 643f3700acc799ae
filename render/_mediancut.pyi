"""Types of the palette's median cut in C (render/_mediancut.c)."""

from typing import Any, TypeAlias

import numpy as np

# what the C function reads through the buffer protocol (C-contiguous)
Buffer: TypeAlias = bytes | bytearray | memoryview | np.ndarray[Any, Any]

def median_cut(pixels: Buffer, colours: int, /) -> bytes:
    """Up to `colours` r, g, b triples for the pixels (r, g, b bytes), fewer if they fall in
    fewer 7-bit cells."""
