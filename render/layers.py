"""The three Gen1 layers at any size: background, flow lines, contour bands (GEN1_SPEC §2.3-2.5).

Every layer is laid out in pixels at size 512, where it matches the original exactly, and
scaled by S/512 at other sizes so the picture keeps its look.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from PIL import Image

from render.settings import Contour, FlowField, Gen1Settings
from render.wavefield import gradient, wavefield

__all__ = [
    "CONTOUR_GRID",
    "REFERENCE_SIZE",
    "background",
    "contour_alpha",
    "contour_mask",
    "flow_lines",
]

FloatArray = npt.NDArray[np.float64]

REFERENCE_SIZE = 512  # the original's canvas: settings are in pixels at this size
CONTOUR_GRID = 64  # contour cells per side, whatever the size (8 px at 512)


def _rgb(colour: str) -> FloatArray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)


def background(flow_field: FlowField, size: int, angle: float) -> Image.Image:
    """The gradient through the centre along (cos a, sin a), as an S x S "RGB" image."""
    # u = 0.5 - ((p - c)·(cos a, sin a)) / (2S) at each pixel centre p; u is size-free.
    # The colour is linear in x and y: per channel, a row term plus a column term, summed in
    # float32 and rounded once (half up: every value is non-negative). Channel planes keep
    # numpy's inner loops long; Pillow interleaves them.
    offset = (np.arange(size) + 0.5 - size / 2) / (2 * size)
    start, end = _rgb(flow_field.color1), _rgb(flow_field.color2)
    span = (end - start)[:, None]
    row = (start[:, None] + span * (0.5 - offset * math.cos(angle))).astype(np.float32)
    column = (0.5 - span * offset * math.sin(angle)).astype(np.float32)
    planes = (row[:, None, :] + column[:, :, None]).astype(np.uint8)  # (channel, y, x)
    return Image.merge("RGB", [Image.fromarray(plane) for plane in planes])


def flow_lines(settings: Gen1Settings, size: int, phase: float) -> tuple[FloatArray, FloatArray]:
    """The flow strokes as (starts, ends), nx2 arrays of (x, y) in pixels at `size`.

    G = floor(512·lineDensity) cells per side and lineLength in pixels at 512, both scaled by
    S/512 (rather than G = floor(S·lineDensity)), so a 64 px thumbnail shows the same lines
    as the 512 px artwork; at 512 this is the original's layout exactly.
    """
    flow = settings.flow_fields
    cells = math.floor(REFERENCE_SIZE * flow.line_density)
    cell = REFERENCE_SIZE / cells
    corner = np.arange(cells) * cell
    x, y = corner[None, :], corner[:, None]  # top-left corners, where the gradient is taken
    gx, gy = gradient(flow, x, y, phase)
    if settings.contour_affects_flow and settings.contour.enabled:
        cx, cy = gradient(settings.contour, x, y, phase)
        gx, gy = (gx + cx) / 2, (gy + cy) / 2  # averaged before normalising
    norm = np.sqrt(gx * gx + gy * gy)
    drawn = norm > 0  # no direction where the gradient vanishes: the cell is skipped
    dx, dy = gx[drawn] / norm[drawn], gy[drawn] / norm[drawn]
    turn = math.radians(flow.rotation)
    ex = (dx * math.cos(turn) - dy * math.sin(turn)) * flow.direction  # -1 mirrors x only
    ey = dx * math.sin(turn) + dy * math.cos(turn)
    centre_x = np.broadcast_to(x + cell / 2, drawn.shape)[drawn]
    centre_y = np.broadcast_to(y + cell / 2, drawn.shape)[drawn]
    starts = np.stack([centre_x, centre_y], axis=1)
    ends = np.stack([centre_x + ex * flow.line_length, centre_y + ey * flow.line_length], axis=1)
    scale = size / REFERENCE_SIZE
    return starts * scale, ends * scale


def contour_alpha(contour: Contour, phase: float) -> FloatArray:
    """The contour layer's alpha per cell, (64, 64); its colour is CONTOUR_RGB everywhere."""
    levels = contour.levels
    cell = REFERENCE_SIZE / CONTOUR_GRID
    # Cell centres with one ring of cells beyond the grid: the wavefield is defined
    # everywhere, so an edge cell's missing neighbours are sampled just like the others,
    # and the smoothness rule needs no special case at the border.
    centres = (np.arange(-1, CONTOUR_GRID + 1) + 0.5) * cell
    ring = wavefield(contour, centres[None, :], centres[:, None], phase)
    value = ring[1:-1, 1:-1]
    around = (ring[:-2, 1:-1] + ring[2:, 1:-1] + ring[1:-1, :-2] + ring[1:-1, 2:]) / 4

    # Band i covers [2i/L - 1, 2(i+1)/L - 1); values outside [-1, 1) are not painted.
    bounds = 2 * np.arange(levels + 1) / levels - 1
    band = np.searchsorted(bounds, value, side="right") - 1
    painted = (band >= 0) & (band < levels)
    smooth = np.abs(value - around) < contour.smoothness
    strength = np.where(smooth | (contour.smoothness == 0), 1.0, 0.3)
    # The original set the alpha twice, so its effective alpha is the square (GEN1_SPEC §2.5).
    alpha: FloatArray = np.where(painted, (0.3 * (band + 1) / levels) ** 2 * strength, 0.0)
    return alpha


def contour_mask(contour: Contour, size: int, phase: float) -> Image.Image:
    """The contour layer's alpha at every pixel as an 8-bit mask ("L", S x S).

    Nearest-cell upscale by pixel centre: cell = floor((p + ½)·64/S). At 512 every cell is
    exactly the original's 8x8 fillRect; at other sizes edges snap to whole pixels, so cells
    never bleed into each other. Alpha is rounded to 8 bits, as canvas's colours are.
    """
    alpha = contour_alpha(contour, phase)
    cells = Image.fromarray(np.rint(alpha * 255).astype(np.uint8))
    return cells.resize((size, size), Image.Resampling.NEAREST)
