"""Chromium's 1 px canvas lines: Skia's anti-aliased hairlines, blended as its CPU blitters do.

Holders saw the art drawn by their browser's canvas, mostly Chromium on Skia's CPU raster
backend. A stroke no wider than 1 device pixel is not stroked as a polygon there: Skia draws
it as a hairline (`SkDrawTreatAsHairline`; a width w < 1 scales the paint's alpha by
`int(w·256)/256`). `SkScan_Antihair.cpp` (`do_anti_hairline`) walks the major axis one pixel
at a time in 16.16 fixed point and splits 255 levels of coverage between the two pixels
nearest the line on the minor axis, so every step along the major axis gets the same ink: a
diagonal gets 1/√2 of an exact-area stroke's ink per unit length. Transcribed here, vectorised:

- endpoints as float32 (`SkPoint`), truncated to 26.6 fixed point (`SkScalarToFDot6`);
- a line whose outset bounds leave the canvas is first chopped to the canvas outset by one
  pixel (`SkLineClipper::IntersectLine`), then its major-axis span clipped to the canvas
  (start column full, end cap dropped), as `AntiHairLineRgn` and `do_anti_hairline` do;
- major axis x when |dx| > |dy| (so a 45° line is "vertical"), drawn left-to-right or
  top-to-bottom; slope = (dy << 16) / dx truncated; the minor coordinate starts at the first
  pixel centre, `fstart = y0 << 10 + (slope·(32 - (x0 & 63)) + 32) >> 6`, and adds the
  slope per step;
- at each step, with fy = that coordinate + ½: pixel floor(fy) gets a = the top 8 bits of
  fy's fraction, the pixel before it 255 - a; the first and last steps are scaled by the
  covered fraction of their pixel, (coverage·frac64) >> 6.

Blending follows the legacy `SkARGB32_Blitter` that Chromium's Skia uses for a solid colour
(measured against Debian's chromium 156: the same 8-bit results on every pixel and background
level tried). Sloped lines blend their pixel pairs with `SkBlendARGB32` (src scale c + 1, dst
scale `SkAlphaMulInv256`); axis-aligned lines, and lines still clipped after the minor-axis
test (their extent, outset by 1, leaves the clip: `SkRectClipBlitter` turns the pairs into
`blitAntiH` runs), blend with `SkAlphaMulQ(colour, c + 1)` then source-over; an opaque
colour's pairs use the opaque blitter's `SkFastFourByteInterp` (scale c + (c >> 7)). Every
stroke is blended in 8 bits onto the result of the ones before it, in order, as canvas does.
All of it is integer arithmetic on float32 inputs: the output is a pure function of them.

Sources (google/skia, src/core): SkScan_Antihair.cpp (do_anti_hairline, AntiHairLineRgn),
SkScan_Hairline.cpp (hair_path), SkLineClipper.cpp, SkDraw.cpp (SkDrawTreatAsHairline),
SkBlitter.h (the default blitAntiH2/V2), SkBlitter_ARGB32.cpp and SkColorPriv.h (the blends).
tests/browser/test_raster_browser.py holds the art's lines to Chromium's, bit for bit.
"""

from __future__ import annotations

