"""GIF encoders side by side on the same rendered frames: time, size, PSNR, rate-quality.

    .venv/bin/python bench/encoders.py                         # every preset, 512 and 1024
    .venv/bin/python bench/encoders.py --sizes 512 --presets default --repeat 1
    .venv/bin/python bench/encoders.py --peers ffmpeg gifski gifsicle pillow

The peer is ffmpeg at its best for these frames: `palettegen=stats_mode=diff` and
`paletteuse=dither=none` in one filter graph (no dithering gives it its best PSNR here; its
bayer and error-diffusion ditherers are larger and worse, see the rate-quality points).
Every encoder gets the same rendered frames; inputs are prepared before timing (raw RGB in a
file for ffmpeg, PNGs for gifski, frames in memory for Lantern and Pillow). Cold caches on
both sides: Lantern's colour tables are emptied before every run (`quantizer_for`), and every
ffmpeg run is a new process. Times are wall times of the encoder alone, the median of
--repeat runs, one thread unless the name says otherwise. PSNR: every decoded frame (Pillow,
compositing as a viewer does) against the rendered frame, mean over frames.

Rate-quality points: Lantern at several colour tolerances (render.Encoding.tolerance);
ffmpeg with each of its ditherers and with smaller palettes. `--plot DIR` writes one SVG per
preset and size.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import numpy.typing as npt
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from render import (  # noqa: E402
    DEFAULT_TOLERANCE,
    Encoding,
    Gen1Settings,
    RenderOptions,
    encode_gif,
    render_frame,
)
from render.palette import quantizer_for  # noqa: E402

Frame = npt.NDArray[np.uint8]

PRESETS: dict[str, dict[str, object]] = {
    "default": {},
    "dense lines": {"flowFields": {"lineDensity": 0.25, "lineLength": 35}},
    "contours": {
        "flowField": {"color1": "#f97316", "color2": "#7c3aed"},
        "contour": {"enabled": True, "levels": 8},
    },
}
DELAY_MS = 30
TOLERANCES = [0, DEFAULT_TOLERANCE, 50, 100, 200]
# every thread option ffmpeg has; none of its GIF path's filters or encoder is threaded
THREADS = ("-threads", "2", "-filter_threads", "2", "-filter_complex_threads", "2")
GIFSKI = ROOT / "bench" / "node_modules" / "gifski" / "bin" / "debian" / "gifski"
FFMPEG_BEST = "palettegen=stats_mode=diff", "paletteuse=dither=none"
# ffmpeg's other operating points: each ditherer, and fewer colours without dithering
FFMPEG_POINTS = {
    "ffmpeg bayer 5": ("palettegen=stats_mode=diff", "paletteuse=dither=bayer:bayer_scale=5"),
    "ffmpeg bayer 3": ("palettegen=stats_mode=diff", "paletteuse=dither=bayer:bayer_scale=3"),
    "ffmpeg sierra2_4a": ("palettegen=stats_mode=diff", "paletteuse=dither=sierra2_4a"),
    "ffmpeg 128 colours": ("palettegen=stats_mode=diff:max_colors=128", "paletteuse=dither=none"),
    "ffmpeg 64 colours": ("palettegen=stats_mode=diff:max_colors=64", "paletteuse=dither=none"),
}


@dataclass
class Result:
    name: str
    seconds: float
    size: int
    psnr_mean: float
    psnr_min: float
    frames: int
    timed: bool = True  # False: a rate-quality point, run once


@dataclass
class Case:
    preset: str
    size: int
    results: list[Result] = field(default_factory=list)

    def get(self, name: str) -> Result | None:
        return next((r for r in self.results if r.name == name), None)


def psnr(decoded: Frame, frame: Frame) -> float:
    """Peak signal-to-noise ratio in dB of one decoded frame against the original."""
    mse = float(np.mean((decoded.astype(np.float32) - frame.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def decode_psnr(gif: bytes, frames: list[Frame]) -> tuple[float, float, int]:
    """Mean and minimum PSNR of every decoded frame (Pillow composites each frame)."""
    values = []
    with Image.open(io.BytesIO(gif)) as image:
        count = image.n_frames
        for index in range(min(count, len(frames))):
            image.seek(index)
            values.append(psnr(np.asarray(image.convert("RGB")), frames[index]))
    return statistics.fmean(values), min(values), count


def timed(run: Callable[[], bytes], repeat: int) -> tuple[float, bytes]:
    """The median wall time of `repeat` runs and the output of the last one."""
    times = []
    out = b""
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def run_process(args: list[str], out: Path) -> bytes:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return out.read_bytes()


def lantern(frames: list[Frame], encoding: Encoding, threads: int) -> Callable[[], bytes]:
    def run() -> bytes:
        quantizer_for.cache_clear()  # a cold colour table, as a worker meets a new artwork
        return encode_gif(frames, DELAY_MS, encoding=encoding, threads=threads)

    return run


def ffmpeg(
    raw: Path, size: int, out: Path, filters: tuple[str, str], flags: tuple[str, ...] = ()
) -> Callable[[], bytes]:
    args = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *flags, "-f", "rawvideo"]
    args += ["-pix_fmt", "rgb24", "-s", f"{size}x{size}", "-framerate", f"1000/{DELAY_MS}"]
    graph = f"[0:v]split[a][b];[a]{filters[0]}[p];[b][p]{filters[1]}"
    args += ["-i", str(raw), "-filter_complex", graph, "-loop", "0", str(out)]
    return lambda: run_process(args, out)


def encoders(
    frames: list[Frame], work: Path, peers: list[str]
) -> tuple[dict[str, Callable[[], bytes]], dict[str, Callable[[], bytes]]]:
    """(timed encoders, rate-quality points), each a no-argument run returning GIF bytes."""
    size = frames[0].shape[0]
    raw = work / "frames.rgb"
    raw.write_bytes(b"".join(frame.tobytes() for frame in frames))
    timed_runs: dict[str, Callable[[], bytes]] = {
        "lantern": lantern(frames, Encoding(), threads=1),
        "lantern 2 threads": lantern(frames, Encoding(), threads=2),
        "lantern lossless": lantern(frames, Encoding(tolerance=0), threads=1),
        "ffmpeg": ffmpeg(raw, size, work / "ffmpeg.gif", FFMPEG_BEST),
        "ffmpeg 2 threads": ffmpeg(raw, size, work / "ffmpeg.gif", FFMPEG_BEST, THREADS),
    }
    points: dict[str, Callable[[], bytes]] = {
        f"lantern tolerance {t}": lantern(frames, Encoding(tolerance=t), threads=1)
        for t in TOLERANCES
        if t not in (0, DEFAULT_TOLERANCE)
    }
    for name, filters in FFMPEG_POINTS.items():
        points[name] = ffmpeg(raw, size, work / "ffmpeg-point.gif", filters)
    if "gifski" in peers:
        if GIFSKI.exists():
            pngs = []
            for index, frame in enumerate(frames):
                pngs.append(str(work / f"{index:04d}.png"))
                Image.fromarray(frame).save(pngs[-1], compress_level=1)
            fps = f"{1000 / DELAY_MS:.3f}"
            gifski = [str(GIFSKI), "-q", "-r", fps, "-W", str(size), "--repeat", "0"]
            timed_runs["gifski"] = lambda: run_process(
                [*gifski, "-o", str(work / "gifski.gif"), *pngs], work / "gifski.gif"
            )
        else:
            print(f"(gifski left out: {GIFSKI} missing; run `npm --prefix bench ci`)")
    if "gifsicle" in peers:
        full = work / "lantern-lossless-full.gif"
        full.write_bytes(
            encode_gif(frames, DELAY_MS, encoding=Encoding(optimise=False, tolerance=0))
        )
        out = work / "gifsicle.gif"
        timed_runs["gifsicle -O3 (of lantern lossless)"] = lambda: run_process(
            ["gifsicle", "-O3", str(full), "-o", str(out)], out
        )
    if "pillow" in peers:
        images = [Image.fromarray(frame) for frame in frames]

        def pillow() -> bytes:
            out = io.BytesIO()
            images[0].save(
                out, "GIF", save_all=True, append_images=images[1:], duration=DELAY_MS, loop=0
            )
            return out.getvalue()

        timed_runs["pillow save_all"] = pillow
    return timed_runs, points


def bench(preset: str, size: int, frame_count: int, repeat: int, peers: list[str]) -> Case:
    settings = Gen1Settings.from_dict(PRESETS[preset])
    options = RenderOptions(size=size, frames=frame_count)
    frames = [render_frame(settings, options, index) for index in range(frame_count)]
    case = Case(preset, size)
    with tempfile.TemporaryDirectory(prefix="lantern-bench-") as tmp:
        timed_runs, points = encoders(frames, Path(tmp), peers)
        # interleaved: each round runs every timed encoder once, so drift in the machine's
        # load reaches all of them alike
        times: dict[str, list[float]] = {name: [] for name in timed_runs}
        outputs: dict[str, bytes] = {}
        for _ in range(repeat):
            for name, run in timed_runs.items():
                seconds, outputs[name] = timed(run, 1)
                times[name].append(seconds)
        for name in timed_runs:
            mean, low, count = decode_psnr(outputs[name], frames)
            seconds = statistics.median(times[name])
            case.results.append(Result(name, seconds, len(outputs[name]), mean, low, count))
        for name, run in points.items():
            seconds, gif = timed(run, 1)
            mean, low, count = decode_psnr(gif, frames)
            case.results.append(Result(name, seconds, len(gif), mean, low, count, timed=False))
    return case


def checks(case: Case) -> list[tuple[str, bool]]:
    ours, ff = case.get("lantern"), case.get("ffmpeg")
    assert ours is not None and ff is not None
    return [
        (f"time ≤ ½ ffmpeg ({ours.seconds / ff.seconds:.2f}×)", ours.seconds <= ff.seconds / 2),
        (f"size ≤ ffmpeg ({ours.size / ff.size:.2f}×)", ours.size <= ff.size),
        (
            f"PSNR ≥ ffmpeg ({ours.psnr_mean - ff.psnr_mean:+.2f} dB)",
            ours.psnr_mean >= ff.psnr_mean,
        ),
    ]


def table(case: Case) -> str:
    ours, ff = case.get("lantern"), case.get("ffmpeg")
    assert ours is not None and ff is not None
    lines = [
        f"### {case.preset}, {case.size} px, {ours.frames} frames",
        "",
        "| encoder | time s | ×ffmpeg | size MB | ×ffmpeg | PSNR mean dB | vs ffmpeg"
        " | PSNR min dB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in case.results:
        seconds = f"{r.seconds:.3f}" if r.timed else f"({r.seconds:.2f})"
        lines.append(
            f"| {r.name} | {seconds} | {r.seconds / ff.seconds:.2f} | {r.size / 1e6:.2f}"
            f" | {r.size / ff.size:.2f} | {r.psnr_mean:.2f} | {r.psnr_mean - ff.psnr_mean:+.2f}"
            f" | {r.psnr_min:.2f} |"
        )
    lines += [
        "",
        "Targets: " + "; ".join(f"{t} {'met' if ok else 'MISSED'}" for t, ok in checks(case)),
    ]
    if any(r.frames != ours.frames for r in case.results):
        lines.append(
            "Frame counts differ: " + ", ".join(f"{r.name} {r.frames}" for r in case.results)
        )
    return "\n".join(lines) + "\n"


def plot(case: Case, path: Path) -> None:
    """Rate-quality: every encoder's points, size (MB) across, PSNR (dB) up, as an SVG; the
    tolerance sweep of Lantern (one thread) joined by a line."""
    width, height, margin = 640, 420, 56
    shown = [r for r in case.results if "threads" not in r.name]
    x0, x1 = min(r.size for r in shown) / 1e6 * 0.95, max(r.size for r in shown) / 1e6 * 1.05
    y0, y1 = min(r.psnr_mean for r in shown) - 0.5, max(r.psnr_mean for r in shown) + 0.5

    def xy(r: Result) -> tuple[float, float]:
        x = margin + (r.size / 1e6 - x0) / (x1 - x0) * (width - 2 * margin)
        y = height - margin - (r.psnr_mean - y0) / (y1 - y0) * (height - 2 * margin)
        return x, y

    colours = {"lantern": "#2563eb", "ffmpeg": "#dc2626", "gifski": "#16a34a"}
    bottom, right = height - margin, width - margin
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{case.preset},'
        f" {case.size} px: GIF size against PSNR (up and to the left is better)</text>",
        f'<line x1="{margin}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>',
        f'<line x1="{margin}" y1="{margin}" x2="{margin}" y2="{bottom}" stroke="black"/>',
        f'<text x="{width / 2}" y="{height - 16}" text-anchor="middle">size, MB</text>',
        f'<text x="16" y="{height / 2}" transform="rotate(-90 16 {height / 2})" '
        'text-anchor="middle">PSNR, dB</text>',
    ]
    for i in range(5):
        px = margin + (width - 2 * margin) * i / 4
        py = bottom - (height - 2 * margin) * i / 4
        parts.append(
            f'<text x="{px:.0f}" y="{bottom + 14}" text-anchor="middle">'
            f"{x0 + (x1 - x0) * i / 4:.1f}</text>"
        )
        parts.append(
            f'<text x="{margin - 6}" y="{py + 4:.0f}" text-anchor="end">'
            f"{y0 + (y1 - y0) * i / 4:.1f}</text>"
        )
    sweep = sorted(
        (r for r in shown if r.name in ("lantern", "lantern lossless") or "tolerance" in r.name),
        key=lambda r: r.size,
    )
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, sweep))
    parts.append(f'<polyline points="{line}" fill="none" stroke="{colours["lantern"]}"/>')
    labels = {
        "lantern": f"lantern (tolerance {DEFAULT_TOLERANCE}, the default)",
        "lantern lossless": "lantern lossless",
        f"lantern tolerance {TOLERANCES[-1]}": f"tolerance {TOLERANCES[-1]}",
    }
    for r in shown:
        x, y = xy(r)
        colour = colours.get(r.name.split()[0], "#6b7280")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
        label = labels.get(r.name, "" if "tolerance" in r.name else r.name)
        if label:  # the sweep's middle points sit too close together to name
            below = r.name == f"lantern tolerance {TOLERANCES[-1]}"
            parts.append(
                f'<text x="{x + 6:.1f}" y="{y + (14 if below else -6):.1f}" '
                f'fill="{colour}">{label}</text>'
            )
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the timed encoders")
    parser.add_argument(
        "--peers",
        nargs="*",
        default=[],
        choices=["gifski", "gifsicle", "pillow"],
        help="more encoders to time besides ffmpeg",
    )
    parser.add_argument("--plot", type=Path, help="write a rate-quality SVG per case here")
    args = parser.parse_args()
    cases = []
    for size in args.sizes:
        for preset in args.presets:
            case = bench(preset, size, args.frames, args.repeat, args.peers)
            cases.append(case)
            print(table(case), flush=True)
            if args.plot:
                args.plot.mkdir(parents=True, exist_ok=True)
                slug = f"{preset.replace(' ', '-')}-{size}"
                plot(case, args.plot / f"rate-quality-{slug}.svg")
    print("### Summary against ffmpeg at its best (Lantern on one thread)\n")
    header = ["time ≤ ½ ffmpeg", "size ≤ ffmpeg", "PSNR ≥ ffmpeg"]
    print("| case | " + " | ".join(header) + " |")
    print("|---|" + "---|" * len(header))
    for case in cases:
        cells = [
            f"{text.split('(')[1].rstrip(')')} {'met' if ok else '**missed**'}"
            for text, ok in checks(case)
        ]
        print(f"| {case.preset} {case.size} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
