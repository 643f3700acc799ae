"""Scaling: jobs/min with 1, 2 and 3 workers of one render process each, on this machine.

    .venv/bin/python bench/scaling.py                       # 30 default jobs per count
    .venv/bin/python bench/scaling.py --jobs 20 --workers 1 2 --size 256 --frames 40

Each count runs on a fresh `lantern up --workers N` (its own embedded broker and store,
LANTERN_WORKER_PROCESSES=1, no rate limits), waits for every worker to have joined, submits the
same artworks at once and follows each job's event stream to its end (bench/load.py's `level`).
Prints jobs/min, p50/max latency, and the machine's cores: past the core count a worker adds
no render capacity, only its share of the broker and event-loop work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from latency import wait_ready  # noqa: E402
from load import level, stack_env, start_up  # noqa: E402

from streams.broker import free_port  # noqa: E402


def run(workers: int, jobs: int, options: dict[str, int]) -> dict[str, Any]:
    """One fresh stack with ``workers`` workers: the level's figures."""
    tmp = Path(tempfile.mkdtemp(prefix=f"lantern-scale{workers}-"))
    port = free_port()
    env = {**stack_env(tmp, port), "LANTERN_WORKER_PROCESSES": "1"}
    base = f"http://127.0.0.1:{port}"
    up = start_up(tmp, env, "--workers", str(workers))
    try:
        wait_ready(base, up)
        time.sleep(3 + 2 * workers)  # every worker through its first rebalance
        return asyncio.run(level(base, jobs, options, seed=7))
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(120)
        shutil.rmtree(tmp, ignore_errors=True)  # the broker's logs and the blocks: gigabytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    options = {"size": args.size, "frames": args.frames}
    print(f"scaling: {args.jobs} jobs of {args.size}² × {args.frames} frames, "
          f"workers of 1 render process, {os.cpu_count()} cores")  # fmt: skip
    rows = [(n, run(n, args.jobs, options)) for n in args.workers]
    first = rows[0][1]["per_min"]
    print(
        f"\n{'workers':>7} {'completed':>9} {'jobs/min':>8} {'vs 1':>6} {'p50 s':>7} {'max s':>7}"
    )
    for n, r in rows:
        print(
            f"{n:>7} {r['completed']:>6}/{r['n']:<2} {r['per_min']:>8.1f} "
            f"{r['per_min'] / first:>5.2f}x {r['p50']:>7.2f} {r['max']:>7.2f}"
        )


if __name__ == "__main__":
    main()
