"""Chaos: three workers, forty jobs, workers SIGKILLed at random moments and restarted.

Every job must end ``completed``, its GIF byte-identical to a clean in-process render of the same
settings (so the same CID), with one GIF and one metadata object per job in the store, and no
job's status ever going backwards. The tally is printed (run with ``-s`` to see it).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lantern.contract import STATES
from lantern.settings import Settings
from pinning import LocalStore, compute_cid
from render import (
    Gen1Settings,
    RenderOptions,
    assemble_gif,
    gif_header,
    plan_palette,
    render_block,
)
from streams.broker import free_port

from .conftest import ARTIFACTS, _await_log, _await_ready, _spawn, _stop, create_topics, lantern_env
from .test_pipeline import WALLET

pytestmark = pytest.mark.integration

WORKERS = 3
JOBS = 40
KILLS = 6
MIN_KILLS = 4  # the work must last long enough for this many kills, or the test proves little
OPTIONS = {"size": 256, "frames": 96}
SEED = 20261128
CRASH_COLOUR = "#c0ffee"  # the worker assembling a job of this colour dies as it starts the GIF


class Cluster:
    """Workers and an API on their own topics and store, with kill and restart."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.starts = Counter[int]()

    def start_worker(self, n: int) -> None:
        self.starts[n] += 1
        log = ARTIFACTS / f"chaos-worker{n}-{self.starts[n]}.log"
        self.workers[n] = _spawn(["worker"], self.env, log)
        _await_log(self.workers[n], log, "Ready", timeout=90)

    def kill(self, n: int) -> None:
        proc = self.workers[n]
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its render pool, no goodbye
        proc.wait()


# frame blocks through Kafka (the default, across machines) and in the shared block folder
# (`lantern up`'s, on one machine): each way's state is recovered differently after a kill
@pytest.fixture(scope="module", params=["kafka", "disk"])
def cluster(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Any]:
    store_root = tmp_path_factory.mktemp("chaos-ipfs")
    port = free_port()
    name = f"chaos{os.getpid()}{request.param}"
    env = {
        **lantern_env(kafka_bootstrap, name, port, store_root),
        "LANTERN_STORE_BLOCKS_VIA": request.param,
        # fast failover for the test (NOTES_KAFKA_FAUST: 3 s / 1 s works)
        "LANTERN_KAFKA_SESSION_TIMEOUT_S": "3",
        "LANTERN_RELIABILITY_STALL_AFTER_S": "25",
        "LANTERN_RELIABILITY_WATCH_INTERVAL_S": "2",
        "LANTERN_WORKER_PROCESSES": "1",
        "LANTERN_FAULTS_ASSEMBLE_CRASH_COLOR": CRASH_COLOUR,
    }
    create_topics(Settings.from_env(env))
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("chaos-worker*.log"):
        old.unlink()  # the tally counts this run's log lines only
    chaos = Cluster(env)
    api = _spawn(["api"], env, ARTIFACTS / "chaos-api.log")
    try:
        for n in range(WORKERS):
            chaos.start_worker(n)
        _await_ready(api, f"http://127.0.0.1:{port}/readyz", timeout=60)
        yield chaos, f"http://127.0.0.1:{port}", store_root
    finally:
        _stop(api)
        for proc in chaos.workers.values():
            _stop(proc)


def clean_gif(settings: dict[str, Any]) -> bytes:
    """The same artwork rendered in this process, no broker: the reference bytes."""
    gen1, options = Gen1Settings.from_dict(settings), RenderOptions.from_dict(OPTIONS)
    palette = plan_palette(gen1, options)
    blocks = [render_block(gen1, options, palette, i) for i in range(options.frames)]
    return assemble_gif(gif_header(options.size, palette), blocks)


