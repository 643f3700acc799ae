"""GIF encoders side by side on the same rendered frames: time, size, PSNR, and ratios.

    .venv/bin/python bench/encoders.py                        # every preset, 512 and 1024
    .venv/bin/python bench/encoders.py --sizes 512 --repeat 1 --presets default

Encoders: Lantern (`render.encode_gif`: defaults in one process and in two; without
inter-frame optimisation; dithered), Pillow's default `save_all`,
ffmpeg palettegen + paletteuse (the binary from imageio-ffmpeg, one filter graph, defaults),
gifski (npm `gifski`, `npm --prefix bench ci`), and gifsicle -O3 (Debian) re-optimising
Lantern's full-frame GIF. Times are wall times of the encoder alone (inputs already on
disk or in memory), the median of --repeat runs; PSNR is of every decoded frame against
the rendered frame. Each figure is also printed as a ratio to Lantern's from the same run.
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
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import numpy.typing as npt
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from render import Encoding, Gen1Settings, RenderOptions, encode_gif, render_frame  # noqa: E402

Frame = npt.NDArray[np.uint8]

PRESETS: dict[str, dict[str, object]] = {
    "default": {},
    "dense lines": {"flowFields": {"lineDensity": 0.3, "lineLength": 30}},
    "many contours": {"contour": {"levels": 20, "octaves": 6}},
}
DELAY_MS = 30
FULL = Encoding(optimise=False)  # every block a whole frame: what gifsicle -O3 starts from
DITHERED = Encoding(dither=True)
GIFSKI = ROOT / "bench" / "node_modules" / "gifski" / "bin" / "debian" / "gifski"


@dataclass
class Result:
    name: str
    seconds: float
    size: int
    psnr_mean: float
    psnr_min: float
    frames: int


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


def encoders(frames: list[Frame], work: Path) -> dict[str, Callable[[], bytes]]:
    """Every encoder as a no-argument run returning GIF bytes; inputs are prepared here."""
    size = frames[0].shape[0]
    raw = work / "frames.rgb"
    raw.write_bytes(b"".join(frame.tobytes() for frame in frames))
    pngs = []
    for index, frame in enumerate(frames):
        pngs.append(str(work / f"{index:04d}.png"))
        Image.fromarray(frame).save(pngs[-1], compress_level=1)
    images = [Image.fromarray(frame) for frame in frames]
    full = work / "lantern-full.gif"
    full.write_bytes(encode_gif(frames, DELAY_MS, encoding=FULL))
    fps = f"{1000 / DELAY_MS:.3f}"

    def pillow() -> bytes:
        out = io.BytesIO()
        images[0].save(
            out, "GIF", save_all=True, append_images=images[1:], duration=DELAY_MS, loop=0
        )
        return out.getvalue()

    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo"]
    ffmpeg += ["-pix_fmt", "rgb24", "-s", f"{size}x{size}", "-framerate", f"1000/{DELAY_MS}"]
    ffmpeg += [
        "-i",
        str(raw),
        "-filter_complex",
        "[0:v]split[a][b];[a]palettegen[p];[b][p]paletteuse",
    ]
    ffmpeg += ["-loop", "0", str(work / "ffmpeg.gif")]
    gifski = [str(GIFSKI), "-q", "-r", fps, "-W", str(size), "--repeat", "0"]
    gifski += ["-o", str(work / "gifski.gif"), *pngs]
    gifsicle = ["gifsicle", "-O3", str(full), "-o", str(work / "gifsicle.gif")]
    runs: dict[str, Callable[[], bytes]] = {
        "lantern": lambda: encode_gif(frames, DELAY_MS),
        "lantern 2 proc": lambda: encode_gif(frames, DELAY_MS, processes=2),
        "lantern full frames": lambda: encode_gif(frames, DELAY_MS, encoding=FULL),
        "lantern dithered": lambda: encode_gif(frames, DELAY_MS, encoding=DITHERED),
        "pillow save_all": pillow,
        "ffmpeg": lambda: run_process(ffmpeg, work / "ffmpeg.gif"),
        "gifski": lambda: run_process(gifski, work / "gifski.gif"),
        "gifsicle -O3": lambda: run_process(gifsicle, work / "gifsicle.gif"),
    }
    if not GIFSKI.exists():
        print(f"(gifski left out: {GIFSKI} missing; run `npm --prefix bench ci`)")
        del runs["gifski"]
    return runs


def bench(preset: str, size: int, frame_count: int, repeat: int) -> list[Result]:
    settings = Gen1Settings.from_dict(PRESETS[preset])
    options = RenderOptions(size=size, frames=frame_count)
    frames = [render_frame(settings, options, index) for index in range(frame_count)]
    results = []
    with tempfile.TemporaryDirectory(prefix="lantern-bench-") as tmp:
        for name, run in encoders(frames, Path(tmp)).items():
            seconds, gif = timed(run, repeat)
            mean, low, count = decode_psnr(gif, frames)
            results.append(Result(name, seconds, len(gif), mean, low, count))
    return results


def table(preset: str, size: int, results: list[Result]) -> str:
    ours = results[0]
    lines = [
        f"### {preset}, {size} px, {results[0].frames} frames",
        "",
        "| encoder | time s | time ×lantern | size MB | size ×lantern | PSNR mean dB"
        " | Δ mean vs lantern | PSNR min dB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.seconds:.3f} | {r.seconds / ours.seconds:.2f} | {r.size / 1e6:.2f}"
            f" | {r.size / ours.size:.2f} | {r.psnr_mean:.2f} | {r.psnr_mean - ours.psnr_mean:+.2f}"
            f" | {r.psnr_min:.2f} |"
        )
    by_name = {r.name: r for r in results}
    checks = []
    if "ffmpeg" in by_name:
        ff = by_name["ffmpeg"]
        checks += [
            (f"time ≤ ½ ffmpeg ({ours.seconds / ff.seconds:.2f}×)", ours.seconds <= ff.seconds / 2),
            (f"size ≤ ffmpeg ({ours.size / ff.size:.2f}×)", ours.size <= ff.size),
            (
                f"PSNR ≥ ffmpeg − 0.5 dB ({ours.psnr_mean - ff.psnr_mean:+.2f} dB)",
                ours.psnr_mean >= ff.psnr_mean - 0.5,
            ),
        ]
    if "gifski" in by_name:
        gs = by_name["gifski"]
        checks += [
            (f"faster than gifski ({ours.seconds / gs.seconds:.2f}×)", ours.seconds < gs.seconds),
            (
                f"PSNR ≥ gifski ({ours.psnr_mean - gs.psnr_mean:+.2f} dB)",
                ours.psnr_mean >= gs.psnr_mean,
            ),
        ]
    lines += ["", "Targets: " + "; ".join(f"{t} {'met' if ok else 'MISSED'}" for t, ok in checks)]
    if any(r.frames != ours.frames for r in results):
        lines.append("Frame counts differ: " + ", ".join(f"{r.name} {r.frames}" for r in results))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="runs per encoder; median time")
    args = parser.parse_args()
    for size in args.sizes:
        for preset in args.presets:
            print(table(preset, size, bench(preset, size, args.frames, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
