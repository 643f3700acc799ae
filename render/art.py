"""Render one Gen1 frame: background, flow lines and contour bands over opaque black.

The layers are composited as canvas does on Cairo's 8-bit surface: the gradient rounded to
8 bits, then every stroke blended onto it in turn, then the contour cells at 8-bit alpha.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

from render.errors import RenderError
from render.layers import REFERENCE_SIZE, background, contour_mask, flow_lines
from render.settings import Gen1Settings, RenderOptions
from render.strokes import draw_strokes
from render.timing import frame_time

__all__ = ["CONTOUR_RGB", "LINE_ALPHA", "LINE_RGB", "render_frame"]

LINE_RGB = (255, 255, 255)  # white flow strokes (GEN1_SPEC §2.4)
LINE_ALPHA = 0.6
CONTOUR_RGB = (100, 150, 255)  # contour band fill (GEN1_SPEC §2.5)


def render_frame(
    settings: Gen1Settings, options: RenderOptions, index: int
) -> npt.NDArray[np.uint8]:
    """Frame `index` as an (S, S, 3) uint8 RGB array, composited over opaque black.

    The canvas starts transparent black; with every layer opaque or blended source-over,
    that is the same as opaque black, and a frame with every layer disabled stays black.
    """
    if index < 0:
        raise RenderError("frame index must not be negative", frame_index=index)
    size = options.size
    phase, angle = frame_time(options, index, settings.flow_field.direction)
    if settings.flow_field.enabled:
        image = background(settings.flow_field, size, angle)
    else:
        image = Image.new("RGB", (size, size))
    if settings.flow_fields.enabled:
        starts, ends = flow_lines(settings, size, phase)
        # The 1 px width is 1 px at 512 and scales with the canvas like everything else,
        # so lines keep their weight in thumbnails and large renders alike.
        draw_strokes(
            image, starts, ends, size / REFERENCE_SIZE, LINE_RGB, LINE_ALPHA, options.raster
        )
    if settings.contour.enabled:
        fill = Image.new("RGB", (size, size), CONTOUR_RGB)
        image = Image.composite(fill, image, contour_mask(settings.contour, size, phase))
    frame: npt.NDArray[np.uint8] = np.asarray(image)
    return frame
