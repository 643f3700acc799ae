"""Reliability drills where guarantees break in real life: restarts while requests arrive.

Each drill runs on a broker that already holds earlier jobs, counts every job at the end and
prints its tally (run with ``-s`` to see it; it is also written to test-artifacts/):

- start-up burst: 20 jobs submitted while the only worker is still starting, ten rounds with a
  restart between them — every job completes and none is split twice;
- rolling restart: three workers, jobs arriving steadily, each worker in turn stopped with
  SIGTERM and started again, then the same with SIGKILL — every job completes, with one GIF and
  one metadata object each, byte-identical to a clean render;
- broker restart: the embedded broker stopped and started again on the same data while jobs
  flow — every accepted job completes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lantern.settings import Settings
from pinning import compute_cid
from render import Gen1Settings, RenderOptions, assemble_gif, gif_header, plan_palette, render_block
from streams.broker import EmbeddedKafka, free_port

from .conftest import ARTIFACTS, _await_log, _await_ready, _spawn, _stop, create_topics, lantern_env
from .test_pipeline import WALLET

pytestmark = pytest.mark.integration

TERMINAL = {"completed", "failed"}


class Stack:
    """An API and numbered workers on their own topics and store, with stop, kill and start."""

    def __init__(self, name: str, env: dict[str, str], port: int, store: Path) -> None:
        self.name, self.env, self.store = name, env, store
        self.base = f"http://127.0.0.1:{port}"
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.logs: list[Path] = []
        self.api: subprocess.Popen[bytes] | None = None

    def start_api(self) -> None:
        self.api = _spawn(["api"], self.env, ARTIFACTS / f"{self.name}-api.log")
        _await_ready(self.api, f"{self.base}/readyz", timeout=60)

    def start_worker(self, n: int, *, wait: bool = True) -> Path:
        log = ARTIFACTS / f"{self.name}-worker{n}-{len(self.logs)}.log"
        self.logs.append(log)
        self.workers[n] = _spawn(["worker"], self.env, log)
        if wait:
            _await_log(self.workers[n], log, "Ready", timeout=90)
        return log

    def stop_worker(self, n: int) -> None:
        _stop(self.workers[n])  # SIGTERM, as a deploy does

    def kill_worker(self, n: int) -> None:
        proc = self.workers[n]
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its render pool, no goodbye
        proc.wait()

    def close(self) -> None:
        for proc in [*self.workers.values(), *([self.api] if self.api else [])]:
            _stop(proc)

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())


def stack_env(bootstrap: str, name: str, port: int, store: Path) -> dict[str, str]:
    return {
        **lantern_env(bootstrap, name, port, store),
        "LANTERN_KAFKA_SESSION_TIMEOUT_S": "3",
        "LANTERN_WORKER_PROCESSES": "1",
        # a job that nothing moves for this long is re-driven; the tallies count re-drives
        "LANTERN_RELIABILITY_STALL_AFTER_S": "60",
        "LANTERN_RELIABILITY_WATCH_INTERVAL_S": "2",
    }


def new_stack(bootstrap: str, tmp: pytest.TempPathFactory, name: str) -> Stack:
    port, store = free_port(), tmp.mktemp(f"{name}-ipfs")
    name = f"{name}{os.getpid()}"
    env = stack_env(bootstrap, name, port, store)
    create_topics(Settings.from_env(env))
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob(f"{name}-*.log"):
        old.unlink()
    return Stack(name, env, port, store)


def body(colour: int, options: dict[str, int]) -> dict[str, Any]:
    return {
        "settings": {"flowField": {"color1": f"#{colour % (1 << 24):06x}"}},
        "options": options,
        "wallet": WALLET,
    }


async def post(http: aiohttp.ClientSession, base: str, payload: dict[str, Any]) -> str:
    async with http.post(f"{base}/api/v1/mints", json=payload) as response:
        assert response.status == 202, await response.text()
        return str((await response.json())["job_id"])


async def wait_all(
    http: aiohttp.ClientSession, base: str, ids: list[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """Poll every job until all are finished or ``timeout`` passes; their last status."""
    jobs: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while True:
        for job_id in ids:
            if jobs.get(job_id, {}).get("state") not in TERMINAL:
                async with http.get(f"{base}/api/v1/jobs/{job_id}") as response:
                    jobs[job_id] = await response.json()
        if all(j.get("state") in TERMINAL for j in jobs.values()) or time.monotonic() > deadline:
            return jobs
        await asyncio.sleep(0.5)


def splits(log: str) -> Counter[str]:
    """How often the split stage fanned out each job."""
    return Counter(
        line.split("split job=")[1].split()[0] for line in log.splitlines() if "split job=" in line
    )


def report(name: str, lines: list[str]) -> None:
    print(f"\n{name}:\n  " + "\n  ".join(lines))
    (ARTIFACTS / f"{name}-tally.txt").write_text("\n".join(lines) + "\n")


def clean_cid(payload: dict[str, Any]) -> str:
    """The CID of the same artwork rendered in-process, no broker (as the pipeline encodes it)."""
    gen1 = Gen1Settings.from_dict(payload["settings"])
    options = RenderOptions.from_dict(payload["options"])
    palette = plan_palette(gen1, options)
    blocks = [render_block(gen1, options, palette, i) for i in range(options.frames)]
    return compute_cid(assemble_gif(gif_header(options.size, palette), blocks))


# --- start-up burst -------------------------------------------------------------------------

BURST_ROUNDS = 10
BURST_JOBS = 20
BURST_OPTIONS = {"size": 64, "frames": 4}


@pytest.fixture(scope="module")
def burst_stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = new_stack(kafka_bootstrap, tmp_path_factory, "burst")
    try:
        stack.start_api()
        yield stack
    finally:
        stack.close()


@pytest.mark.timeout(900)
async def test_startup_burst_loses_nothing(burst_stack: Stack) -> None:
    stack, base = burst_stack, burst_stack.base
    tally: list[str] = []
    ids: list[str] = []
    async with aiohttp.ClientSession() as http:
        # earlier jobs: the broker holds their requests, statuses and tables' changelogs
        stack.start_worker(0)
        earlier = [await post(http, base, body(i, BURST_OPTIONS)) for i in range(BURST_JOBS)]
        done = await wait_all(http, base, earlier, timeout=120)
        assert all(j["state"] == "completed" for j in done.values()), done
        stack.stop_worker(0)

        before_ready = 0
        for round_ in range(BURST_ROUNDS):
            log = stack.start_worker(0, wait=False)
            await asyncio.sleep(0.2 + 0.1 * round_)  # different moments of the start-up
            batch = [body(1000 * (round_ + 1) + i, BURST_OPTIONS) for i in range(BURST_JOBS)]
            round_ids = await asyncio.gather(*(post(http, base, b) for b in batch))
            early = "Ready" not in log.read_text(errors="replace")
            before_ready += early
            ids += round_ids
            jobs = await wait_all(http, base, round_ids, timeout=90)
            states = Counter(j["state"] for j in jobs.values())
            tally.append(
                f"round {round_ + 1}: submitted {'before' if early else 'after'} the worker "
                f"was ready; {dict(states)}"
            )
            stack.stop_worker(0)

        jobs = await wait_all(http, base, ids, timeout=5)
    states = Counter(j["state"] for j in jobs.values())
    split = splits(stack.log_text())
    twice = sorted(j for j in ids if split[j] > 1)
    log = stack.log_text()
    tally += [
        f"{len(ids)} jobs: {dict(states)}; split twice: {len(twice)}; "
        f"re-driven: {log.count('re-driving')}",
    ]
    report("startup-burst", tally)

    assert before_ready >= BURST_ROUNDS // 2, "the drill must submit while the worker starts"
    assert states == Counter({"completed": BURST_ROUNDS * BURST_JOBS}), tally
    assert not twice, twice
    assert all(split[j] == 1 for j in ids)


# --- rolling restart ------------------------------------------------------------------------

ROLLING_WORKERS = 3
ROLLING_JOBS = 100
ROLLING_SECONDS = 60.0
ROLLING_OPTIONS = {"size": 80, "frames": 12}


@pytest.fixture(scope="module")
def rolling_stack(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    stack = new_stack(kafka_bootstrap, tmp_path_factory, "rolling")
    try:
        stack.start_api()
        for n in range(ROLLING_WORKERS):
            stack.start_worker(n)
        yield stack
    finally:
        stack.close()


@pytest.mark.timeout(900)
async def test_rolling_restart_with_sigterm_then_sigkill_loses_nothing(
    rolling_stack: Stack,
) -> None:
    stack, base = rolling_stack, rolling_stack.base
    payloads = [body(0x10000 + 7919 * i, ROLLING_OPTIONS) for i in range(ROLLING_JOBS)]
    ids: list[str] = []
    tally: list[str] = []
    started = time.monotonic()

    async with aiohttp.ClientSession() as http:

        async def arrive() -> None:
            for payload in payloads:
                ids.append(await post(http, base, payload))
                await asyncio.sleep(ROLLING_SECONDS / ROLLING_JOBS)

        arrivals = asyncio.create_task(arrive())
        for how in ("SIGTERM", "SIGKILL"):
            for n in range(ROLLING_WORKERS):
                await asyncio.sleep(3.0)
                if how == "SIGTERM":
                    await asyncio.to_thread(stack.stop_worker, n)
                else:
                    await asyncio.to_thread(stack.kill_worker, n)
                at = time.monotonic() - started
                await asyncio.to_thread(stack.start_worker, n)
                tally.append(f"{how} worker {n} at {at:.1f}s with {len(ids)} jobs submitted")
        await arrivals
        jobs = await wait_all(http, base, ids, timeout=300)

    elapsed = time.monotonic() - started
    with ProcessPoolExecutor(2) as pool:
        expected = list(pool.map(clean_cid, payloads))
    states = Counter(j["state"] for j in jobs.values())
    log = stack.log_text()
    objects = [p for p in stack.store.iterdir() if p.is_file() and "." not in p.name]
    tally += [
        f"{len(ids)} jobs in {elapsed:.0f}s: {dict(states)}; objects in the store: "
        f"{len(objects)}; re-driven: {log.count('re-driving')}",
    ]
    report("rolling-restart", tally)

    failed = {j: job.get("error") for j, job in jobs.items() if job["state"] != "completed"}
    assert not failed, failed
    for job_id, cid in zip(ids, expected, strict=True):
        assert jobs[job_id]["result"]["gif_cid"] == cid, job_id
    assert len(objects) == 2 * ROLLING_JOBS  # one GIF and one metadata object per job


# --- broker restart -------------------------------------------------------------------------

BROKER_JOBS = 30
BROKER_OPTIONS = {"size": 80, "frames": 12}


@pytest.mark.timeout(600)
async def test_a_broker_restart_while_jobs_flow_loses_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = tmp_path_factory.mktemp("broker-drill")
    broker = EmbeddedKafka(dataclasses.replace(Settings().kafka, data_dir=data))
    bootstrap = broker.start()
    stack = new_stack(bootstrap, tmp_path_factory, "brokerdrill")
    tally: list[str] = []
    ids: list[str] = []
    refused = 0
    try:
        stack.start_api()
        stack.start_worker(0)
        async with aiohttp.ClientSession() as http:
            # earlier jobs on this broker, so the restart recovers real state
            earlier = [await post(http, stack.base, body(i, BROKER_OPTIONS)) for i in range(5)]
            await wait_all(http, stack.base, earlier, timeout=120)

            async def arrive() -> None:
                nonlocal refused
                for i in range(BROKER_JOBS):
                    payload = body(0x200000 + 104729 * i, BROKER_OPTIONS)
                    while True:  # a client honours 503 + Retry-After: nothing was accepted
                        async with http.post(f"{stack.base}/api/v1/mints", json=payload) as r:
                            if r.status == 202:
                                ids.append((await r.json())["job_id"])
                                break
                            assert r.status == 503, await r.text()
                            refused += 1
                            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                    await asyncio.sleep(0.5)

            arrivals = asyncio.create_task(arrive())
            await asyncio.sleep(5)
            tally.append(f"broker stopped with {len(ids)} jobs accepted")
            await asyncio.to_thread(broker.stop)
            await asyncio.sleep(3)
            await asyncio.to_thread(broker.start)
            tally.append(f"broker started again with {len(ids)} jobs accepted")
            await arrivals
            jobs = await wait_all(http, stack.base, ids, timeout=300)
    finally:
        stack.close()
        broker.stop()
    states = Counter(j["state"] for j in jobs.values())
    tally.append(
        f"{len(ids)} jobs: {dict(states)}; POSTs refused with 503 during the outage: {refused}; "
        f"re-driven: {stack.log_text().count('re-driving')}"
    )
    report("broker-restart", tally)
    failed = {j: job.get("error") or job["state"] for j, job in jobs.items()}
    assert states == Counter({"completed": BROKER_JOBS}), failed