@pytest.mark.timeout(600)
async def test_sigkilled_workers_lose_nothing(cluster: Any) -> None:
    chaos, base, store_root = cluster
    rng = random.Random(SEED)
    settings = [
        {"flowField": {"color1": f"#{rng.randrange(1 << 24):06x}"},
         "flowFields": {"lineLength": 10 + i}}
        for i in range(JOBS)
    ]  # fmt: skip
    history: dict[str, list[tuple[int, int]]] = {}
    jobs: dict[str, dict[str, Any]] = {}
    tally: list[str] = []
    started = time.monotonic()

    async with aiohttp.ClientSession() as http:
        ids = []
        for s in settings:
            body = {"settings": s, "options": OPTIONS, "wallet": WALLET}
            async with http.post(f"{base}/api/v1/mints", json=body) as response:
                assert response.status == 202, await response.text()
                ids.append((await response.json())["job_id"])

        async def poll() -> None:
            while True:
                for job_id in ids:
                    async with http.get(f"{base}/api/v1/jobs/{job_id}") as response:
                        job = await response.json()
                    jobs[job_id] = job
                    point = (STATES.index(job["state"]), job["progress"])
                    seen = history.setdefault(job_id, [])
                    if not seen or seen[-1] != point:
                        seen.append(point)
                if all(j["state"] in {"completed", "failed"} for j in jobs.values()):
                    return
                await asyncio.sleep(0.2)

        poller = asyncio.create_task(poll())
        for kill in range(KILLS):
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            if poller.done():
                break
            victim = rng.randrange(WORKERS)
            states = Counter(j["state"] for j in jobs.values())
            chaos.kill(victim)
            tally.append(f"kill {kill + 1}: worker {victim} at {time.monotonic() - started:.1f}s "
                         f"with jobs {dict(sorted(states.items()))}")  # fmt: skip
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await asyncio.to_thread(chaos.start_worker, victim)
        await asyncio.wait_for(poller, timeout=240)

    elapsed = time.monotonic() - started
    states = Counter(job["state"] for job in jobs.values())
    logs = "".join(p.read_text() for p in ARTIFACTS.glob("chaos-worker*.log"))
    tally += [
        f"{JOBS} jobs in {elapsed:.1f}s: {dict(states)}",
        f"retries: {logs.count('retrying job=')}, re-drives: {logs.count('re-driving')}, "
        f"dead letters: {logs.count('dead letter job=')}",
    ]
    print(
        f"\nchaos tally, blocks via {chaos.env['LANTERN_STORE_BLOCKS_VIA']}:\n  "
        + "\n  ".join(tally)
    )
    way = chaos.env["LANTERN_STORE_BLOCKS_VIA"]
    (ARTIFACTS / f"chaos-tally-{way}.txt").write_text("\n".join(tally) + "\n")

    kills = sum(line.startswith("kill ") for line in tally)
    assert kills >= MIN_KILLS, f"the jobs finished after {kills} kills: give them more work"
    failed = {j: job.get("error") for j, job in jobs.items() if job["state"] != "completed"}
    assert not failed, failed
    for job_id, points in history.items():
        assert points == sorted(points), f"status of {job_id} went backwards: {points}"

    store = LocalStore(store_root)
    objects = [p for p in Path(store_root).iterdir() if p.is_file() and "." not in p.name]
    assert len(objects) == 2 * JOBS, sorted(p.name for p in objects)
    for job_id, s in zip(ids, settings, strict=True):
        result = jobs[job_id]["result"]
        assert result["gif_cid"] == compute_cid(clean_gif(s)), job_id
        metadata = json.loads(store.get(result["metadata_cid"]))
        assert metadata["image"] == f"ipfs://{result['gif_cid']}"


@pytest.mark.timeout(300)
async def test_a_worker_killed_while_writing_the_gif_is_finished_by_another(
    cluster: Any,
) -> None:
    """All frames are in and `encoding` reported, then the worker dies: the job must not wait
    for a stall re-drive (which would find nothing new to collect either)."""
    chaos, base, _ = cluster
    settings = {"flowField": {"color1": CRASH_COLOUR}}
    async with aiohttp.ClientSession() as http:
        body = {"settings": settings, "options": OPTIONS, "wallet": WALLET}
        async with http.post(f"{base}/api/v1/mints", json=body) as response:
            assert response.status == 202, await response.text()
            job_id = (await response.json())["job_id"]
        started = time.monotonic()
        dead: list[int] = []
        while not dead:
            assert time.monotonic() - started < 60, "no worker crashed"
            dead = [n for n, proc in chaos.workers.items() if proc.poll() is not None]
            await asyncio.sleep(0.2)
        # (the `encoding` event may not have reached the status table before the worker died)
        while True:
            async with http.get(f"{base}/api/v1/jobs/{job_id}") as response:
                job = await response.json()
            if job["state"] in ("completed", "failed"):
                break
            assert time.monotonic() - started < 120, job
            await asyncio.sleep(0.2)
    for n in dead:
        await asyncio.to_thread(chaos.start_worker, n)

    assert job["state"] == "completed", job
    assert job["result"]["gif_cid"] == compute_cid(clean_gif(settings))
    logs = "".join(p.read_text() for p in ARTIFACTS.glob("chaos-worker*.log"))
    assert f"injected crash job={job_id}" in logs
    assert f"stalled job={job_id}" not in logs  # finished on takeover, not re-driven
