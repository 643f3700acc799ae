"""How well `render.estimate` predicts a job's GIF size, and what the estimate costs.

Renders random settings in full and compares the real GIF size with `estimate_gif_bytes` and
`gif_size_bound`. Prints one line per artwork and a summary (ratio estimate / real).

    .venv/bin/python bench/gif_size.py [--count 10] [--size 512] [--frames 24] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from render import Gen1Settings, RenderOptions, render_gif
from render.estimate import estimate_gif_bytes, gif_size_bound


def random_settings(rng: random.Random) -> dict[str, Any]:
    """Settings drawn across every field's whole range (dense lines drawn more often)."""

    def wave() -> dict[str, Any]:
        return {
            "baseFrequency": rng.uniform(0.001, 0.05),
            "amplitude": rng.uniform(0.1, 3),
            "octaves": rng.randint(1, 8),
        }

    return {
        "flowField": {
            **wave(),
            "enabled": rng.random() < 0.9,
            "color1": f"#{rng.getrandbits(24):06x}",
            "color2": f"#{rng.getrandbits(24):06x}",
            "direction": rng.choice([1, -1]),
            "rotation": rng.uniform(0, 360),
        },
        "flowFields": {
            **wave(),
            "enabled": rng.random() < 0.9,
            "lineLength": rng.uniform(5, 100),
            "lineDensity": rng.choice([rng.uniform(0.01, 0.5), 0.5]),
            "rotation": rng.uniform(0, 360),
            "direction": rng.choice([1, -1]),
        },
        "contour": {
            **wave(),
            "enabled": rng.random() < 0.7,
            "levels": rng.randint(2, 20),
            "smoothness": rng.uniform(0, 1),
        },
        "contourAffectsFlow": rng.random() < 0.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    options = RenderOptions(size=args.size, frames=args.frames)
    bound = gif_size_bound(options)
    ratios, costs = [], []
    print(f"{args.count} random artworks, {args.size}² × {args.frames} frames; bound {bound} B")
    for n in range(args.count):
        settings = Gen1Settings.from_dict(random_settings(rng))
        started = time.perf_counter()
        estimate = estimate_gif_bytes(settings, options)
        cost = time.perf_counter() - started
        real = len(render_gif(settings, options, processes=args.processes))
        assert real <= bound, (real, bound)
        ratios.append(estimate / real)
        costs.append(cost)
        print(
            f"#{n:2d} real {real:>10,} B ({real / args.size**2 / args.frames:.3f} B/px)  "
            f"estimate {estimate:>10,} B  ratio {estimate / real:.2f}  in {cost * 1000:.0f} ms"
        )
    print(
        f"estimate / real: min {min(ratios):.2f}  median {statistics.median(ratios):.2f}  "
        f"max {max(ratios):.2f}; estimate cost median {statistics.median(costs) * 1000:.0f} ms, "
        f"max {max(costs) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
