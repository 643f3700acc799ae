"""Anti-aliased straight strokes with butt caps, drawn by Anti-Grain Geometry (aggdraw).

The original drew each flow line as its own canvas stroke on Cairo: exact-area anti-aliasing,
butt caps, and every stroke composited source-over in 8 bits before the next, so overlaps
accumulate. AGG rasterises the same way (exact cell coverage, 8-bit blending per stroke).
`bench/rasterisers.py` measured it against Cairo itself (cairocffi on the system's libcairo),
skia-python and Lantern's first, vectorised numpy exact-area rasteriser, on the default
2,601 lines (times as ratios to AGG's from the same run; differences in 8-bit levels):

    512 px    AGG 1.00, numpy 3.5-5.2x, cairocffi 4.1-4.3x, skia 0.6-0.9x
              mean |difference| from Cairo: AGG 0.55, numpy 0.48, skia 2.69
    1024 px   AGG 1.00, numpy 4.5x, cairocffi 3.2-4.3x, skia 0.9-1.2x

So AGG draws what Cairo draws, to about half a level on average, four times faster (Cairo is
slow here from one Python call per path operation); skia is as fast but draws thinner lines.

The "browser" raster draws what holders' browsers drew instead: a stroke no wider than 1 px
as Chromium's anti-aliased hairline (render/hairline.py), whose ink per unit length falls to
1/√2 on diagonals. Wider strokes (sizes above 512) are filled polygons in Chromium too, so
both rasters draw them with AGG.
"""

from __future__ import annotations

import aggdraw
import numpy as np
import numpy.typing as npt
from PIL import Image

from render.hairline import draw_hairlines, hairline_alpha

__all__ = ["RASTERS", "draw_strokes"]

RASTERS = ("cairo", "browser")  # RenderOptions.raster

FloatArray = npt.NDArray[np.float64]


def draw_strokes(
    image: Image.Image,
    starts: FloatArray,
    ends: FloatArray,
    width: float,
    rgb: tuple[int, int, int],
    alpha: float,
    raster: str = "cairo",
) -> None:
    """Stroke each segment `starts[i]` → `ends[i]` (nx2, pixels) onto `image`, one at a time.

    Pixel (i, j) covers [i, i+1) x [j, j+1), as in Cairo. Every stroke is blended on its own
    at `alpha` (rounded to 8 bits, as canvas does), so overlapping strokes accumulate.
    `raster` "cairo" covers each pixel by its exact area under the stroke; "browser" draws
    strokes up to 1 px wide as Chromium's hairlines. `image` is "RGB" or "L" ("L" takes
    `rgb`'s first value).
    """
    if raster not in RASTERS:
        raise ValueError(f"raster must be one of {RASTERS}, not {raster!r}")
    if not len(starts):
        return
    if raster == "browser" and width <= 1:
        planes = np.stack([np.asarray(band) for band in image.split()])
        draw_hairlines(planes, starts, ends, rgb[: len(planes)], hairline_alpha(alpha, width))
        image.paste(Image.merge(image.mode, [Image.fromarray(plane) for plane in planes]))
        return
    draw = aggdraw.Draw(image)
    pen = aggdraw.Pen(rgb, width, round(alpha * 255))
    line = draw.line
    for segment in np.concatenate([starts, ends], axis=1).tolist():
        line(segment, pen)
    draw.flush()
