"""Load: 10, 50 and 100 concurrent submissions against `lantern up --workers 2`.

    .venv/bin/python bench/load.py                       # the issue's levels, default artworks
    .venv/bin/python bench/load.py --levels 10 --size 256 --frames 40   # a quick look

Prints, per level: accepted, completed, failed, p50/p95/max latency (POST → completed, each job
followed on its event stream as the creator page does, so no polling loads the machine), jobs
per minute, and the peak RSS of every process of the stack; then the single-job latency (p50 of
5, one at a time) and, per level, the in-process baseline — the same artworks rendered
and encoded by a 2-process pool with no broker — with the pipeline's throughput as a share of it.
The artworks differ in line length, and long lines cost several times short ones to draw, so each
level is compared with a baseline over exactly its own artworks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lantern.processes import spawn  # noqa: E402
from render import Gen1Settings, RenderOptions, render_gif  # noqa: E402
from streams.broker import free_port  # noqa: E402

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"


def stack_env(tmp: Path, port: int) -> dict[str, str]:
    """`lantern up` on its own embedded broker and store under ``tmp``, with no per-client
    limit: every job comes from this one address and wallet, each followed on its own event
    stream (the per-client work budget and stream cap would otherwise refuse most of them)."""
    return {
        **os.environ,
        "LANTERN_KAFKA_BOOTSTRAP": "",
        "LANTERN_KAFKA_DATA_DIR": str(tmp / "kafka"),
        "LANTERN_STORE_ROOT": str(tmp / "ipfs"),
        "LANTERN_CHAIN_DATA_DIR": str(tmp / "chain"),  # its own local chain (lantern up)
        "LANTERN_API_PORT": str(port),
        "LANTERN_API_WALLET_RATE_PER_MIN": "0",
        "LANTERN_API_IP_RATE_PER_MIN": "0",
        "LANTERN_API_CLIENT_FRAMES_PER_MIN": "0",
        "LANTERN_API_EVENT_STREAMS_PER_CLIENT": "1000",
        "LANTERN_API_TARPIT_AFTER": "0",
    }


def start_up(tmp: Path, env: dict[str, str], *up_args: str) -> subprocess.Popen[bytes]:
    """`lantern up *up_args` with ``env``, its log in ``tmp/up.log``."""
    return spawn(["--loglevel", "warning", "up", *up_args], env, tmp / "up.log")


def artworks(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` distinct settings (different line lengths and colours), deterministic."""
    return [
        {
            "flowFields": {"lineLength": 10 + (seed * 7 + i) % 80},
            "flowField": {"color1": f"#{(seed * 7919 + i * 104729) % (1 << 24):06x}"},
        }
        for i in range(n)
    ]


async def run_job(
    http: aiohttp.ClientSession, base: str, body: dict[str, Any]
) -> tuple[str, float]:
    """Submit, then follow the job's event stream (as the creator page does) to its end."""
    started = time.perf_counter()
    async with http.post(f"{base}/api/v1/mints", json=body) as response:
        if response.status != 202:
            return f"refused {response.status}", time.perf_counter() - started
        job_id = (await response.json())["job_id"]
    state = "unknown"
    async with http.get(f"{base}/api/v1/jobs/{job_id}/events") as response:
        async for raw in response.content:
            line = raw.decode().strip()
            if line.startswith("data:"):
                state = json.loads(line[5:])["state"]
                if state in ("completed", "failed"):
                    break
    return state, time.perf_counter() - started


async def level(base: str, n: int, options: dict[str, int], seed: int) -> dict[str, Any]:
    bodies = [{"settings": s, "options": options, "wallet": WALLET} for s in artworks(n, seed)]
    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as http:
        results = await asyncio.gather(*(run_job(http, base, b) for b in bodies))
    wall = time.perf_counter() - started
    done = sorted(t for state, t in results if state == "completed")
    return {
        "n": n,
        "accepted": sum(1 for state, _ in results if not state.startswith("refused")),
        "completed": len(done),
        "failed": sum(1 for state, _ in results if state == "failed"),
        "p50": statistics.median(done) if done else float("nan"),
        "p95": done[int(0.95 * (len(done) - 1))] if done else float("nan"),
        "max": done[-1] if done else float("nan"),
        "per_min": 60 * len(done) / wall,
        "wall": wall,
    }


