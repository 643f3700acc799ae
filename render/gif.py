"""The GIF writer: a header, one self-contained image block per frame, a trailer.

Every frame uses the artwork's one global palette, so each block depends only on its own
frame: blocks can be encoded in any order, in any process, and joined by index.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from PIL import Image

from render import gifbytes
from render.errors import RenderError
from render.gifbytes import GIF_TRAILER
from render.palette import PALETTE_BYTES, quantize

__all__ = ["GIF_TRAILER", "assemble_gif", "encode_frame", "frame_block", "gif_header"]

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


def _lzw_sub_blocks(indices: npt.NDArray[np.uint8]) -> bytes:
    """§22 Table Based Image Data after its code size: LZW codes in ≤255-byte sub-blocks.

    Pillow's C GIF encoder produces exactly this (GifImagePlugin writes the code size before
    it and the terminator after it); `tobytes` with the "gif" encoder is its public door.
    Arguments after the encoder name: raw mode, bits per code, interlace (off).
    """
    image = Image.fromarray(np.ascontiguousarray(indices, dtype=np.uint8))  # mode "L"
    return image.tobytes("gif", "L", _CODE_SIZE, 0)


def frame_block(indices: npt.NDArray[np.uint8], delay_ms: int) -> bytes:
    """One full-frame image block: control extension, descriptor, LZW data, terminator."""
    if indices.ndim != 2 or indices.shape[0] != indices.shape[1]:
        raise RenderError(f"frame indices must be a square 2-D array, got {indices.shape}")
    if delay_ms % 10:
        raise RenderError(f"GIF delays are whole centiseconds, got {delay_ms} ms")
    height, width = indices.shape
    return (
        gifbytes.graphic_control(delay_ms // 10)
        + gifbytes.image_descriptor(width, height)
        + bytes([_CODE_SIZE])
        + _lzw_sub_blocks(indices)
        + b"\x00"  # Block Terminator: a zero-length sub-block ends the image data
    )


def encode_frame(frame: npt.NDArray[np.uint8], palette: bytes, delay_ms: int) -> bytes:
    """An RGB frame's image block: quantized onto `palette`, then `frame_block`."""
    return frame_block(quantize(frame, palette), delay_ms)


def assemble_gif(header: bytes, blocks: Iterable[bytes]) -> bytes:
    """The whole GIF: the header, the frame blocks in order, the trailer."""
    return b"".join([header, *blocks, GIF_TRAILER])
