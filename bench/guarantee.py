"""Exactly-once (Kafka transactions) against at-least-once, under `lantern up --workers 2`.

    .venv/bin/python bench/guarantee.py            # ALO, EOS, EOS, ALO at 512², 100 frames
    .venv/bin/python bench/guarantee.py --order alo eos --size 256 --frames 40   # a quick look
    .venv/bin/python bench/guarantee.py --root /tmp/snapshot   # the stack from another checkout

Each run starts the stack on a fresh data dir with ``LANTERN_KAFKA_PROCESSING_GUARANTEE`` set,
submits one warm-up job, then measures the single-job latency (POST → completed, p50 of 5, one
at a time) and the throughput of 20 concurrent jobs (jobs/min, p50/p95 latency; every job must
complete within ``--job-timeout``), and stops the stack. The same artworks in every run. Jobs are
followed on their event streams as bench/load.py does. Alongside: CPU seconds per job of the
stack's processes during the 20 jobs (from /proc, less noisy than wall time on a shared machine)
and the CPU other processes took meanwhile, in cores, as a gauge of the noise.

The runs go in the given order (ABBA by default, so a linear drift of the machine falls on both
modes alike); the table shows every run, then each mode's median and the ratio EOS/ALO. If a
mode fails to start or jobs do not finish, the warnings and errors of the stack's log
(``<data dir>/up.log``: broker wrapper, workers and API) and the broker's log are printed,
alike lines counted together. A run whose warm-up job does not end is cut short. The data
dirs of runs where every job completed are removed (``--keep`` keeps them).

``--root`` runs the stack's code from another checkout (``git archive HEAD`` unpacked elsewhere,
say), so that edits landing in this tree during the runs do not change the code measured; the
Kafka jars are still taken from this tree's ``.lantern/kafka/libs``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency import wait_ready
from load import (
    ROOT,
    WALLET,
    artworks,
    cpu_by_kind,
    machine_busy,
    process_tree,
    run_job,
    stack_env,
)

from streams.broker import free_port

MODES = {"alo": "at_least_once", "eos": "exactly_once"}


async def follow(
    http: aiohttp.ClientSession, base: str, body: dict[str, Any], timeout: float
) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        return await asyncio.wait_for(run_job(http, base, body), timeout)
    except TimeoutError:
        return "timeout", time.perf_counter() - started
    except aiohttp.ClientError as exc:
        return f"error {exc!r}", time.perf_counter() - started


def bodies(n: int, seed: int, options: dict[str, int]) -> list[dict[str, Any]]:
    return [{"settings": s, "options": options, "wallet": WALLET} for s in artworks(n, seed)]


async def sequential(
    base: str, jobs: list[dict[str, Any]], timeout: float
) -> list[tuple[str, float]]:
    async with aiohttp.ClientSession() as http:
        return [await follow(http, base, body, timeout) for body in jobs]


async def concurrent(
    base: str, jobs: list[dict[str, Any]], timeout: float
) -> tuple[list[tuple[str, float]], float]:
    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        results = await asyncio.gather(*(follow(http, base, body, timeout) for body in jobs))
    return list(results), time.perf_counter() - started


def log_problems(path: Path, limit: int = 12) -> list[str]:
    """The warnings and errors of a log, alike ones counted together, most frequent first."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    keys = ("WARN", "ERROR", " W ", " E ", "Crashed", "exited")
    counts: dict[str, int] = {}
    for line in lines:
        if "DBG" in line or not any(k in line for k in keys):
            continue
        # drop the timestamp and pid, and make ids, numbers and partitions alike
        text = re.sub(r"^\[[^]]*\] \[\d+\] |^\S+ \S+ ", "", line.strip())
        text = re.sub(r"\b[0-9a-f]{32}\b", "<job>", text)
        text = re.sub(r"\d+(\.\d+)?", "N", text)
        counts[text] = counts.get(text, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return [f"{n:>4}x {text}" for text, n in ranked[:limit]]


def one_run(mode: str, args: argparse.Namespace, index: int) -> dict[str, Any]:
    options = {"size": args.size, "frames": args.frames}
    tmp = Path(tempfile.mkdtemp(prefix=f"lantern-guarantee-{index}-{mode}-"))
    port = free_port()
    env = {
        **stack_env(tmp, port),
        "LANTERN_KAFKA_PROCESSING_GUARANTEE": MODES[mode],
        "LANTERN_KAFKA_LIBS_DIR": str(ROOT / ".lantern" / "kafka" / "libs"),
    }
    if args.root != ROOT:  # the stack's code from another checkout (a snapshot)
        env["PYTHONPATH"] = str(args.root)
    base = f"http://127.0.0.1:{port}"
    row: dict[str, Any] = {"mode": mode, "dir": tmp, "load": os.getloadavg()[0], "ok": False}
    command = [sys.executable, "-m", "lantern", "--loglevel", args.loglevel, "up"]
    with (tmp / "up.log").open("wb") as log:
        up = subprocess.Popen(
            [*command, "--workers", str(args.workers)],
            env=env,
            cwd=args.root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    print(f"run {index + 1}: {MODES[mode]}, data {tmp}", flush=True)
    try:
        started = time.perf_counter()
        wait_ready(base, up)
        row["ready_s"] = time.perf_counter() - started
        time.sleep(5)  # both workers through their first rebalance, as bench/load.py
        warm = asyncio.run(sequential(base, bodies(1, 7, options), args.job_timeout))
        row["warmup"] = warm[0]
        if warm[0][0] in ("timeout", "unknown") or warm[0][0].startswith("error"):
            raise RuntimeError(f"warm-up job {warm[0][0]} after {warm[0][1]:.0f}s; run skipped")
        single = asyncio.run(sequential(base, bodies(5, 99, options), args.job_timeout))
        row["single"] = single
        cpu0, busy0 = cpu_by_kind(up.pid), machine_busy()
        results, wall = asyncio.run(
            concurrent(base, bodies(args.jobs, 20, options), args.job_timeout)
        )
        cpu1, busy1 = cpu_by_kind(up.pid), machine_busy()
        row["results"], row["wall"] = results, wall
        ours = {k: cpu1.get(k, 0.0) - cpu0.get(k, 0.0) for k in cpu1}
        row["cpu"] = ours
        row["others_cores"] = max(0.0, busy1 - busy0 - sum(ours.values())) / wall
        row["ok"] = all(s == "completed" for s, _ in [*warm, *single, *results])
    except (SystemExit, RuntimeError) as exc:  # the stack exited, never ready, or hangs
        row["error"] = str(exc)
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(120)
        except subprocess.TimeoutExpired:
            for pid in reversed(process_tree(up.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            up.wait()
    summarise(row, args)
    if row["ok"] and not args.keep:  # ~0.3-0.6 GB each: broker logs and GIFs
        shutil.rmtree(tmp, ignore_errors=True)
    return row


def summarise(row: dict[str, Any], args: argparse.Namespace) -> None:
    if "results" in row:
        single = [t for s, t in row["single"] if s == "completed"]
        done = sorted(t for s, t in row["results"] if s == "completed")
        row["single_p50"] = statistics.median(single) if single else float("nan")
        row["completed"] = len(done)
        row["failed"] = sum(1 for s, _ in row["results"] if s != "completed")
        row["p50"] = statistics.median(done) if done else float("nan")
        row["p95"] = done[int(0.95 * (len(done) - 1))] if done else float("nan")
        row["per_min"] = 60 * len(done) / row["wall"]
        row["cpu_per_job"] = sum(row["cpu"].values()) / len(done) if done else float("nan")
        states = [s for s, _ in [row["warmup"], *row["single"], *row["results"]]]
        bad = sorted({s for s in states if s != "completed"})
        print(
            f"  ready {row['ready_s']:.1f}s, warm-up {row['warmup'][1]:.2f}s, "
            f"single {', '.join(f'{t:.2f}' for _, t in row['single'])} s, "
            f"{args.jobs} jobs {row['completed']}/{args.jobs} in {row['wall']:.1f}s"
            + (
                f"; NOT COMPLETED: {states.count('completed')} of {len(states)}, {bad}"
                if bad
                else ""
            ),
            flush=True,
        )
    if not row["ok"]:
        print(f"  {MODES[row['mode']]} did not complete every job: {row.get('error', '')}")
        for name in ("up.log", "kafka/broker.log"):
            problems = log_problems(row["dir"] / name)
            print(f"  {name}, warnings and errors (N: any number):")
            for line in problems:
                print(f"    {line[:300]}")


def median_of(rows: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in rows if key in r]
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--order", nargs="+", choices=sorted(MODES), default=["alo", "eos", "eos", "alo"]
    )
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=20, help="concurrent jobs per run")
    parser.add_argument("--workers", type=int, default=2, help="`lantern up --workers N`")
    parser.add_argument("--job-timeout", type=float, default=300.0, help="seconds per job")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="run the stack from this checkout (a snapshot)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep every run's data dir (default: failed runs')"
    )
    parser.add_argument("--loglevel", default="warning", choices=["debug", "info", "warning"])
    args = parser.parse_args()

    print(
        f"exactly_once against at_least_once, `lantern up --workers {args.workers}`, {args.size}², "
        f"{args.frames} frames, {args.jobs} concurrent jobs; order {' '.join(args.order)}; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    rows = [one_run(mode, args, i) for i, mode in enumerate(args.order)]

    kinds = ("workers", "render", "broker", "api")
    print(
        f"\n{'run':>3} {'mode':<14} {'load':>5} {'others':>6} {'single':>7} {'done':>6} "
        f"{'p50 s':>7} {'p95 s':>7} {'jobs/min':>8} {'CPU-s/job':>9}  "
        + " ".join(f"{k:>7}" for k in kinds)
    )
    for i, r in enumerate(rows, 1):
        if "results" not in r:
            print(f"{i:>3} {MODES[r['mode']]:<14} {r['load']:>5.2f}  failed: {r.get('error')}")
            continue
        n = r["completed"] or float("nan")  # nothing completed: no per-job figures
        print(
            f"{i:>3} {MODES[r['mode']]:<14} {r['load']:>5.2f} {r['others_cores']:>6.2f} "
            f"{r['single_p50']:>7.2f} {r['completed']:>3}/{args.jobs:<2} {r['p50']:>7.2f} "
            f"{r['p95']:>7.2f} {r['per_min']:>8.1f} {r['cpu_per_job']:>9.2f}  "
            + " ".join(f"{r['cpu'].get(k, 0.0) / n:>7.2f}" for k in kinds)
        )
    by_mode = {m: [r for r in rows if r["mode"] == m and "results" in r] for m in MODES}
    keys = ("single_p50", "p50", "p95", "per_min", "cpu_per_job")
    medians = {m: {k: median_of(by_mode[m], k) for k in keys} for m in MODES}
    print(
        f"\n{'median of runs':<18} {'single s':>8} {'p50 s':>7} {'p95 s':>7} {'jobs/min':>8} "
        f"{'CPU-s/job':>9}"
    )
    for m in MODES:
        v = medians[m]
        print(
            f"{MODES[m]:<18} {v['single_p50']:>8.2f} {v['p50']:>7.2f} {v['p95']:>7.2f} "
            f"{v['per_min']:>8.1f} {v['cpu_per_job']:>9.2f}"
        )
    ratio = {k: medians["eos"][k] / medians["alo"][k] for k in keys}
    print(
        f"{'EOS / ALO':<18} {ratio['single_p50']:>8.2f} {ratio['p50']:>7.2f} "
        f"{ratio['p95']:>7.2f} {ratio['per_min']:>8.2f} {ratio['cpu_per_job']:>9.2f}"
    )
    every = all(r["ok"] for r in rows)
    print(
        "\nsingle: POST → completed, p50 of 5 one at a time; p50/p95/jobs/min: the concurrent "
        "jobs; load: 1-min load average before the run; others: cores used by other processes "
        "during the concurrent jobs; CPU-s/job: the stack's CPU during them, by kind after it"
    )
    print("every job completed in every run" if every else "NOT every job completed: see above")


if __name__ == "__main__":
    main()
