"""The GIF writer: a header, one self-contained image block per frame, a trailer.

Laid out like Pillow's GifImagePlugin: the plan (one global palette for the artwork,
`render.palette`; each frame's changed rectangle, `render.delta`) decides what every block
holds; then `gif_header`, one `frame_block` per frame in order, and the trailer. Bytes are
built field by field in `render.gifbytes`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from render import _gifcodec, gifbytes
from render.delta import Patch
from render.errors import RenderError
from render.gifbytes import GIF_TRAILER
from render.palette import PALETTE_BYTES

__all__ = ["GIF_TRAILER", "assemble_gif", "frame_block", "gif_header"]

_CODE_SIZE = 8  # §22 LZW Minimum Code Size: 8 bits for 256-colour indices


def gif_header(size: int, palette: bytes, loop: int = 0) -> bytes:
    """Everything before the first frame: header, screen, the 256-colour table, the loop."""
    if len(palette) != PALETTE_BYTES:
        raise RenderError(f"a palette is {PALETTE_BYTES} bytes, got {len(palette)}")
    return (
        gifbytes.header()
        + gifbytes.logical_screen(size, size, table_bits=8)
        + palette  # §19 Global Color Table: 256 RGB triples
        + gifbytes.netscape_loop(loop)
    )


def _lzw_sub_blocks(patch: Patch) -> bytes:
    """§22 Table Based Image Data after its code size: LZW codes in ≤255-byte sub-blocks.

    render/_gifcodec.c encodes them (a string may go on with a pixel's alternate colour, where
    the patch has alternates); its tests decode the result with Pillow and ffmpeg.
    """
    indices = np.ascontiguousarray(patch.indices, dtype=np.uint8)
    if patch.alternates is None:
        return _gifcodec.lzw(indices)
    return _gifcodec.lzw(indices, np.ascontiguousarray(patch.alternates, dtype=np.uint8))


def frame_block(patch: Patch, delay_ms: int) -> bytes:
    """One image block: control extension, descriptor, LZW data, terminator."""
    if patch.indices.ndim != 2 or 0 in patch.indices.shape:
        raise RenderError(f"frame indices must be a non-empty 2-D array, got {patch.indices.shape}")
    if delay_ms % 10:
        raise RenderError(f"GIF delays are whole centiseconds, got {delay_ms} ms")
    height, width = patch.indices.shape
    return (
        gifbytes.graphic_control(delay_ms // 10, transparent=patch.transparent)
        + gifbytes.image_descriptor(width, height, patch.left, patch.top)
        + bytes([_CODE_SIZE])
        + _lzw_sub_blocks(patch)
        + b"\x00"  # Block Terminator: a zero-length sub-block ends the image data
    )


def assemble_gif(header: bytes, blocks: Iterable[bytes]) -> bytes:
    """The whole GIF: the header, the frame blocks in order, the trailer."""
    return b"".join([header, *blocks, GIF_TRAILER])
