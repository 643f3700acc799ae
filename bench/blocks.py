"""Frame blocks through Kafka or through a shared folder: the same jobs both ways, in one run.

    .venv/bin/python bench/blocks.py                       # 20 default jobs, each way twice
    .venv/bin/python bench/blocks.py --jobs 10 --size 256 --frames 40 --repeat 1   # a quick look

For each way (``LANTERN_STORE_BLOCKS_VIA=kafka`` and ``=disk``, alternating, ``--repeat``
times) a fresh ``lantern up --workers 2`` (its own embedded broker and store in a temp dir): a
warm-up of 4 jobs, then the measured batch of N jobs submitted at once and followed on their
event streams to the end. Printed per run: jobs/min (N over the batch's wall time), CPU seconds
over the batch by kind of process (from /proc: the broker, the workers' event loops, the render
processes, the API), peak RSS (VmHWM) of the broker and of each worker's own process, the
workers' RSS once the batch is over, what the broker holds afterwards of the ``frames`` topic
and of the assembler's ``frame-blocks`` changelog (their log folders), and the cores that
processes outside the stack kept busy meanwhile (from /proc/stat: the figures mean little
unless that is near 0).

Then, without a broker, what carrying a block costs by encoding: base64 (what the ``frames``
events use), base85, and zlib + base64, on one task's blocks (10 frames, default art).

    .venv/bin/python bench/blocks.py --sizes     # only the size of a run's event; ~1 minute

The ``frames`` event of one task (as many frames as the split gives a task of that size), for
default and dense art at 512², 865² and 1024², against the bound (every pixel a 12-bit LZW code)
and ``LANTERN_KAFKA_MAX_MESSAGE_BYTES``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from latency import wait_ready  # noqa: E402
from load import WALLET, artworks, process_tree, run_job, stack_env, start_up  # noqa: E402

from lantern.contract import FrameBlock, JobSpec  # noqa: E402
from lantern.settings import KafkaSettings  # noqa: E402
from render import Gen1Settings, RenderOptions, plan_palette, render_blocks  # noqa: E402
from streams.blocks import render_carried  # noqa: E402
from streams.broker import free_port  # noqa: E402
from streams.lanes import frames_per_task  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
WAYS = ("kafka", "disk")


@dataclass
class Proc:
    """One process of the stack: its kind, CPU seconds so far, peak and current RSS (MB)."""

    kind: str
    cpu: float
    hwm: float
    rss: float


@dataclass
class Run:
    way: str
    jobs: int
    completed: int
    wall: float
    cpu: dict[str, float] = field(default_factory=dict)
    broker_hwm: float = 0.0
    worker_hwm: list[float] = field(default_factory=list)
    worker_rss_after: list[float] = field(default_factory=list)
    frames_mb: float = 0.0
    changelog_mb: float = 0.0
    others: float = 0.0  # cores busy with processes outside the stack during the batch

    @property
    def per_min(self) -> float:
        return 60 * self.completed / self.wall


def kind_of(pid: int) -> str:
    """broker, worker, api, render, up or other, from the command line (and the parent's)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "gone"
    if "kafka.Kafka" in cmd:
        return "broker"
    if "-m lantern" in cmd:
        words = cmd.split()
        return next((w for w in words if w in ("up", "worker", "api")), "other")
    if "forkserver" in cmd:
        ppid = next(line.split()[1] for line in status.splitlines() if line[:5] == "PPid:")
        try:
            parent = Path(f"/proc/{ppid}/cmdline").read_bytes()
        except OSError:
            parent = b""
        return "render" if b"forkserver" in parent else "other"
    return "other"


def snapshot(root: int) -> dict[int, Proc]:
    """Every process under ``root`` now."""
    procs = {}
    for pid in process_tree(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        cpu = (int(stat[11]) + int(stat[12])) / TICK  # utime, stime
        fields = {line.split(":")[0]: line.split()[1:] for line in status.splitlines()}
        hwm = int(fields.get("VmHWM", ["0"])[0]) / 1024
        rss = int(fields.get("VmRSS", ["0"])[0]) / 1024
        procs[pid] = Proc(kind_of(pid), cpu, hwm, rss)
    return procs


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICK


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


async def batch(base: str, n: int, options: dict[str, int], seed: int) -> tuple[int, float]:
    bodies = [{"settings": s, "options": options, "wallet": WALLET} for s in artworks(n, seed)]
    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as http:
        results = await asyncio.gather(*(run_job(http, base, b) for b in bodies))
    return sum(state == "completed" for state, _ in results), time.perf_counter() - started


def measure(way: str, n: int, options: dict[str, int], seed: int) -> Run:
    tmp = Path(tempfile.mkdtemp(prefix=f"lantern-blocks-{way}-"))
    port = free_port()
    env = {**stack_env(tmp, port), "LANTERN_STORE_BLOCKS_VIA": way}
    base = f"http://127.0.0.1:{port}"
    up = start_up(tmp, env, "--workers", "2")
    try:
        wait_ready(base, up)
        time.sleep(5)  # both workers through their first rebalance
        asyncio.run(batch(base, 4, options, seed=seed + 1000))  # warm-up, not measured
        before, busy = snapshot(up.pid), machine_busy()
        completed, wall = asyncio.run(batch(base, n, options, seed=seed))
        after, busy = snapshot(up.pid), machine_busy() - busy
        time.sleep(2)
        settled = snapshot(up.pid)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(120)
    run = Run(way, n, completed, wall)
    for pid, proc in after.items():
        start = before[pid].cpu if pid in before else 0.0
        run.cpu[proc.kind] = run.cpu.get(proc.kind, 0.0) + proc.cpu - start
    run.others = (busy - sum(run.cpu.values())) / wall
    run.broker_hwm = max((p.hwm for p in after.values() if p.kind == "broker"), default=0.0)
    workers = sorted(pid for pid, p in after.items() if p.kind == "worker")
    run.worker_hwm = [after[pid].hwm for pid in workers]
    run.worker_rss_after = [settled[pid].rss for pid in workers if pid in settled]
    kafka = tmp / "kafka"
    run.frames_mb = sum(folder_mb(d) for d in kafka.rglob("lantern.frames-*") if d.is_dir())
    run.changelog_mb = sum(
        folder_mb(d) for d in kafka.rglob("lantern-frame-blocks-changelog-*") if d.is_dir()
    )
    shutil.rmtree(tmp, ignore_errors=True)  # measured: the logs and the blocks (gigabytes)
    return run


def encodings(options: dict[str, int]) -> list[tuple[str, float, float, float]]:
    """(name, size against the raw bytes, raw MB, encode + decode MB/s of raw bytes) per
    encoding, on the blocks of one task (10 frames) of default art."""
    settings, opts = Gen1Settings(), RenderOptions.from_dict(options)
    blocks = render_blocks(settings, opts, plan_palette(settings, opts), 40, 50)
    raw = sum(map(len, blocks))
    ways: dict[str, tuple[Any, Any]] = {
        "base64": (base64.b64encode, base64.b64decode),
        "base85": (base64.b85encode, base64.b85decode),
        "zlib(1) + base64": (
            lambda b: base64.b64encode(zlib.compress(b, 1)),
            lambda e: zlib.decompress(base64.b64decode(e)),
        ),
    }
    rows = []
    for name, (encode, decode) in ways.items():
        times = []
        for _ in range(5):
            started = time.perf_counter()
            encoded = [encode(block) for block in blocks]
            decoded = [decode(text) for text in encoded]
            times.append(time.perf_counter() - started)
        assert decoded == blocks
        size = sum(map(len, encoded))
        rows.append((name, size / raw, raw / 1e6, raw / 1e6 / statistics.median(times)))
    return rows


ART = {
    "default": {},
    "dense lines": {"flowFields": {"lineDensity": 0.3, "lineLength": 30}},
    "many contours": {"contour": {"levels": 20, "octaves": 6}},
    "noisy lines": {
        "flowFields": {"lineDensity": 0.5, "lineLength": 5, "baseFrequency": 0.05, "octaves": 8,
                       "amplitude": 3},
        "contour": {"levels": 20, "octaves": 8, "baseFrequency": 0.05, "smoothness": 0},
    },
}  # fmt: skip


def largest_block(size: int) -> int:
    """The most bytes a frame's block can take (as tests/unit/streams/test_blocks.py)."""
    codes = size * size + size * size // 4093 + 2
    data = -(-codes * 12 // 8)
    return data + -(-data // 255) + 20


def event_sizes(sizes: list[int]) -> None:
    """Print the size of one task's ``frames`` event per art and frame size."""
    limit = KafkaSettings().max_message_bytes
    print(f"one task's frames event, MB (LANTERN_KAFKA_MAX_MESSAGE_BYTES: {limit / 1e6:.2f} MB)")
    print("\n| art | " + " | ".join(f"{s}² × {frames_per_task(RenderOptions(size=s), 10)}"
                                 for s in sizes) + " |")  # fmt: skip
    print("|---|" + "---:|" * len(sizes))
    for name, raw in ART.items():
        settings, cells = Gen1Settings.from_dict(raw), []
        for size in sizes:
            options = RenderOptions(size=size, frames=100)
            palette = plan_palette(settings, options)
            count = frames_per_task(options, 10)
            digests, blocks = render_carried(settings, options, palette, 40, 40 + count)
            spec = JobSpec(job_id="0" * 32, settings=settings.to_dict(),
                           options=options.to_dict(), wallet=WALLET, palette=palette.hex(),
                           submitted_at=time.time())  # fmt: skip
            event = FrameBlock(spec=spec, index=40, digests=digests, blocks=blocks)
            cells.append(f"{len(event.dumps()) / 1e6:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    bound = [largest_block(s) * frames_per_task(RenderOptions(size=s), 10) * 4 / 3 for s in sizes]
    print("| bound (base64) | " + " | ".join(f"{b / 1e6:.2f}" for b in bound) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sizes", action="store_true", help="only the size of a run's event")
    args = parser.parse_args()
    options = {"size": args.size, "frames": args.frames}
    if args.sizes:
        event_sizes([512, 865, 1024])
        return

    runs = []
    for round_ in range(args.repeat):
        for way in WAYS:
            run = measure(way, args.jobs, options, seed=args.jobs)
            runs.append(run)
            print(f"round {round_ + 1} {way}: {run.completed}/{run.jobs} in {run.wall:.1f}s",
                  flush=True)  # fmt: skip

    print(
        f"\n{args.jobs} jobs of {args.size}², {args.frames} frames, `lantern up --workers 2`\n\n"
        "| blocks via | completed | jobs/min | broker CPU-s | event loops CPU-s | render CPU-s "
        "| API CPU-s | broker peak MB | workers' peak MB | workers after MB "
        "| frames topic MB | blocks changelog MB | others, cores |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|"
    )
    for r in runs:
        print(
            f"| {r.way} | {r.completed}/{r.jobs} | {r.per_min:.1f} | {r.cpu.get('broker', 0):.1f} "
            f"| {r.cpu.get('worker', 0):.1f} | {r.cpu.get('render', 0):.1f} "
            f"| {r.cpu.get('api', 0):.1f} | {r.broker_hwm:.0f} "
            f"| {' / '.join(f'{m:.0f}' for m in r.worker_hwm)} "
            f"| {' / '.join(f'{m:.0f}' for m in r.worker_rss_after)} "
            f"| {r.frames_mb:.1f} | {r.changelog_mb:.1f} | {r.others:.2f} |"
        )
    print(f"\nencoding one task's blocks (10 frames of {args.size}², default art):\n")
    print("| encoding | size / raw | raw MB | encode + decode, MB/s |\n|---|---:|---:|---:|")
    for name, ratio, raw_mb, speed in encodings(options):
        print(f"| {name} | {ratio:.3f} | {raw_mb:.2f} | {speed:.0f} |")


if __name__ == "__main__":
    main()
