"""Flow-line rasterisers side by side: time per frame's strokes and distance from Cairo.

    .venv/bin/python bench/rasterisers.py
    # with the optional contenders (not project dependencies; Cairo itself from the system's
    # libcairo2, which Debian's chromium pulls in):
    .venv/bin/pip install --target /tmp/rast cairocffi skia-python
    PYTHONPATH=/tmp/rast .venv/bin/python bench/rasterisers.py

Draws the default artwork's 2,601 flow lines (white, alpha 0.6, butt caps, one stroke each)
over black with each library, and compares each coverage map with Cairo's, the library the
original drew with through node-canvas (without cairocffi: with the numpy exact-area one).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.numpy_strokes import stroke_transmittance  # noqa: E402
from render import Gen1Settings  # noqa: E402
from render.layers import flow_lines  # noqa: E402
from render.strokes import draw_strokes  # noqa: E402

Coverage = npt.NDArray[np.float64]
Lines = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


def aggdraw_lines(size: int, lines: Lines) -> Coverage:
    image = Image.new("L", (size, size))
    draw_strokes(image, *lines, size / 512, 255, 0.6)  # type: ignore[arg-type]
    return np.asarray(image) / 255


def numpy_lines(size: int, lines: Lines) -> Coverage:
    return 1 - stroke_transmittance(*lines, size, size / 512, 0.6)


def cairo_lines(size: int, lines: Lines) -> Coverage:
    import cairocffi as cairo

    surface = cairo.ImageSurface(cairo.FORMAT_A8, size, size)
    context = cairo.Context(surface)
    context.set_source_rgba(1, 1, 1, 0.6)
    context.set_line_width(size / 512)
    context.set_line_cap(cairo.LINE_CAP_BUTT)
    for (x0, y0), (x1, y1) in zip(lines[0].tolist(), lines[1].tolist(), strict=True):
        context.move_to(x0, y0)
        context.line_to(x1, y1)
        context.stroke()
    surface.flush()
    rows = np.ndarray((size, surface.get_stride()), np.uint8, surface.get_data())
    return rows[:, :size] / 255


def skia_lines(size: int, lines: Lines) -> Coverage:
    import skia

    info = skia.ImageInfo.Make(size, size, skia.kAlpha_8_ColorType, skia.kPremul_AlphaType)
    surface = skia.Surface.MakeRaster(info)
    canvas = surface.getCanvas()
    paint = skia.Paint(
        AntiAlias=True,
        Color=skia.Color4f(1, 1, 1, 0.6),
        StrokeWidth=size / 512,
        Style=skia.Paint.kStroke_Style,
        StrokeCap=skia.Paint.kButt_Cap,
    )
    for (x0, y0), (x1, y1) in zip(lines[0].tolist(), lines[1].tolist(), strict=True):
        canvas.drawLine(x0, y0, x1, y1, paint)
    pixels = surface.makeImageSnapshot().toarray(colorType=skia.kAlpha_8_ColorType)
    return pixels.reshape(size, size) / 255


def main() -> None:
    rasterisers: dict[str, Callable[[int, Lines], Coverage]] = {
        "aggdraw (Lantern)": aggdraw_lines,
        "numpy exact-area": numpy_lines,
        "cairo (cairocffi)": cairo_lines,
        "skia-python": skia_lines,
    }
    for size in (512, 1024):
        lines = flow_lines(Gen1Settings(), size, 0.7)
        results: dict[str, tuple[float, Coverage]] = {}
        for name, draw in rasterisers.items():
            try:
                times = []
                for _ in range(7):
                    start = time.perf_counter()
                    coverage = draw(size, lines)
                    times.append(time.perf_counter() - start)
            except ImportError:
                print(f"({name} left out: not installed)")
                continue
            results[name] = (1000 * statistics.median(times), coverage)
        reference = "cairo (cairocffi)" if "cairo (cairocffi)" in results else "numpy exact-area"
        ours_ms = results["aggdraw (Lantern)"][0]
        heading = f"{size} px, {len(lines[0])} strokes; differences from {reference}"
        print(f"\n{heading}, in 8-bit levels\n")
        print("| rasteriser | ms | ×aggdraw | mean abs diff | 99.9th pct | total ink ×ref |")
        print("|---|---:|---:|---:|---:|---:|")
        ref = results[reference][1]
        for name, (ms, coverage) in results.items():
            diff = np.abs(coverage - ref) * 255
            print(
                f"| {name} | {ms:.1f} | {ms / ours_ms:.2f} | {diff.mean():.2f}"
                f" | {np.percentile(diff, 99.9):.1f} | {coverage.sum() / ref.sum():.3f} |"
            )


if __name__ == "__main__":
    main()
