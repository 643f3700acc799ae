"""Recovery: a worker's restart time against the number of jobs it has run, and its changelogs.

    .venv/bin/python bench/recovery.py --jobs 0 250 1000
    .venv/bin/python bench/recovery.py --jobs 0 1000 --no-compact      # skip the compaction step

Starts its own embedded broker in a temp dir (fresh for every run of the script). For each N: a
topic prefix and consumer group of its own, one worker and one API; N tiny jobs (64², 2 frames)
submitted 50 at a time and awaited until all have ended. Then the worker is stopped and started
again, a few times, and the time from its process start to faust's "Worker ready" (every table
recovered from its changelog, streams resumed) is measured, with the time faust spent reading
the changelogs (from its log's timestamps). Printed per changelog: the offset span (log end −
beginning: every record ever written), the records actually there (what recovery reads;
compaction removes records but not their offsets) and the live keys.

The broker compacts only closed segments, and a segment closes after ``segment.ms`` (7 days by
default; 10 min for the assembler's changelogs), so within this run nothing is compacted. The
step after the measurement therefore sets the run's changelogs to roll and compact at once
(segment.ms 1 s, min.cleanable.dirty.ratio 0.01, delete.retention.ms 0), runs a few more jobs in
two rounds 20 s apart (the first rolls the segments and the cleaner removes what later records
replace; the second makes it clean again, when the tombstones go), waits for the log cleaner
and measures again: what recovery costs once compaction has caught up.
Timings on a shared 2-core machine are noisy: the median of several restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lantern.processes import spawn, stop  # noqa: E402
from lantern.settings import Settings  # noqa: E402
from streams.broker import EmbeddedKafka, free_port  # noqa: E402
from streams.topics import (  # noqa: E402
    ASSEMBLIES_TABLE,
    BLOCKS_TABLE,
    STATUS_TABLE,
    changelog,
    ensure_topics,
)

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
TOKEN = "bench-recovery"
OPTIONS = {"size": 64, "frames": 2}
BATCH = 50
TABLES = (STATUS_TABLE, ASSEMBLIES_TABLE, BLOCKS_TABLE)
READY = "Worker ready"
RESTORE = ("Restoring state from changelog topics", "Done reading from changelog topics")
COMPACT_NOW = {
    "cleanup.policy": "compact",
    "segment.ms": "1000",
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "0",
}


@dataclasses.dataclass
class Changelog:
    table: str
    span: int  # log-end − beginning offsets, summed over partitions
    records: int  # records actually read
    live: int  # keys whose last record is not a tombstone


@dataclasses.dataclass
class Stack:
    """One N's worker and API, their environment and logs."""

    env: dict[str, str]
    settings: Settings
    base: str
    logs: Path
    api: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start_worker(self, timeout: float = 180.0) -> tuple[float, float]:
        """Start the worker. Seconds from its process start to its first "Worker ready", and
        from faust's start of reading the changelogs to its end (from the log's timestamps)."""
        self.starts += 1
        log_path = self.logs / f"worker-{self.starts}.log"
        started = time.perf_counter()
        self.worker = spawn(["worker"], self.env, log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise SystemExit(f"worker exited:\n{log_path.read_text()[-3000:]}")
            text = log_path.read_text(errors="replace")
            if READY in text:
                return time.perf_counter() - started, restore_seconds(text)
            time.sleep(0.02)
        raise SystemExit(f"worker not ready in {timeout}s:\n{log_path.read_text()[-3000:]}")

    def stop_worker(self) -> None:
        if self.worker is not None:
            stop([self.worker])
            self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        if self.api is not None:
            stop([self.api], timeout=30)
            self.api = None


def restore_seconds(text: str) -> float:
    """Seconds between faust's first "Restoring state…" and "Done reading…" lines (0: there
    was nothing to read, and faust says neither)."""
    stamps = []
    for needle in RESTORE:
        line = next((line for line in text.splitlines() if needle in line), "")
        if not line:
            return 0.0
        # [2026-11-30 03:44:10,572] [pid] [INFO] [^---Recovery]: …
        stamp = datetime.datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
        stamps.append(stamp)
    return (stamps[1] - stamps[0]).total_seconds()


async def wait_api(base: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise SystemExit(f"{base} not ready in {timeout}s")


async def run_jobs(base: str, n: int, seed: int, timeout: float = 900.0) -> float:
    """Submit ``n`` tiny jobs, ``BATCH`` at a time; wait until all have ended. Seconds taken."""
    started = time.perf_counter()
    admin = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        before = await counts(http, base, admin)

        async def submit(i: int) -> None:
            colour = f"#{(seed * 7919 + i * 104729) % (1 << 24):06x}"
            body = {"settings": {"flowField": {"color1": colour}}, "options": OPTIONS,
                    "wallet": WALLET}  # fmt: skip
            async with http.post(f"{base}/api/v1/mints", json=body) as response:
                if response.status != 202:
                    raise SystemExit(f"POST answered {response.status}: {await response.text()}")

        for first in range(0, n, BATCH):
            await asyncio.gather(*(submit(i) for i in range(first, min(n, first + BATCH))))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = await counts(http, base, admin)
            ended = sum(now.get(s, 0) - before.get(s, 0) for s in ("completed", "failed"))
            if ended >= n:
                failed = now.get("failed", 0) - before.get("failed", 0)
                if failed:
                    print(f"  warning: {failed} of {n} jobs failed")
                return time.perf_counter() - started
            await asyncio.sleep(1.0)
    raise SystemExit(f"{n} jobs not done in {timeout}s")


async def counts(http: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> dict[str, int]:
    async with http.get(f"{base}/api/v1/jobs?limit=1", headers=headers) as response:
        answer: dict[str, Any] = await response.json()
        return dict(answer["counts"])


async def changelogs(settings: Settings) -> list[Changelog]:
    """Each changelog of the run: offset span, records there, live keys."""
    out = []
    for table in TABLES:
        topic = changelog(settings, table)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # else an assignment's reset to latest may win
        )
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
            consumer.assign(tps)
            begins = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            await consumer.seek_to_beginning(*tps)
            live: dict[bytes, bool] = {}
            records = 0
            todo = {tp for tp in tps if ends[tp] > begins[tp]}
            while todo:
                batches = await consumer.getmany(*todo, timeout_ms=1000)
                for messages in batches.values():
                    for message in messages:
                        records += 1
                        if message.key is not None:
                            live[message.key] = message.value is not None
                for tp in list(todo):
                    if await consumer.position(tp) >= ends[tp]:
                        todo.discard(tp)
            span = sum(ends[tp] - begins[tp] for tp in tps)
            out.append(Changelog(table, span, records, sum(live.values())))
        finally:
            await consumer.stop()
    return out


async def compact_now(settings: Settings) -> None:
    """Make every changelog of the run roll and compact at once."""
    common = {"max.message.bytes": str(settings.kafka.max_message_bytes)}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC, changelog(settings, t), {**common, **COMPACT_NOW}
                )
                for t in TABLES
            ]
        )
    finally:
        await admin.close()


