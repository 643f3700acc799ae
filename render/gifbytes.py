"""GIF89a byte helpers: each block built field by field, commented against the GIF89a spec.

Section numbers refer to "Graphics Interchange Format, Version 89a" (CompuServe, 1990).
All multi-byte numbers in a GIF are unsigned 16-bit little-endian.
"""

from __future__ import annotations

import struct

__all__ = [
    "DISPOSE_NONE",
    "DISPOSE_NOT",
    "GIF_TRAILER",
    "graphic_control",
    "header",
    "image_descriptor",
    "logical_screen",
    "netscape_loop",
]

GIF_TRAILER = b"\x3b"  # §27 Trailer: ';' ends the data stream
DISPOSE_NONE = 0  # §23 disposal 0: no disposal specified
DISPOSE_NOT = 1  # §23 disposal 1: do not dispose, the next frame draws over this one


def _u16(value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{value} does not fit a GIF unsigned 16-bit field")
    return struct.pack("<H", value)


def header() -> bytes:
    """§17 Header: signature "GIF" and version "89a" (needed for the extensions below)."""
    return b"GIF89a"


def logical_screen(width: int, height: int, table_bits: int) -> bytes:
    """§18 Logical Screen Descriptor announcing a global colour table of 2**table_bits entries."""
    packed = (
        0x80  # bit 7: Global Color Table Flag, a global table follows
        | (table_bits - 1) << 4  # bits 6-4: Color Resolution, bits per primary colour - 1
        | 0 << 3  # bit 3: Sort Flag, table not sorted by importance
        | (table_bits - 1)  # bits 2-0: Size of Global Color Table, 2**(N+1) entries
    )
    return (
        _u16(width)  # Logical Screen Width
        + _u16(height)  # Logical Screen Height
        + bytes([packed])
        + b"\x00"  # Background Color Index: unused, the first frame covers the whole screen
        + b"\x00"  # Pixel Aspect Ratio: 0, no aspect information (square pixels)
    )


def netscape_loop(loop: int) -> bytes:
    """NETSCAPE2.0 Application Extension (§26 layout): repeat `loop` times, 0 = forever."""
    return (
        b"\x21"  # Extension Introducer
        + b"\xff"  # Application Extension Label
        + b"\x0b"  # Block Size: 11 bytes of identifier and authentication code
        + b"NETSCAPE2.0"  # Application Identifier (8) + Authentication Code (3)
        + b"\x03"  # sub-block of 3 bytes
        + b"\x01"  # sub-block id 1: loop count follows
        + _u16(loop)  # loop count, 0 = loop forever
        + b"\x00"  # Block Terminator
    )


def graphic_control(
    delay_cs: int, disposal: int = DISPOSE_NOT, transparent: int | None = None
) -> bytes:
    """§23 Graphic Control Extension: delay, disposal and the transparent index, if any."""
    packed = (
        0 << 5  # bits 7-5: reserved
        | disposal << 2  # bits 4-2: Disposal Method
        | 0 << 1  # bit 1: User Input Flag, do not wait for input
        | int(transparent is not None)  # bit 0: Transparent Color Flag
    )
    return (
        b"\x21"  # Extension Introducer
        + b"\xf9"  # Graphic Control Label
        + b"\x04"  # Block Size: 4 bytes follow
        + bytes([packed])
        + _u16(delay_cs)  # Delay Time in hundredths of a second
        + bytes([transparent or 0])  # Transparent Color Index: pixels of it are left as they are
        + b"\x00"  # Block Terminator
    )


def image_descriptor(width: int, height: int, left: int = 0, top: int = 0) -> bytes:
    """§20 Image Descriptor for a `width` x `height` image at (left, top), global colours."""
    packed = (
        0 << 7  # bit 7: Local Color Table Flag, use the global table
        | 0 << 6  # bit 6: Interlace Flag, rows in order
        | 0 << 5  # bit 5: Sort Flag (no local table)
        | 0  # bits 2-0: Size of Local Color Table (no local table)
    )
    return (
        b"\x2c"  # Image Separator ','
        + _u16(left)  # Image Left Position, in the logical screen
        + _u16(top)  # Image Top Position
        + _u16(width)  # Image Width
        + _u16(height)  # Image Height
        + bytes([packed])
    )
