"""The palette's median cut in numpy: the formulation `render/_mediancut.c` was written from,
kept as the tests' oracle (tests/unit/render/test_mediancut.py checks the C gives the same
colours). Its statistics are exact integers per 7-bit cell, its scores doubles, its sorts
stable; see `render/mediancut.py` for the method.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

# per cell: pixel count, the sums of r, g, b and the sums of their squares
_COUNT, _SUMS, _SQUARES = 0, slice(1, 4), slice(4, 7)
_CHUNK = 1024  # cells scored at once against the palette in the Lloyd pass

Moments = npt.NDArray[np.int64]  # (cells, 7)


def _errors(moments: Moments) -> npt.NDArray[np.float64]:
    """Per row of summed moments, each channel's squared error about its mean."""
    sums = moments[:, _SUMS].astype(np.float64)
    counts = moments[:, _COUNT : _COUNT + 1].astype(np.float64)
    errors: npt.NDArray[np.float64] = moments[:, _SQUARES] - sums * sums / counts
    return errors


def _histogram(
    samples: Sequence[npt.NDArray[np.uint8]],
) -> tuple[Moments, npt.NDArray[np.int64]]:
    """The moments of every 7-bit cell the sampled pixels fall in, and those cells' coordinates."""
    pixels = np.concatenate(samples, axis=0).astype(np.int64)
    cells = pixels >> 1
    keys = cells[:, 0] << 14 | cells[:, 1] << 7 | cells[:, 2]
    unique, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.ravel()
    moments = np.zeros((len(unique), 7), dtype=np.int64)
    np.add.at(moments[:, _COUNT], inverse, 1)
    for channel in range(3):
        np.add.at(moments[:, 1 + channel], inverse, pixels[:, channel])
        np.add.at(moments[:, 4 + channel], inverse, pixels[:, channel] ** 2)
    coordinates = np.stack([unique >> 14, (unique >> 7) & 127, unique & 127], axis=1)
    return moments, coordinates


def _split(
    members: npt.NDArray[np.intp], moments: Moments, coordinates: npt.NDArray[np.int64], axis: int
) -> int | None:
    """Where to cut `members` sorted along `axis` for the least error left (None: one cell wide)."""
    along = coordinates[members, axis]
    if along[0] == along[-1]:
        return None
    before = np.cumsum(moments[members], axis=0)[:-1]
    after = before[-1] + moments[members[-1]] - before
    scores = _errors(before).sum(axis=1) + _errors(after).sum(axis=1)
    scores[along[1:] == along[:-1]] = np.inf  # cut only between different cells
    return int(scores.argmin()) + 1


def median_cut_samples(
    samples: Sequence[npt.NDArray[np.uint8]], colours: int
) -> npt.NDArray[np.uint8]:
    """Up to `colours` (n, 3) RGB colours for the pixels `samples` hold, fewer if they fall in
    fewer 7-bit cells."""
    moments, coordinates = _histogram(samples)

    def box(members: npt.NDArray[np.intp], serial: int) -> tuple[float, int, Any, Moments]:
        """A heap entry: the box's error negated (a max-heap; the serial number breaks ties in
        order of creation), its cells and its summed moments."""
        total = moments[members].sum(axis=0, keepdims=True)
        return -float(_errors(total).sum()), serial, members, total

    heap = [box(np.arange(len(moments)), 0)]
    done: list[Moments] = []  # the totals of boxes that cannot be split
    serial = 1
    while heap and len(heap) + len(done) < colours:
        negative, _, members, total = heapq.heappop(heap)
        cut = None
        if negative < 0 and len(members) > 1:
            # the channel of largest error first; if the box is one cell wide there, the widest
            spans = np.ptp(coordinates[members], axis=0)
            for axis in (int(_errors(total)[0].argmax()), int(spans.argmax())):
                members = members[np.argsort(coordinates[members, axis], kind="stable")]
                cut = _split(members, moments, coordinates, axis)
                if cut is not None:
                    break
        if cut is None:
            done.append(total)
            continue
        for part in (members[:cut], members[cut:]):
            heapq.heappush(heap, box(part, serial))
            serial += 1
    totals = np.concatenate(done + [entry[3] for entry in sorted(heap, key=lambda e: e[1])])
    palette = _means(totals)
    return _lloyd(moments, palette)


def _means(totals: Moments) -> npt.NDArray[np.int64]:
    """Each row's mean colour, rounded half up: integer arithmetic only."""
    counts = totals[:, _COUNT : _COUNT + 1]
    means: npt.NDArray[np.int64] = (2 * totals[:, _SUMS] + counts) // (2 * counts)
    return means


def _lloyd(moments: Moments, palette: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """One Lloyd pass: every cell to its nearest colour (by the cell's exact squared error,
    an integer), then every colour to the mean of its cells; a colour no cell chose stays."""
    counts = moments[:, _COUNT : _COUNT + 1]
    norms = (palette * palette).sum(axis=1)
    nearest = np.empty(len(moments), dtype=np.intp)
    # Σ over a cell's pixels of |p - c|² = Σp² - 2 c·Σp + n|c|²; the first term is the same
    # for every c, so compare n|c|² - 2 c·Σp (below 2^40: exact in int64). In chunks of
    # cells, to stay in cache.
    for start in range(0, len(moments), _CHUNK):
        rows = slice(start, start + _CHUNK)
        sums = moments[rows, _SUMS]
        scores = counts[rows] * norms
        for channel in range(3):
            scores -= 2 * sums[:, channel : channel + 1] * palette[:, channel]
        nearest[rows] = scores.argmin(axis=1)
    totals = np.zeros((len(palette), 7), dtype=np.int64)
    np.add.at(totals, nearest, moments)
    chosen = totals[:, _COUNT] > 0
    palette = palette.copy()
    palette[chosen] = _means(totals[chosen])
    refined: npt.NDArray[np.uint8] = np.clip(palette, 0, 255).astype(np.uint8)
    return refined