def _render(body: dict[str, Any], options: dict[str, int]) -> int:
    gif = render_gif(Gen1Settings.from_dict(body), RenderOptions.from_dict(options), processes=1)
    return len(gif)


def baseline(n: int, options: dict[str, int], seed: int) -> float:
    """Jobs per minute of a 2-process pool rendering and encoding the same artworks."""
    started = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_render, artworks(n, seed), [options] * n))
    return 60 * n / (time.perf_counter() - started)


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def peak_rss(root: int) -> list[tuple[str, float]]:
    """(command, peak RSS in MB) of every process under ``root``."""
    rows = []
    for pid in process_tree(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        hwm = next(
            (line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")), "0"
        )
        if "kafka.Kafka" in cmd:
            name = "kafka broker"
        elif "streams" in cmd:
            words = cmd.split()
            name = "lantern " + next((w for w in words if w in ("up", "worker", "api")), "?")
        elif "resource_tracker" in cmd:
            name = "multiprocessing resource tracker"
        elif "forkserver" in cmd:  # the forkserver and the render processes it forks
            ppid = next(line.split()[1] for line in status.splitlines() if line[:5] == "PPid:")
            try:
                parent = Path(f"/proc/{ppid}/cmdline").read_bytes()
            except OSError:
                parent = b""
            name = "render process" if b"forkserver" in parent else "forkserver"
        else:
            name = cmd[:60]
        rows.append((name, int(hwm) / 1024))
    return rows


async def single_latency(base: str, options: dict[str, int]) -> float:
    async with aiohttp.ClientSession() as http:
        times = []
        for body in artworks(5, seed=99):
            state, t = await run_job(
                http, base, {"settings": body, "options": options, "wallet": WALLET}
            )
            assert state == "completed", state
            times.append(t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    options = {"size": args.size, "frames": args.frames}

    tmp = Path(tempfile.mkdtemp(prefix="lantern-load-"))
    port = free_port()
    env = stack_env(tmp, port)
    base = f"http://127.0.0.1:{port}"
    up = start_up(tmp, env, "--workers", "2")
    try:
        from latency import wait_ready  # the same readiness probe as bench/latency.py

        wait_ready(base, up)
        time.sleep(5)  # both workers through their first rebalance
        print(f"load against `lantern up --workers 2`, {args.size}², {args.frames} frames")
        single = asyncio.run(single_latency(base, options))
        rows = [asyncio.run(level(base, n, options, seed=n)) for n in args.levels]
        rss = peak_rss(up.pid)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(120)
    for r in rows:
        r["baseline"] = baseline(r["n"], options, seed=r["n"])

    print(
        f"\n{'jobs':>5} {'accepted':>8} {'completed':>9} {'failed':>6} {'p50 s':>7} "
        f"{'p95 s':>7} {'max s':>7} {'jobs/min':>8} {'baseline':>8} {'share':>6}"
    )
    for r in rows:
        print(
            f"{r['n']:>5} {r['accepted']:>8} {r['completed']:>9} {r['failed']:>6} "
            f"{r['p50']:>7.2f} {r['p95']:>7.2f} {r['max']:>7.2f} {r['per_min']:>8.1f} "
            f"{r['baseline']:>8.1f} {r['per_min'] / r['baseline']:>6.0%}"
        )
    print(f"\nsingle job POST → completed, p50 of 5: {single:.2f}s")
    print("baseline: jobs/min of a 2-process pool, no broker, over the level's own artworks")
    print("\npeak RSS by process (MB):")
    for name, mb in sorted(rss, key=lambda r: -r[1]):
        if mb > 1:
            print(f"  {mb:8.1f}  {name}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
