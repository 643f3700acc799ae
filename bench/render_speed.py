"""Render speed: per frame at 512 and 1024 px, the whole 100-frame job, one process vs two.

    .venv/bin/python bench/render_speed.py               # 3 runs, medians
    .venv/bin/python bench/render_speed.py --repeat 5

One-core figures run pinned to one CPU (sched_setaffinity); the two-process job gets both.
Each figure is printed beside its target and as a ratio against its peer from the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from render import (  # noqa: E402
    Gen1Settings,
    RenderOptions,
    plan_palette,
    render_block,
    render_frame,
    render_gif,
)

SETTINGS = Gen1Settings()


def seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def frame_ms(size: int, frames: int = 100) -> float:
    """The median time of one frame over a loop of `frames` frames, in ms."""
    options = RenderOptions(size=size, frames=frames)
    return 1000 * statistics.median(
        seconds(lambda i=i: render_frame(SETTINGS, options, i)) for i in range(frames)
    )


def block_ms(size: int, frames: int = 100) -> float:
    """A stream worker's cost per frame: render_block renders frames i and i-1, encodes i."""
    options = RenderOptions(size=size, frames=frames)
    palette = plan_palette(SETTINGS, options)
    return 1000 * statistics.median(
        seconds(lambda i=i: render_block(SETTINGS, options, palette, i))
        for i in range(1, frames, 5)
    )


def job_s(processes: int, size: int = 512, frames: int = 100) -> float:
    options = RenderOptions(size=size, frames=frames)
    return seconds(lambda: render_gif(SETTINGS, options, processes=processes))


def render_only_s(size: int = 512, frames: int = 100) -> float:
    options = RenderOptions(size=size, frames=frames)
    return seconds(lambda: [render_frame(SETTINGS, options, i) for i in range(frames)])


def shown(med: dict[str, float], key: str) -> str:
    """The median figure ``key`` in its unit, the key's last word: ms to 2 places, s to 3."""
    unit = key.rsplit(" ", 1)[-1]
    return f"{med[key]:.{2 if unit == 'ms' else 3}f} {unit}"


def against(med: dict[str, float], key: str, limit: float, note: str = "") -> tuple[str, str, str]:
    """The measured, target and ratio cells of a figure whose target is at most ``limit`` (in
    the figure's unit); ``note`` follows the ratio."""
    unit = key.rsplit(" ", 1)[-1]
    return shown(med, key), f"≤ {limit:g} {unit}", f"{med[key] / limit:.2f}× target{note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    runs: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        os.sched_setaffinity(0, cpus[:1])
        figures = {
            "frame 512 ms": frame_ms(512),
            "frame 1024 ms": frame_ms(1024),
            "block 512 ms": block_ms(512),
            "render only 100x512 s": render_only_s(),
            "job 1 process s": job_s(1),
        }
        os.sched_setaffinity(0, cpus)
        figures["job 2 processes s"] = job_s(2)
        for name, value in figures.items():
            runs.setdefault(name, []).append(value)
    med = {name: statistics.median(values) for name, values in runs.items()}
    speedup = med["job 1 process s"] / med["job 2 processes s"]
    scale = med["frame 1024 ms"] / med["frame 512 ms"]
    share = 1 - med["render only 100x512 s"] / med["job 1 process s"]
    block = med["block 512 ms"] / med["frame 512 ms"]
    rows = [
        ("render_frame, 512 px, one core", *against(med, "frame 512 ms", 15)),
        ("render_frame, 1024 px, one core",
         *against(med, "frame 1024 ms", 60, f"; {scale:.2f}× 512 px")),
        ("100 frames rendered only, 512 px", *against(med, "render only 100x512 s", 1.5)),
        ("whole job (render+encode), 1 process", shown(med, "job 1 process s"), "< 2 s",
         f"encode+palette {share:.0%} of it"),
        ("whole job, 2 processes", shown(med, "job 2 processes s"), "≥ 1.6× faster",
         f"{speedup:.2f}× faster than 1 process"),
        ("render_block (stream), 512 px", shown(med, "block 512 ms"), "-",
         f"{block:.2f}× render_frame"),
    ]  # fmt: skip
    print(f"Render speed, median of {args.repeat} runs, default settings, 100 frames\n")
    print("| figure | measured | target | ratio |")
    print("|---|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(
        "\nevery run: "
        + "; ".join(f"{k} {', '.join(f'{v:.3g}' for v in vs)}" for k, vs in runs.items())
    )


if __name__ == "__main__":
    main()
