"""A vectorised numpy stroke rasteriser: exact-area coverage, kept as a reference to measure.

Lantern's first renderer drew flow lines with this (render/strokes.py now uses AGG, which
bench/rasterisers.py measured as 4x faster and as close to Cairo). Source-over of strokes of
one colour is order-independent: after strokes of alpha a_i a pixel keeps Π(1 - a_i) of what
was below it, so every coverage is summed as log(1 - a) with `np.bincount`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["stroke_transmittance"]

FloatArray = npt.NDArray[np.float64]

# Candidate pixels handled per batch: bounds memory (~20 arrays of this many float64s) for
# dense, long lines (lineDensity 0.5, lineLength 100: 65,536 lines x ~700 candidates).
_BATCH = 1 << 19
# Half the widest projection of a unit pixel on any direction (its half-diagonal).
_HALF_DIAGONAL = math.sqrt(2) / 2
# A direction's smaller component is kept above this so the pixel profile below never
# divides by zero; for axis-aligned strokes it then differs from a box by ~1e-6 at most.
_MIN_COMPONENT = 1e-6


def _box_integral(y: FloatArray, big: FloatArray) -> FloatArray:
    """H(y) = ∫₀^y clip(t, 0, big) dt, in closed form."""
    clipped = np.minimum(np.maximum(y, 0.0), big)
    return clipped * (y - clipped / 2)


def _share(
    centre: FloatArray,
    lo: float | FloatArray,
    hi: float | FloatArray,
    big: FloatArray,
    small: FloatArray,
) -> FloatArray:
    """Share of a unit pixel whose projection on a unit direction (±big, ±small) lies in [lo, hi].

    `centre` is the pixel centre's projection. The pixel projects as the sum of two uniform
    spreads of widths `big` and `small` (a trapezoid); its CDF at s is
    (H(s + (big+small)/2) - H(s + (big-small)/2)) / (big·small).
    """
    wide, narrow = (big + small) / 2, (big - small) / 2
    up, down = hi - centre, lo - centre
    integral = (
        _box_integral(up + wide, big)
        - _box_integral(up + narrow, big)
        - _box_integral(down + wide, big)
        + _box_integral(down + narrow, big)
    )
    return np.clip(integral / (big * small), 0.0, 1.0)


def stroke_transmittance(
    starts: FloatArray, ends: FloatArray, size: int, width: float, alpha: float
) -> FloatArray:
    """Per pixel, Π(1 - alpha·coverage) over the strokes from `starts` to `ends` (nx2, pixels).

    Coverage is the product of the pixel's exact shares along and across the stroke (its
    area projected onto each axis of the stroke's rectangle). That is the exact area inside
    the stroke, and near the butt caps a close approximation of it.
    """
    delta = ends - starts
    length = np.hypot(delta[:, 0], delta[:, 1])
    drawn = length > 0  # a zero-length stroke with butt caps paints nothing
    starts, delta, length = starts[drawn], delta[drawn], length[drawn]
    log_keep = np.zeros(size * size)
    if len(length):
        reach = width / 2 + _HALF_DIAGONAL  # centre distance beyond which pixels are untouched
        # Candidates per stroke: pixel columns along its major axis (its span, plus reach and
        # a half-diagonal at each end, plus rounding), times the rows within reach·√2 of the
        # centre line (its slope against the major axis is at most 1).
        columns = math.ceil(float(length.max()) + 2 * (reach + _HALF_DIAGONAL)) + 2
        rows = math.ceil(2 * reach * math.sqrt(2)) + 2
        window = (columns, rows, reach)
        per_batch = max(1, _BATCH // (columns * rows))
        for first in range(0, len(length), per_batch):
            batch = slice(first, first + per_batch)
            pixel, log_share = _candidates(
                starts[batch], delta[batch], length[batch], width, alpha, window, size
            )
            log_keep += np.bincount(pixel, weights=log_share, minlength=size * size)
    keep: FloatArray = np.exp(log_keep).reshape(size, size)
    return keep


def _candidates(
    starts: FloatArray,
    delta: FloatArray,
    length: FloatArray,
    width: float,
    alpha: float,
    window: tuple[int, int, float],
    size: int,
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """The touched pixels of a batch of strokes (flat indices) and their log(1 - a·coverage)."""
    columns, rows, reach = window
    # Swap to (major, minor) coordinates so one code path walks every stroke along its longer
    # axis: `steep` strokes have y as the major axis.
    steep = np.abs(delta[:, 1]) > np.abs(delta[:, 0])
    major = steep.astype(np.intp)
    lines = np.arange(len(length))
    a0, b0 = starts[lines, major], starts[lines, 1 - major]
    da, db = delta[lines, major], delta[lines, 1 - major]
    slope = db / da  # |slope| <= 1, and da != 0 because the stroke has length

    first_column = np.floor(np.minimum(a0, a0 + da) - reach - _HALF_DIAGONAL - 0.5)
    column = first_column[:, None] + np.arange(columns)[None, :]  # (n, columns)
    centre_line = b0[:, None] + (column + 0.5 - a0[:, None]) * slope[:, None]
    first_row = np.floor(centre_line - 0.5 - reach * math.sqrt(2))
    row = first_row[:, :, None] + np.arange(rows)[None, None, :]  # (n, columns, rows)
    column = np.broadcast_to(column[:, :, None], row.shape)
    x = np.where(steep[:, None, None], row, column)
    y = np.where(steep[:, None, None], column, row)

    # Pixel centre in the stroke's frame: `along` from the start, `across` from the centre line.
    unit = delta / length[:, None]
    ux, uy = unit[:, 0, None, None], unit[:, 1, None, None]
    rx = x + 0.5 - starts[:, 0, None, None]
    ry = y + 0.5 - starts[:, 1, None, None]
    along = rx * ux + ry * uy
    across = ry * ux - rx * uy
    # Keep only candidates on the canvas that can touch the stroke, before the costly part.
    near = (
        (np.abs(across) < reach)
        & (along > -_HALF_DIAGONAL)
        & (along < length[:, None, None] + _HALF_DIAGONAL)
        & (x >= 0)
        & (x < size)
        & (y >= 0)
        & (y < size)
    )
    line = np.broadcast_to(lines[:, None, None], near.shape)[near]
    # The pixel's projection on either axis of the stroke has the same two spreads.
    big = np.maximum(np.abs(unit[:, 0]), np.abs(unit[:, 1]))[line]
    small = np.maximum(np.minimum(np.abs(unit[:, 0]), np.abs(unit[:, 1])), _MIN_COMPONENT)[line]
    coverage = _share(along[near], 0.0, length[line], big, small) * _share(
        across[near], -width / 2, width / 2, big, small
    )
    pixel = (y[near] * size + x[near]).astype(np.intp)
    return pixel, np.log1p(-alpha * coverage)