import itertools
import sys
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = ["draw_hairlines", "hairline_alpha", "hairline_fragments"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
Pixels = npt.NDArray[np.uint8]

_NEARLY_ZERO = np.float32(1 / 4096)  # SK_ScalarNearlyZero
_MAX_SPAN = 511 * 64  # do_anti_hairline halves a line longer than 511 px on either axis
_HALF = 1 << 15  # ½ in 16.16
_LITTLE = sys.byteorder == "little"  # an int32's low half is its first uint16
_BATCH = 1 << 18  # steps along the major axis per batch of strokes: a few MB per array


def hairline_alpha(alpha: float, width: float) -> int:
    """The 8-bit paint alpha Skia draws a `width` px stroke's hairline with (width ≤ 1).

    Canvas rounds the colour's alpha to 8 bits; a width below 1 scales it as
    `alpha·int(width·256) >> 8` (SkDraw's "coverage as alpha").
    """
    alpha8 = round(alpha * 255)
    if width >= 1:
        return alpha8
    return (alpha8 * int(width * 256)) >> 8


def hairline_fragments(
    starts: FloatArray, ends: FloatArray, width: int, height: int
) -> tuple[IntArray, IntArray, BoolArray]:
    """Every pixel Skia's anti-aliased hairlines touch on a `width` x `height` canvas.

    Returns (flat pixel index y·width + x, coverage 1-255, plain) per fragment, in drawing
    order: the strokes' order, each stroke's pixels distinct. "Plain" fragments are blended
    through `blitAntiH`/`blitV` (axis-aligned or clipped lines), the others pairwise.
    """
    pixel, key = _fragments(starts, ends, width, height)
    return pixel.astype(np.int64), (key >> 8) & 0xFF, key >= 65536


def _fragments(starts: FloatArray, ends: FloatArray, width: int, height: int) -> tuple[I32, I32]:
    """(flat pixel index, blend key plain·65536 + coverage·256) per fragment, in order."""
    x0, y0, x1, y1 = (np.asarray(v, dtype=np.float32) for v in (*starts.T, *ends.T))
    finite = np.isfinite(x0) & np.isfinite(y0) & np.isfinite(x1) & np.isfinite(y1)
    x0, y0, x1, y1 = x0[finite], y0[finite], x1[finite], y1[finite]

    # hair_path: the path's integer bounds outset by 1 decide whether clipping is needed.
    left = np.floor(np.minimum(x0, x1)) - 1
    top = np.floor(np.minimum(y0, y1)) - 1
    right = np.ceil(np.maximum(x0, x1)) + 1
    bottom = np.ceil(np.maximum(y0, y1)) + 1
    seen = (left < width) & (right > 0) & (top < height) & (bottom > 0)
    inside = (left >= 0) & (top >= 0) & (right <= width) & (bottom <= height)
    keep, x0, y0, x1, y1 = _intersect_line(
        x0, y0, x1, y1, np.float32(width + 1), np.float32(height + 1), chop=seen & ~inside
    )
    keep &= seen
    fx0, fy0, fx1, fy1 = (_fdot6(v[keep]) for v in (x0, y0, x1, y1))
    clipped = ~inside[keep]
    # AntiHairLineRgn: the fixed-point bounds outset by 1 again; inside the canvas, no clip,
    # else the clip is the canvas's part of them (SkRegion::Cliperator).
    rects = np.stack(
        [
            (np.minimum(fx0, fx1) >> 6) - 1,
            (np.minimum(fy0, fy1) >> 6) - 1,
            ((np.maximum(fx0, fx1) + 63) >> 6) + 1,
            ((np.maximum(fy0, fy1) + 63) >> 6) + 1,
        ],
        axis=1,
    )
    whole = np.array([0, 0, width, height])
    clipped &= ~((rects[:, :2] >= 0).all(axis=1) & (rects[:, 2:] <= whole[2:]).all(axis=1))
    clip = np.concatenate([np.maximum(rects[:, :2], 0), np.minimum(rects[:, 2:], whole[2:])], 1)
    shown = (clip[:, 0] < clip[:, 2]) & (clip[:, 1] < clip[:, 3])
    clip[~clipped] = whole
    lines = np.stack([fx0, fy0, fx1, fy1], axis=1)[shown]
    lines, clip, clipped = _split_long(lines, clip[shown], clipped[shown])
    return _rasterise(lines, clip, clipped, width, height)


def draw_hairlines(
    planes: Pixels,
    starts: FloatArray,
    ends: FloatArray,
    colour: tuple[int, ...],
    alpha8: int,
) -> None:
    """Blend each hairline `starts[i]` → `ends[i]` onto `planes` (bands, H, W), in order.

    `colour` has one value per band; `alpha8` is the paint's 8-bit alpha (`hairline_alpha`).
    """
    _, height, width = planes.shape
    if not len(starts) or alpha8 <= 0:
        return
    table = _blend_table(tuple(colour), alpha8)
    flat = [plane.reshape(-1) for plane in planes]
    # A batch of strokes at a time, in order (so the same result), to bound the memory.
    steps = np.abs(np.asarray(ends, dtype=np.float64) - starts).max(axis=1)
    steps = np.nan_to_num(np.minimum(steps, max(width, height)), nan=0.0) + 2
    cuts = np.searchsorted(np.cumsum(steps), np.arange(1, 1 + steps.sum() // _BATCH) * _BATCH)
    bounds = [0, *np.unique(cuts).tolist(), len(starts)]
    for begin, end in itertools.pairwise(bounds):
        if end > begin:
            pixel, key = _fragments(starts[begin:end], ends[begin:end], width, height)
            if len(pixel):
                _blend(flat, pixel, key, table, width * height)


def _blend(flat: list[Pixels], pixel: I32, key: I32, table: Pixels, area: int) -> None:
    """Blend the fragments (in drawing order) into the flat planes through `table`."""
    # Strokes overlap: each pixel's fragments must be blended in drawing order, each onto the
    # result of the one before. Sort the fragments by pixel, keeping their order (stable
    # radix passes on 16 and 8 bits), then blend every pixel's first fragment at once, then
    # every pixel's second, and so on: no pass touches a pixel twice.
    order = np.argsort(pixel.view(np.uint16)[0::2] if _LITTLE else pixel & 0xFFFF, kind="stable")
    if area > 65536:
        high = (pixel >> 16).astype(np.uint8)  # ≤ 2^20 pixels at 1024 px
        order = order[np.argsort(high[order], kind="stable")]
    key, pixel = key[order], pixel[order]
    first = np.empty(len(pixel), dtype=bool)  # where each pixel's run of fragments starts
    first[0] = True
    np.not_equal(pixel[1:], pixel[:-1], out=first[1:])
    start = np.flatnonzero(first)
    count = np.diff(start, append=len(pixel))
    most = int(count.max())
    # the touched pixels, most fragments first (a stable 16-bit radix sort when it fits)
    fewest = (most - count).astype(np.uint16 if most < 65536 else np.int64)
    by_depth = np.argsort(fewest, kind="stable")
    fewer = fewest[by_depth]  # ascending: the pixels with more than k fragments are a prefix
    start = start[by_depth]
    deepest = pixel[start]
    for rank in range(most):
        shown = int(np.searchsorted(fewer, most - rank, side="left"))
        where = deepest[:shown]
        index = key.take(start[:shown] + rank)
        for plane, lookup in zip(flat, table, strict=True):
            plane.put(where, lookup.take(index + plane.take(where)))


def _fdot6(value: F32) -> IntArray:
    """SkScalarToFDot6: float·64 truncated toward zero."""
    fixed: IntArray = np.trunc(value * np.float32(64)).astype(np.int64)
    return fixed


def _intersect_line(
    x0: F32, y0: F32, x1: F32, y1: F32, right: np.float32, bottom: np.float32, chop: BoolArray
) -> tuple[BoolArray, F32, F32, F32, F32]:
    """SkLineClipper::IntersectLine to (-1, -1, right, bottom) where `chop`; else unchanged."""
    lo = np.float32(-1)
    span_x0, span_x1 = np.minimum(x0, x1), np.maximum(x0, x1)
    span_y0, span_y1 = np.minimum(y0, y1), np.maximum(y0, y1)
    wide, tall = span_x1 - span_x0, span_y1 - span_y0
    contained = (span_x0 >= lo) & (span_y0 >= lo) & (span_x1 <= right) & (span_y1 <= bottom)
    outside = (
        _nested_lt(span_x1, lo, wide)
        | _nested_lt(right, span_x0, wide)
        | _nested_lt(span_y1, lo, tall)
        | _nested_lt(bottom, span_y0, tall)
    )
    # Chop in y: the upper point to the top edge, the lower one to the bottom edge.
    with np.errstate(divide="ignore", invalid="ignore"):
        top_x = _sect_horizontal(x0, y0, x1, y1, lo)
        bottom_x = _sect_horizontal(x0, y0, x1, y1, bottom)
        first_up = y0 < y1
        a_top = first_up & (y0 < lo)
        a_bottom = ~first_up & (y0 > bottom)
        b_top = ~first_up & (y1 < lo)
        b_bottom = first_up & (y1 > bottom)
        ax = np.where(a_top, top_x, np.where(a_bottom, bottom_x, x0))
        ay = np.where(a_top, lo, np.where(a_bottom, bottom, y0))
        bx = np.where(b_top, top_x, np.where(b_bottom, bottom_x, x1))
        by = np.where(b_top, lo, np.where(b_bottom, bottom, y1))
        # then in x, from the original points again
        a_left = ax < bx
        left_x = np.where(a_left, ax, bx)
        right_x = np.where(a_left, bx, ax)
        missed = ((right_x <= lo) | (left_x >= right)) & (left_x < right_x)
        left_y = _sect_vertical(x0, y0, x1, y1, lo)
        right_y = _sect_vertical(x0, y0, x1, y1, right)
    a_to_left = a_left & (ax < lo)
    a_to_right = ~a_left & (ax > right)
    b_to_left = ~a_left & (bx < lo)
    b_to_right = a_left & (bx > right)
    ax = np.where(a_to_left, lo, np.where(a_to_right, right, ax))
    ay = np.where(a_to_left, left_y, np.where(a_to_right, right_y, ay))
    bx = np.where(b_to_left, lo, np.where(b_to_right, right, bx))
    by = np.where(b_to_left, left_y, np.where(b_to_right, right_y, by))
    moved = chop & ~contained
    keep = ~moved | ~(outside | missed)
    return (
        keep,
        np.where(moved, ax, x0),
        np.where(moved, ay, y0),
        np.where(moved, bx, x1),
        np.where(moved, by, y1),
    )


def _nested_lt(a: F32 | np.float32, b: F32 | np.float32, dim: F32) -> BoolArray:
    result: BoolArray = (a <= b) & ((a < b) | (dim > 0))
    return result


def _sect_horizontal(x0: F32, y0: F32, x1: F32, y1: F32, y: np.float32) -> F32:
    """The x where the line crosses height `y`, in double, pinned between x0 and x1."""
    flat = np.abs(y1 - y0) <= _NEARLY_ZERO
    a, b, c, d = (v.astype(np.float64) for v in (x0, y0, x1, y1))
    crossing = np.clip(a + (float(y) - b) * (c - a) / (d - b), np.minimum(a, c), np.maximum(a, c))
    result: F32 = np.where(flat, (x0 + x1) * np.float32(0.5), crossing.astype(np.float32))
    return result


def _sect_vertical(x0: F32, y0: F32, x1: F32, y1: F32, x: np.float32) -> F32:
    """The y where the line crosses `x`, in double."""
    flat = np.abs(x1 - x0) <= _NEARLY_ZERO
    a, b, c, d = (v.astype(np.float64) for v in (x0, y0, x1, y1))
    crossing = b + (float(x) - a) * (d - b) / (c - a)
    result: F32 = np.where(flat, (y0 + y1) * np.float32(0.5), crossing.astype(np.float32))
    return result


def _split_long(
    lines: IntArray, clip: IntArray, clipped: BoolArray
) -> tuple[IntArray, IntArray, BoolArray]:
    """Halve lines longer than 511 px where they are, as do_anti_hairline does."""
    while True:
        long = (np.abs(lines[:, 2:] - lines[:, :2]) > _MAX_SPAN).any(axis=1)
        if not long.any():
            return lines, clip, clipped
        middle = (lines[:, :2] >> 1) + (lines[:, 2:] >> 1)
        index = np.repeat(np.arange(len(lines)), np.where(long, 2, 1))
        second = np.zeros(len(index), dtype=bool)
        second[1:] = index[1:] == index[:-1]
        first = long[index] & ~second
        lines, clip, clipped = lines[index], clip[index], clipped[index]
        lines[second, :2] = middle[index[second]]
        lines[first, 2:] = middle[index[first]]


def _rasterise(
    lines: IntArray, clip: IntArray, clipped: BoolArray, width: int, height: int
) -> tuple[I32, I32]:
    """do_anti_hairline on 26.6 fixed-point lines (n, 4) with their clip rects (n, 4)."""
    x0, y0, x1, y1 = lines.T
    horizontal = np.abs(x1 - x0) > np.abs(y1 - y0)
    # Major axis a (x for mostly horizontal lines, else y), minor axis b; a0 ≤ a1.
    a0, b0 = np.where(horizontal, x0, y0), np.where(horizontal, y0, x0)
    a1, b1 = np.where(horizontal, x1, y1), np.where(horizontal, y1, x1)
    backwards = a0 > a1
    a0, a1 = np.where(backwards, a1, a0), np.where(backwards, a0, a1)
    b0, b1 = np.where(backwards, b1, b0), np.where(backwards, b0, b1)
    # The clip rect along each axis.
    major_lo = np.where(horizontal, clip[:, 0], clip[:, 1])
    major_hi = np.where(horizontal, clip[:, 2], clip[:, 3])
    minor_lo = np.where(horizontal, clip[:, 1], clip[:, 0])
    minor_hi = np.where(horizontal, clip[:, 3], clip[:, 2])

    istart, istop = a0 >> 6, (a1 + 63) >> 6
    axis = b0 == b1
    rise = (b1 - b0) << 16
    run = np.maximum(a1 - a0, 1)  # a zero-length line is dropped below
    slope = np.where(rise >= 0, rise // run, -(-rise // run))  # C division truncates
    fstart = (b0 << 10) + np.where(axis, 0, (slope * (32 - (a0 & 63)) + 32) >> 6)
    single = istop - istart == 1
    scale_start = np.where(single, a1 - a0, 64 - (a0 & 63))
    scale_stop = np.where(single, 0, a1 & 63)

    # Clipped lines: the major axis first (the start column full, no end cap) ...
    visible = (a0 != a1) & (~clipped | ((istart < major_hi) & (istop > major_lo)))
    early = clipped & (istart < major_lo)
    fstart = np.where(early, fstart + slope * (major_lo - istart), fstart)
    istart = np.where(early, major_lo, istart)
    scale_start = np.where(early, 64, scale_start)
    one = early & (istop - istart == 1)
    scale_start = np.where(one, ((a1 - 1) & 63) + 1, scale_start)
    scale_stop = np.where(one, 0, scale_stop)
    late = clipped & (istop > major_hi)
    istop = np.where(late, major_hi, istop)
    scale_stop = np.where(late, 0, scale_stop)
    visible &= istop > istart
    # ... then the minor axis: wholly inside the clip (outset by 1), the clip is dropped.
    last = fstart + (istop - istart - 1) * slope
    low = np.where(slope >= 0, fstart - _HALF, last - _HALF) >> 16
    high = (np.where(slope >= 0, last + _HALF, fstart + _HALF) + 0xFFFF) >> 16
    low, high = low - 1, high + 1
    visible &= ~clipped | ((low < minor_hi) & (high > minor_lo))
    clipped &= ~((minor_lo <= low) & (minor_hi >= high))
    # Axis-aligned lines blit through blitAntiH/blitV; so does every line drawn through a
    # clip (SkRectClipBlitter keeps SkBlitter's blitAntiV2/H2, which call blitAntiH).
    plain = axis | clipped

    keep = np.flatnonzero(visible)
    steps = (istop - istart)[keep]
    fstart, slope, istart = fstart[keep], slope[keep], istart[keep]
    scale_start, scale_stop = scale_start[keep], scale_stop[keep]
    horizontal, plain, clipped = horizontal[keep], plain[keep], clipped[keep]
    minor_lo, minor_hi = minor_lo[keep], minor_hi[keep]

    # One row per step along the major axis, line after line (int32: ≤ 2^27 at 1024 px).
    total = int(steps.sum())
    line = np.repeat(np.arange(len(steps), dtype=np.int32), steps)
    begin = np.cumsum(steps) - steps  # each line's first step
    step = np.arange(total, dtype=np.int32) - np.repeat(begin.astype(np.int32), steps)
    fy = fstart.astype(np.int32)[line] + step * slope.astype(np.int32)[line] + _HALF
    lower = fy >> 16
    fraction = (fy >> 8) & 0xFF
    # the pixel below the line and its neighbour above (minor axis), as flat indices
    minor_stride = np.where(horizontal, width, 1).astype(np.int32)
    major_stride = np.where(horizontal, 1, width).astype(np.int32)
    across = minor_stride[line]
    below = (
        lower * across + step * major_stride[line] + (istart * major_stride).astype(np.int32)[line]
    )
    lower_cover = fraction
    upper_cover = 255 - fraction
    # the first and last steps are scaled by how much of their pixel the line covers
    for cap, scale in ((begin, scale_start), (begin + steps - 1, scale_stop)):
        partial = (scale > 0) & (scale < 64)
        cap, scale = cap[partial], scale[partial]
        lower_cover[cap] = (lower_cover[cap] * scale) >> 6
        upper_cover[cap] = (upper_cover[cap] * scale) >> 6
    # a clip still in force drops the pixels outside it on the minor axis
    held = np.flatnonzero(clipped[line])
    if len(held):
        lo, hi, at = minor_lo[line[held]], minor_hi[line[held]], lower[held]
        lower_cover[held[(at < lo) | (at >= hi)]] = 0
        upper_cover[held[(at <= lo) | (at > hi)]] = 0

    base = plain.astype(np.int32)[line] << 16
    pixel = np.empty(2 * total, dtype=np.int32)
    pixel[0::2] = below - across
    pixel[1::2] = below
    key = np.empty(2 * total, dtype=np.int32)
    key[0::2] = base + (upper_cover << 8)
    key[1::2] = base + (lower_cover << 8)
    kept = np.empty(2 * total, dtype=bool)
    np.greater(upper_cover, 0, out=kept[0::2])
    np.greater(lower_cover, 0, out=kept[1::2])
    return pixel[kept], key[kept]


@lru_cache(maxsize=16)
def _blend_table(colour: tuple[int, ...], alpha8: int) -> Pixels:
    """The blended 8-bit value per band at [band][plain·65536 + coverage·256 + dst]."""
    premul = [_mul_div255_round(value, alpha8) for value in colour]  # SkPreMultiplyARGB
    cover = np.arange(256)[:, None]
    dst = np.arange(256)[None, :]
    tables = []
    for src in premul:
        if alpha8 == 255:  # SkARGB32_Opaque_Blitter::blitAntiV2/H2: SkFastFourByteInterp
            scale = cover + (cover >> 7)
            sloped = (src * scale + dst * (256 - scale)) >> 8
        else:  # SkARGB32_Blitter::blitAntiV2/H2: SkBlendARGB32
            scale = cover + 1
            product = 0xFFFF - alpha8 * scale
            dst_scale = (product + (product >> 8)) >> 8  # SkAlphaMulInv256
            sloped = ((src * scale + dst * dst_scale) >> 8) & 0xFF
        # blitAntiH / blitV: SkAlphaMulQ(colour, c + 1), then source-over with 256 - its alpha
        source = (src * (cover + 1)) >> 8
        source_alpha = (alpha8 * (cover + 1)) >> 8
        straight = source + ((dst * (256 - source_alpha)) >> 8)
        tables.append(np.concatenate([sloped.ravel(), straight.ravel()]))
    table: Pixels = np.clip(np.stack(tables), 0, 255).astype(np.uint8)
    table.flags.writeable = False
    return table


def _mul_div255_round(a: int, b: int) -> int:
    product = a * b + 128
    return (product + (product >> 8)) >> 8
