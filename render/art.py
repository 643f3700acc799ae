"""Render one Gen1 frame: background, flow lines and contour bands over opaque black."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from render.errors import RenderError
from render.layers import REFERENCE_SIZE, background, contour_alpha, flow_lines
from render.settings import Gen1Settings, RenderOptions
from render.strokes import stroke_transmittance
from render.timing import frame_time

__all__ = ["CONTOUR_RGB", "LINE_ALPHA", "render_frame"]

LINE_ALPHA = 0.6  # white flow strokes (GEN1_SPEC §2.4)
CONTOUR_RGB = (100, 150, 255)  # contour band fill (GEN1_SPEC §2.5)


def render_frame(
    settings: Gen1Settings, options: RenderOptions, index: int
) -> npt.NDArray[np.uint8]:
    """Frame `index` as an (S, S, 3) uint8 RGB array, composited over opaque black.

    Layers are composited source-over in float, in the spec's order, and rounded once.
    The canvas starts transparent black; premultiplied, that is the same as opaque black.
    """
    if index < 0:
        raise RenderError("frame index must not be negative", frame_index=index)
    size = options.size
    phase, angle = frame_time(options, index, settings.flow_field.direction)
    if settings.flow_field.enabled:
        rgb = background(settings.flow_field, size, angle)
    else:
        rgb = np.zeros((size, size, 3))
    if settings.flow_fields.enabled:
        starts, ends = flow_lines(settings, size, phase)
        # The 1 px width is 1 px at 512 and scales with the canvas like everything else,
        # so lines keep their weight in thumbnails and large renders alike.
        width = size / REFERENCE_SIZE
        keep = stroke_transmittance(starts, ends, size, width, LINE_ALPHA)
        rgb = 255 - (255 - rgb) * keep[:, :, None]  # white strokes: dst' = 255 - (255 - dst)·Π
    if settings.contour.enabled:
        alpha = contour_alpha(settings.contour, size, phase)[:, :, None]
        rgb = rgb + (np.array(CONTOUR_RGB, dtype=np.float64) - rgb) * alpha
    frame: npt.NDArray[np.uint8] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return frame
