"""POST → completed latency of default jobs, one at a time, against the same artworks rendered
in-process with no stack running.

    .venv/bin/python bench/latency.py                 # its own `lantern up` in a temp dir
    .venv/bin/python bench/latency.py --workers 2     # two workers, one render process each
    .venv/bin/python bench/latency.py --url http://127.0.0.1:8080 --jobs 5

Each job is followed on its event stream, as the creator page does: the time is the moment
`completed` arrives, and no polling loop shares the cores with the job. The in-process peer
renders and encodes the same artworks in a 2-process pool (`render_gif`, no broker) before the
stack starts and again after it stops, so it has the machine to itself as a caller with no
pipeline would (an idle stack beside it took 5 % from it); each artwork's figure is the mean of
the two. Prints each job, the medians and their ratio, and the time to the first progress
beyond `queued`. With ``--url`` the stack is someone else's and stays up: the in-process runs
then share the machine with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from render import Gen1Settings, RenderOptions, render_gif  # noqa: E402
from streams.broker import free_port  # noqa: E402

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
# a pause before each measured run: a finished job still has records to commit and copies to
# catch up for a moment after `completed`, which would otherwise land on the next run
SETTLE_S = 1.0


def request(url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


async def follow(
    http: aiohttp.ClientSession, base: str, body: dict[str, Any]
) -> tuple[float, float]:
    """Submit, then read the job's event stream to `completed`: (seconds to it, seconds to the
    first state beyond `queued`)."""
    started = time.perf_counter()
    async with http.post(f"{base}/api/v1/mints", json=body) as response:
        if response.status != 202:
            raise SystemExit(f"refused {response.status}: {await response.text()}")
        job_id = (await response.json())["job_id"]
    first = 0.0
    async with http.get(f"{base}/api/v1/jobs/{job_id}/events") as response:
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            job = json.loads(line[5:])
            if not first and job["state"] != "queued":
                first = time.perf_counter() - started
            if job["state"] == "failed":
                raise SystemExit(f"job failed: {job.get('error')}")
            if job["state"] == "completed":
                return time.perf_counter() - started, first
    raise SystemExit(f"event stream of {job_id} ended before the job did")


def in_process(settings: dict[str, Any]) -> float:
    """Seconds to render and encode the artwork with a fresh 2-process pool, as `render_gif`
    does for a caller with no pipeline."""
    started = time.perf_counter()
    render_gif(Gen1Settings.from_dict(settings), RenderOptions.from_dict({}), processes=2)
    return time.perf_counter() - started


def wait_ready(base: str, proc: subprocess.Popen[bytes] | None, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit("lantern up exited")
        try:
            request(f"{base}/readyz")
            return
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.5)
    raise SystemExit("not ready")


def artwork(i: int) -> dict[str, Any]:
    """Distinct settings per job, so no cache or identical-CID shortcut is measured."""
    return {"flowFields": {"lineLength": 20 + i}}


def in_process_runs(jobs: int) -> list[float]:
    """Seconds of each artwork in-process, after one warm-up run."""
    in_process({"contour": {"levels": 3}})
    times = []
    for i in range(jobs):
        time.sleep(SETTLE_S)
        times.append(in_process(artwork(i)))
    return times


async def pipeline_runs(base: str, jobs: int, warmup: int) -> list[tuple[float, float]]:
    """(seconds to `completed`, seconds to the first progress) of each artwork, one at a time."""
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for i in range(warmup):
            await follow(http, base, {"settings": {"contour": {"levels": 3 + i}}, "wallet": WALLET})
        results = []
        for i in range(jobs):
            await asyncio.sleep(SETTLE_S)
            results.append(await follow(http, base, {"settings": artwork(i), "wallet": WALLET}))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running Lantern; default: start one")
    parser.add_argument("--workers", type=int, default=1, help="workers of the stack started")
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    proc = None
    base = args.url
    before = in_process_runs(args.jobs)
    if base is None:
        tmp = Path(tempfile.mkdtemp(prefix="lantern-bench-"))
        port = free_port()
        env = {
            **os.environ,
            "LANTERN_KAFKA_DATA_DIR": str(tmp / "kafka"),
            "LANTERN_STORE_ROOT": str(tmp / "ipfs"),
            "LANTERN_CHAIN_DATA_DIR": str(tmp / "chain"),
            "LANTERN_API_PORT": str(port),
            "LANTERN_KAFKA_BOOTSTRAP": "",
        }
        log = (tmp / "up.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "lantern", "--loglevel", "warning", "up"),
                *("--workers", str(args.workers)),
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        time.sleep(2 + 3 * (args.workers - 1))  # let the workers finish joining their groups
        results = asyncio.run(pipeline_runs(base, args.jobs, args.warmup))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
            shutil.rmtree(tmp, ignore_errors=True)
    after = in_process_runs(args.jobs)
    alone = [(a + b) / 2 for a, b in zip(before, after, strict=True)]
    for i, ((total, first), peer) in enumerate(zip(results, alone, strict=True)):
        print(
            f"job {i + 1}: {total:.2f}s to completed ({first:.2f}s to first progress), "
            f"in-process {peer:.2f}s ({before[i]:.2f} before, {after[i]:.2f} after): "
            f"{total / peer:.2f}x"
        )
    pipeline = statistics.median(total for total, _ in results)
    peer = statistics.median(alone)
    print(
        f"median POST→completed over {args.jobs} default jobs (512², 100 frames), "
        f"{args.workers} worker(s): {pipeline:.2f}s (min {min(t for t, _ in results):.2f}s, "
        f"max {max(t for t, _ in results):.2f}s); in-process, 2 processes, no stack: "
        f"{peer:.2f}s (min {min(alone):.2f}s, max {max(alone):.2f}s); "
        f"ratio of medians {pipeline / peer:.2f}x"
    )


if __name__ == "__main__":
    main()
