"""Lantern's two line rasters against Chromium's canvas: PSNR per preset, and stroke time.

    .venv/bin/python bench/raster_browser.py [--repeat 15] [--frames 0 23 61]

Chromium (Debian's /usr/bin/chromium, headless, software raster: Skia on the CPU) draws
GEN1_SPEC §2 with the canvas page of tests/browser/test_raster_browser.py; Lantern renders the
same 512 px frames with raster="cairo" (exact-area AGG strokes) and raster="browser" (Skia's
hairlines, render/hairline.py). Per preset: the PSNR of each against Chromium (mean and
minimum over the frames); the same with the flow lines switched off in both (what the
gradient and contour layers differ by on their own); and, for the lines alone, how
many pixels differ when Chromium strokes Lantern's segments over Lantern's gradient. Stroke
time is `draw_strokes` alone on one frame's lines, the median of --repeat runs, one process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from render import Gen1Settings, RenderOptions, frame_time, render_frame  # noqa: E402
from render.art import LINE_ALPHA, LINE_RGB  # noqa: E402
from render.layers import background, flow_lines  # noqa: E402
from render.strokes import draw_strokes  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.browser.test_raster_browser import (  # noqa: E402
    PRESETS,
    chromium_frame,
    chromium_strokes,
    open_art_page,
    psnr,
)

RASTERS = ("cairo", "browser")


def without_lines(settings: dict[str, Any]) -> Gen1Settings:
    lines = {**settings.get("flowFields", {}), "enabled": False}
    return Gen1Settings.from_dict({**settings, "flowFields": lines})


def stroke_ms(settings: Gen1Settings, raster: str, repeat: int) -> tuple[int, float]:
    """(lines, median ms) of draw_strokes on frame 23's lines over its gradient."""
    options = RenderOptions()
    phase, angle = frame_time(options, 23, settings.flow_field.direction)
    starts, ends = flow_lines(settings, options.size, phase)
    under = background(settings.flow_field, options.size, angle)
    times = []
    for _ in range(repeat):
        image = under.copy()
        began = time.perf_counter()
        draw_strokes(image, starts, ends, 1.0, LINE_RGB, LINE_ALPHA, raster)
        times.append(time.perf_counter() - began)
    return len(starts), statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--frames", type=int, nargs="+", default=[0, 23, 61])
    args = parser.parse_args()
    options = RenderOptions()
    print(f"512 px, frames {args.frames} of 100 (loop timing); PSNR in dB against Chromium\n")
    print("| preset | cairo mean | cairo min | browser mean | browser min | lines off in both "
          "| lines alone: pixels ≠ Chromium (browser / cairo) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = open_art_page(browser)
        for name, preset in PRESETS.items():
            settings, bare = Gen1Settings.from_dict(preset), without_lines(preset)
            scores: dict[str, list[float]] = {raster: [] for raster in RASTERS}
            ceiling = []
            for index in args.frames:
                reference = chromium_frame(page, settings, options, index)
                for raster in RASTERS:
                    chosen = RenderOptions(raster=raster)
                    scores[raster].append(psnr(render_frame(settings, chosen, index), reference))
                plain = chromium_frame(page, bare, options, index)
                ceiling.append(psnr(render_frame(bare, options, index), plain))
            phase, angle = frame_time(options, args.frames[0], settings.flow_field.direction)
            under = background(settings.flow_field, options.size, angle)
            starts, ends = flow_lines(settings, options.size, phase)
            lines = chromium_strokes(page, np.asarray(under), starts, ends)
            differing = []
            for raster in ("browser", "cairo"):
                image = under.copy()
                draw_strokes(image, starts, ends, 1.0, LINE_RGB, LINE_ALPHA, raster)
                differing.append(int((np.asarray(image) != lines).any(axis=2).sum()))
            print(
                f"| {name} | {statistics.mean(scores['cairo']):.2f} | {min(scores['cairo']):.2f}"
                f" | {statistics.mean(scores['browser']):.2f} | {min(scores['browser']):.2f}"
                f" | {statistics.mean(ceiling):.2f} | {differing[0]} / {differing[1]} |"
            )
        browser.close()

    print(f"\nstroke time, draw_strokes on one frame's lines, median of {args.repeat} runs\n")
    print("| preset | lines | cairo ms | browser ms | browser ×cairo |")
    print("|---|---:|---:|---:|---:|")
    for name, preset in PRESETS.items():
        settings = Gen1Settings.from_dict(preset)
        count, cairo = stroke_ms(settings, "cairo", args.repeat)
        _, hairline = stroke_ms(settings, "browser", args.repeat)
        print(f"| {name} | {count} | {cairo:.2f} | {hairline:.2f} | {hairline / cairo:.2f} |")


if __name__ == "__main__":
    main()