async def await_cleaner(settings: Settings, timeout: float = 150.0) -> list[Changelog]:
    """Changelogs once the record counts have stopped falling. The cleaner looks every 15 s;
    a tombstone goes in a pass after the one that removed what it deletes."""
    deadline = time.monotonic() + timeout
    last, steady = await changelogs(settings), 0
    while time.monotonic() < deadline and steady < 2:
        await asyncio.sleep(15)
        now = await changelogs(settings)
        steady = steady + 1 if [c.records for c in now] == [c.records for c in last] else 0
        last = now
    return last


def restarts(stack: Stack, times: int) -> list[tuple[float, float]]:
    """Stop and start the worker ``times`` times: each start's ``start_worker`` figures."""
    out = []
    for _ in range(times):
        stack.stop_worker()
        out.append(stack.start_worker())
    return out


def show(label: str, starts: list[tuple[float, float]], logs: list[Changelog]) -> None:
    ready = statistics.median(r for r, _ in starts)
    worst = max(r for r, _ in starts)
    restore = statistics.median(r for _, r in starts)
    cells = "  ".join(f"{c.span:>6} {c.records:>6} {c.live:>5}" for c in logs)
    print(f"{label:<24} {ready:>6.2f} {worst:>6.2f} {restore:>7.3f}  {cells}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[0, 250, 1000])
    parser.add_argument("--restarts", type=int, default=3, help="restarts measured per N")
    parser.add_argument(
        "--tail-jobs", type=int, default=40, help="jobs that roll the segments (two rounds)"
    )
    parser.add_argument("--no-compact", action="store_true", help="skip the compaction step")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lantern-recovery-"))
    broker = EmbeddedKafka(dataclasses.replace(Settings().kafka, data_dir=tmp / "kafka"))
    bootstrap = broker.start()
    print(f"recovery: one worker, one API, jobs of {OPTIONS['size']}², {OPTIONS['frames']} frames;")
    print(f"broker and logs in {tmp}")
    print(
        f"ready: seconds from the worker's start to {READY!r}, median and max of "
        f"{args.restarts} restarts; restore: seconds reading the changelogs (median);"
    )
    print("per changelog: offset span (log end - beginning), records there, live keys\n")
    head = "  ".join(f"{t:>19}" for t in TABLES)
    print(f"{'':<24} {'ready':>6} {'max':>6} {'restore':>7}  {head}")
    try:
        for n in args.jobs:
            measure(n, bootstrap, tmp, args)
    finally:
        broker.stop()


def measure(n: int, bootstrap: str, tmp: Path, args: argparse.Namespace) -> None:
    name = f"rec{n}"
    port = free_port()
    logs = tmp / name
    logs.mkdir()
    env = {
        **os.environ,
        "LANTERN_KAFKA_BOOTSTRAP": bootstrap,
        "LANTERN_KAFKA_TOPIC_PREFIX": name,
        "LANTERN_WORKER_APP_ID": name,
        "LANTERN_WORKER_PROCESSES": "1",
        "LANTERN_STORE_ROOT": str(tmp / f"{name}-ipfs"),
        "LANTERN_API_PORT": str(port),
        "LANTERN_API_ADMIN_TOKEN": TOKEN,
        "LANTERN_API_WALLET_RATE_PER_MIN": "0",
        "LANTERN_API_IP_RATE_PER_MIN": "0",
    }
    settings = Settings.from_env(env)
    asyncio.run(ensure_topics(settings))
    stack = Stack(env=env, settings=settings, base=f"http://127.0.0.1:{port}", logs=logs)
    try:
        stack.api = spawn(["api"], env, logs / "api.log")
        stack.start_worker()
        asyncio.run(wait_api(stack.base))
        took = asyncio.run(run_jobs(stack.base, n, seed=n)) if n else 0.0
        time.sleep(3)  # the last jobs' forget signals through the assembler
        stack.stop_worker()
        before = asyncio.run(changelogs(settings))
        ready = [stack.start_worker(), *restarts(stack, args.restarts - 1)]
        show(f"N={n} ({took:.0f}s to run)", ready, before)
        if args.no_compact:
            return
        asyncio.run(compact_now(settings))
        # two rounds: the first rolls the segments, so the cleaner removes what a later record
        # replaces and dates the tombstones; the second makes it clean again, and the
        # tombstones, past their delete.retention.ms, go then
        for round_ in (1, 2):
            time.sleep(2 if round_ == 1 else 20)  # segment.ms passed: the next append rolls
            half = args.tail_jobs // 2
            asyncio.run(run_jobs(stack.base, half, seed=(n + 1) * 10 + round_))
        time.sleep(3)
        stack.stop_worker()
        after = asyncio.run(await_cleaner(settings))
        ready = [stack.start_worker(), *restarts(stack, args.restarts - 1)]
        show(f"  +{2 * (args.tail_jobs // 2)}, compacted", ready, after)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
