"""Load: 10, 50 and 100 concurrent submissions against `lantern up --workers 2`.

    .venv/bin/python bench/load.py                       # the issue's levels, default artworks
    .venv/bin/python bench/load.py --levels 10 --size 256 --frames 40   # a quick look
    LANTERN_STORE_BLOCKS_VIA=kafka .venv/bin/python bench/load.py   # blocks as across machines

Prints, per level: accepted, completed, failed, p50/p95/max latency (POST → completed, each job
followed on its event stream as the creator page does, so no polling loads the machine), jobs
per minute, and the peak RSS of every process of the stack; then the single-job latency (p50 of
5, one at a time, after one not counted, beside the same artworks in-process) and, per level,
the in-process baseline — the same artworks rendered and encoded by a 2-process pool with no
broker — with the pipeline's throughput as a share of it.
The baseline runs twice, before the stack starts and after it stops, and the share is against
their mean: on a shared machine one run of it varied by 12 % between otherwise equal runs.
The artworks differ in line length, and long lines cost several times short ones to draw, so each
level is compared with a baseline over exactly its own artworks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
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
TICK = os.sysconf("SC_CLK_TCK")
KINDS = ["render", "workers", "broker", "api", "other"]


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


def accounted_level(
    base: str, root: int, bootstrap: str, n: int, options: dict[str, int]
) -> dict[str, Any]:
    """A level, with the CPU seconds each kind of process spent on it and the messages each
    topic took."""
    cpu0, busy0 = cpu_by_kind(root), machine_busy()
    messages0 = asyncio.run(topic_offsets(bootstrap))
    row = asyncio.run(level(base, n, options, seed=n))
    cpu1, busy1 = cpu_by_kind(root), machine_busy()
    messages1 = asyncio.run(topic_offsets(bootstrap))
    row["cpu"] = {kind: cpu1.get(kind, 0.0) - cpu0.get(kind, 0.0) for kind in cpu1}
    row["others_cores"] = max(0.0, busy1 - busy0 - sum(row["cpu"].values())) / row["wall"]
    row["messages"] = {t: messages1[t] - messages0.get(t, 0) for t in messages1}
    return row


def _render(body: dict[str, Any], options: dict[str, int]) -> int:
    gif = render_gif(Gen1Settings.from_dict(body), RenderOptions.from_dict(options), processes=1)
    return len(gif)


def baseline(n: int, options: dict[str, int], seed: int) -> tuple[float, float]:
    """Jobs per minute of a 2-process pool rendering and encoding the same artworks, and the
    CPU seconds per job its processes spent."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_render, artworks(n, seed), [options] * n))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the pool's processes, reaped
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return 60 * n / wall, cpu / n


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


def cpu_by_kind(root: int) -> dict[str, float]:
    """CPU seconds (user + system) of the live processes under ``root``, by kind: the render
    processes, the workers' own processes (their event loops: stages, serialisation, status
    events, tables), the broker, the API and the rest (`lantern up`, the local chain)."""
    out: dict[str, float] = {}
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "kafka.Kafka" in cmd:
            kind = "broker"
        elif " worker" in cmd:
            kind = "workers"
        elif " api" in cmd:
            kind = "api"
        elif "forkserver" in cmd or "multiprocessing" in cmd:
            kind = "render"
        else:
            kind = "other"
        # fields[11], fields[12]: utime, stime (stat fields 14, 15; the split starts at 3)
        out[kind] = out.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


async def topic_offsets(bootstrap: str) -> dict[str, int]:
    """Every Lantern topic's messages so far (the sum of its partitions' end offsets)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if not t.startswith("__")]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    ]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    totals: dict[str, int] = {}
    for partition, end in ends.items():
        totals[partition.topic] = totals.get(partition.topic, 0) + end
    return totals


def bootstrap_of(root: int) -> str:
    """The embedded broker's address, from the environment `lantern up` gave its children."""
    for pid in process_tree(root):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"LANTERN_KAFKA_BOOTSTRAP=") and len(entry) > 24:
                return entry.split(b"=", 1)[1].decode()
    raise RuntimeError("no process of the stack has LANTERN_KAFKA_BOOTSTRAP")


SINGLE = artworks(6, seed=99)  # the first warms the fresh stack up (not counted)


async def single_latency(base: str, options: dict[str, int]) -> float:
    """p50 of five jobs one at a time, after one not counted: a fresh stack's first jobs
    write to partitions never written before and run code not yet warm."""
    async with aiohttp.ClientSession() as http:
        times = []
        for body in SINGLE:
            state, t = await run_job(
                http, base, {"settings": body, "options": options, "wallet": WALLET}
            )
            assert state == "completed", state
            times.append(t)
    return statistics.median(times[1:])


