"""POST → completed latency of default jobs, one at a time, against the same artworks rendered
in-process with no stack running.

    .venv/bin/python bench/latency.py                 # its own `lantern up` in a temp dir
    .venv/bin/python bench/latency.py --workers 2     # two workers, one render process each
    .venv/bin/python bench/latency.py --url http://127.0.0.1:8080 --jobs 5

Each job is followed on its event stream, as the creator page does: the time is the moment
`completed` arrives, and no polling loop shares the cores with the job. The in-process peer
renders and encodes the same artwork in a 2-process pool (`render_gif`, no broker).

With its own stack the bench measures in pairs: for each artwork the peer runs right before the
job, with every process of the stack stopped (SIGSTOP, then SIGCONT), so the peer has the
machine to itself as a caller with no pipeline would (an idle stack beside it took 5 % from
it), and both halves of a pair meet the same state of the machine: on a shared 2-core machine
the speed of identical work drifts by 10 % and more within a minute, more than the difference
being measured. Prints each pair, the medians, the ratio of the medians, and the median and
quartiles of the pairs' own ratios.

With ``--url`` the stack is someone else's and stays up: the peer runs before and after the
jobs, sharing the machine with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


def stack_pids(root: int) -> list[int]:
    """``root`` and every process under it (the broker, workers, render processes, API, chain)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def peer_alone(root: int, settings: dict[str, Any]) -> float:
    """``in_process`` with every process of the stack under ``root`` stopped meanwhile."""
    pids = stack_pids(root)
    signal_all(pids, signal.SIGSTOP)
    try:
        time.sleep(SETTLE_S)
        return in_process(settings)
    finally:
        signal_all(pids, signal.SIGCONT)


def in_process_runs(jobs: int) -> list[float]:
    """Seconds of each artwork in-process, after one warm-up run."""
    in_process({"contour": {"levels": 3}})
    times = []
    for i in range(jobs):
        time.sleep(SETTLE_S)
        times.append(in_process(artwork(i)))
    return times


async def pipeline_runs(
    base: str, jobs: int, warmup: int, root: int | None = None
) -> list[tuple[float, float, float]]:
    """(seconds to `completed`, seconds to the first progress, the peer's seconds) of each
    artwork, one at a time. With ``root`` (the stack's own process) each job follows its peer,
    run with the stack stopped (``peer_alone``); without, the peer is timed apart (0 here)."""
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for i in range(warmup):
            await follow(http, base, {"settings": {"contour": {"levels": 3 + i}}, "wallet": WALLET})
        if root is not None:
            peer_alone(root, {"contour": {"levels": 3}})  # warms the peer, checks stop and go
        results = []
        for i in range(jobs):
            peer = 0.0 if root is None else peer_alone(root, artwork(i))
            await asyncio.sleep(SETTLE_S)  # the stack catches up on its timers first
            total, first = await follow(http, base, {"settings": artwork(i), "wallet": WALLET})
            results.append((total, first, peer))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running Lantern; default: start one")
    parser.add_argument("--workers", type=int, default=1, help="workers of the stack started")
    parser.add_argument("--jobs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    if args.url:
        report(someone_elses(args.url, args.jobs, args.warmup), args.workers, alone=False)
        return
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
        results = asyncio.run(pipeline_runs(base, args.jobs, args.warmup, root=proc.pid))
    finally:
        signal_all(stack_pids(proc.pid), signal.SIGCONT)  # never leave it stopped
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, args.workers, alone=True)


def someone_elses(base: str, jobs: int, warmup: int) -> list[tuple[float, float, float]]:
    """A running stack's jobs, the peer before and after them (sharing the machine with it)."""
    wait_ready(base, None)
    before = in_process_runs(jobs)
    results = asyncio.run(pipeline_runs(base, jobs, warmup))
    after = in_process_runs(jobs)
    return [
        (total, first, (a + b) / 2)
        for (total, first, _), a, b in zip(results, before, after, strict=True)
    ]


def report(results: list[tuple[float, float, float]], workers: int, *, alone: bool) -> None:
    """Each pair, then the medians and ratios (``alone``: the peer ran with the stack stopped)."""
    for i, (total, first, peer) in enumerate(results):
        print(
            f"job {i + 1}: {total:.2f}s to completed ({first:.2f}s to first progress), "
            f"in-process {peer:.2f}s: {total / peer:.2f}x"
        )
    totals = [total for total, _, _ in results]
    peers = [peer for _, _, peer in results]
    ratios = [total / peer for total, _, peer in results]
    low, _mid, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    print(
        f"median POST→completed over {len(results)} default jobs (512², 100 frames), "
        f"{workers} worker(s): {statistics.median(totals):.2f}s (min {min(totals):.2f}s, "
        f"max {max(totals):.2f}s); in-process, 2 processes, "
        f"{'the stack stopped' if alone else 'beside the stack'}: "
        f"{statistics.median(peers):.2f}s (min {min(peers):.2f}s, max {max(peers):.2f}s); "
        f"ratio of medians {statistics.median(totals) / statistics.median(peers):.2f}x; "
        f"pairs' ratios: median {statistics.median(ratios):.2f}x, quartiles {low:.2f}-{high:.2f}x"
    )


if __name__ == "__main__":
    main()