def single_in_process(options: dict[str, int]) -> float:
    """p50 of the same five artworks rendered and encoded in-process, one at a time, by a
    2-process pool (``render_gif``), with no stack running."""
    times = []
    for body in SINGLE[1:]:
        started = time.perf_counter()
        render_gif(Gen1Settings.from_dict(body), RenderOptions.from_dict(options), processes=2)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    options = {"size": args.size, "frames": args.frames}
    before = {n: baseline(n, options, seed=n) for n in args.levels}
    single_peer = single_in_process(options)

    tmp = Path(tempfile.mkdtemp(prefix="lantern-load-"))
    port = free_port()
    env = stack_env(tmp, port)
    base = f"http://127.0.0.1:{port}"
    up = start_up(tmp, env, "--workers", "2")
    try:
        from latency import wait_ready  # the same readiness probe as bench/latency.py

        wait_ready(base, up)
        time.sleep(5)  # both workers through their first rebalance
        via = os.environ.get("LANTERN_STORE_BLOCKS_VIA", "disk (lantern up's default)")
        print(
            f"load against `lantern up --workers 2`, {args.size}², {args.frames} frames,"
            f" frame blocks via {via}"
        )
        single = asyncio.run(single_latency(base, options))
        bootstrap = bootstrap_of(up.pid)
        rows = [accounted_level(base, up.pid, bootstrap, n, options) for n in args.levels]
        rss = peak_rss(up.pid)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(120)
        shutil.rmtree(tmp, ignore_errors=True)  # the broker's logs: gigabytes at 100 jobs
    for r in rows:
        after = baseline(r["n"], options, seed=r["n"])
        r["baselines"] = (before[r["n"]][0], after[0])
        r["baseline"] = (before[r["n"]][0] + after[0]) / 2
        r["baseline_cpu"] = (before[r["n"]][1] + after[1]) / 2

    print(
        f"\n{'jobs':>5} {'accepted':>8} {'completed':>9} {'failed':>6} {'p50 s':>7} "
        f"{'p95 s':>7} {'max s':>7} {'jobs/min':>8} {'baseline':>8} {'before/after':>13} "
        f"{'share':>6}"
    )
    for r in rows:
        first, last = r["baselines"]
        print(
            f"{r['n']:>5} {r['accepted']:>8} {r['completed']:>9} {r['failed']:>6} "
            f"{r['p50']:>7.2f} {r['p95']:>7.2f} {r['max']:>7.2f} {r['per_min']:>8.1f} "
            f"{r['baseline']:>8.1f} {f'{first:.1f}/{last:.1f}':>13} "
            f"{r['per_min'] / r['baseline']:>6.0%}"
        )
    print(
        "\nCPU seconds per job, by kind of process (the baseline: its pool's processes); "
        "'others': cores taken by other work on the machine during the level"
    )
    print(
        f"{'jobs':>5} {'baseline':>8} "
        + " ".join(f"{k:>8}" for k in KINDS)
        + f" {'total':>8} {'extra':>8} {'others':>7}"
    )
    for r in rows:
        per_job = {k: r["cpu"].get(k, 0.0) / r["completed"] for k in KINDS}
        total = sum(per_job.values())
        print(
            f"{r['n']:>5} {r['baseline_cpu']:>8.3f} "
            + " ".join(f"{per_job[k]:>8.3f}" for k in KINDS)
            + f" {total:>8.3f} {total - r['baseline_cpu']:>+8.3f} {r['others_cores']:>7.2f}"
        )
    print("\nmessages per job, by topic")
    for r in rows:
        counts = sorted(r["messages"].items(), key=lambda item: -item[1])
        listed = ", ".join(
            f"{t.split('.', 1)[-1]} {c / r['completed']:.1f}" for t, c in counts if c
        )
        print(f"{r['n']:>5}: {sum(r['messages'].values()) / r['completed']:.1f} in all: {listed}")
    print(
        f"\nsingle job POST → completed, p50 of 5 (after one not counted): {single:.2f}s;"
        f" the same artworks in-process (2-process pool, no stack): {single_peer:.2f}s"
        f" ({single / single_peer:.2f}x)"
    )
    print(
        "baseline: jobs/min of a 2-process pool, no broker, over the level's own artworks; "
        "the mean of a run before the stack started and one after it stopped"
    )
    print("\npeak RSS by process (MB):")
    for name, mb in sorted(rss, key=lambda r: -r[1]):
        if mb > 1:
            print(f"  {mb:8.1f}  {name}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
