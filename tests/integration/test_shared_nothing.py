"""Shared nothing: workers and the API share no path, only the broker and a Kubo node.

Two ``lantern worker`` processes and one ``lantern api``, each with a folder of its own (its
content store, its block folder, faust's folder and its working directory: no path in common),
on the session's broker, pinning to a real Kubo node (``kubo.py``), with the settings' defaults
for everything else: frame blocks travel through Kafka (``LANTERN_STORE_BLOCKS_VIA``'s default).

- Round one: 20 jobs complete; every GIF, fetched from the API's ``/ipfs/{cid}`` (the API's own
  store is empty: it streams from the node's gateway), is byte-identical to a clean in-process
  render, and its CID is Lantern's own for those bytes.
- Round two: 20 more jobs, and one worker is killed with SIGKILL (with its render process) while
  frames are coming in: 20 of 20 complete all the same, with the same checks. The survivor
  recovers the killed worker's assembler tables — the blocks' bytes with them — from their
  changelogs. The first job of the round has its first two pins fail on purpose
  (``LANTERN_FAULTS_PIN_*``, retried 4 s, then 8 s later), and the worker killed is the one that
  assembled it, soon after it did: the survivor pins a GIF it never had, read from the node.

No worker writes a block file, and the tally (run with ``-s``; also in test-artifacts/) says how
many GIFs a worker pinned without having assembled them.
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
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lantern.processes import spawn
from lantern.settings import Settings
from pinning import LocalStore, Pinner, compute_cid, create_backend
from pinning.gateway import SharedContent
from render import Gen1Settings, RenderOptions, render_gif
from streams.broker import free_port

from .conftest import ARTIFACTS, _await_log, _await_ready, _stop, create_topics, lantern_env
from .kubo import KuboNode
from .test_kubo import node_pins, pin_settings
from .test_pipeline import WALLET

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

JOBS = 20
OPTIONS = {"size": 128, "frames": 40}
CID_VERSION = 1
TERMINAL = {"completed", "failed"}
SLOW_PIN_COLOUR = "#5106ed"  # its first two pins fail: the GIF waits for its pin a while
COMMIT_INTERVAL_S = 1.0  # streams/app.py's broker_commit_interval


@dataclasses.dataclass
class Process:
    """One Lantern process and the folder that is its alone."""

    name: str
    folder: Path
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, command: str) -> None:
        self.proc = spawn([command], self.env, self.log, cwd=self.folder / "cwd")

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)  # the worker and its render process, no goodbye
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    @property
    def store(self) -> Path:
        return Path(self.env["LANTERN_STORE_ROOT"])

    @property
    def blocks(self) -> Path:
        return Path(self.env["LANTERN_STORE_BLOCKS_ROOT"])


@dataclasses.dataclass
class Stack:
    base: str
    api: Process
    workers: list[Process]


def own_folder(root: Path, name: str, common: dict[str, str]) -> Process:
    """A process whose store, blocks, faust data and working directory are under ``root/name``
    only (faust's folder is the store's sibling, ``streams/app.py``)."""
    folder = root / name
    (folder / "cwd").mkdir(parents=True)
    env = {
        **common,
        "LANTERN_STORE_ROOT": str(folder / "store"),
        "LANTERN_STORE_BLOCKS_ROOT": str(folder / "blocks"),
    }
    return Process(name, folder, env, ARTIFACTS / f"nothing-{name}.log")


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, kubo_node: KuboNode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    port = free_port()
    root = tmp_path_factory.mktemp("shared-nothing")
    common = {
        **lantern_env(kafka_bootstrap, f"nothing{os.getpid()}", port, root / "unused"),
        "LANTERN_PIN_BACKEND": "kubo",
        "LANTERN_PIN_URL": kubo_node.rpc_url,
        "LANTERN_PIN_CID_VERSION": str(CID_VERSION),
        "LANTERN_PIN_TIMEOUT_S": "10",
        "LANTERN_PIN_BACKOFF_S": "0.1",
        "LANTERN_KAFKA_SESSION_TIMEOUT_S": "3",  # fast failover (as the chaos test)
        "LANTERN_WORKER_PROCESSES": "1",
        "LANTERN_WORKER_FRAMES_PER_TASK": "5",  # 8 runs a job: more of them in flight
        "LANTERN_RELIABILITY_STALL_AFTER_S": "60",
        "LANTERN_RELIABILITY_WATCH_INTERVAL_S": "2",
        "LANTERN_RELIABILITY_BACKOFF_S": "4",
        "LANTERN_FAULTS_PIN_COLOR": SLOW_PIN_COLOUR,
        "LANTERN_FAULTS_PIN_FAILURES": "2",
    }
    common.pop("LANTERN_STORE_BLOCKS_VIA", None)  # the default, whatever the caller's shell says
    assert Settings.from_env(common).store.blocks_via == "kafka"
    create_topics(Settings.from_env(common))
    ARTIFACTS.mkdir(exist_ok=True)
    workers = [own_folder(root, f"worker{n}", common) for n in range(2)]
    api = own_folder(root, "api", common)
    try:
        for worker in workers:
            worker.start("worker")
        api.start("api")
        for worker in workers:
            assert worker.proc is not None
            _await_log(worker.proc, worker.log, "Ready", timeout=120)
        assert api.proc is not None
        _await_ready(api.proc, f"http://127.0.0.1:{port}/readyz", timeout=60)
        yield Stack(f"http://127.0.0.1:{port}", api, workers)
    finally:
        api.stop()
        for worker in workers:
            worker.stop()


def body(colour: int | str) -> dict[str, Any]:
    hexa = colour if isinstance(colour, str) else f"#{colour % (1 << 24):06x}"
    return {"settings": {"flowField": {"color1": hexa}}, "options": OPTIONS, "wallet": WALLET}


def clean_render(payload: dict[str, Any]) -> bytes:
    """The same artwork rendered in this process, no broker: the reference bytes."""
    settings = Gen1Settings.from_dict(payload["settings"])
    return render_gif(settings, RenderOptions.from_dict(payload["options"]))


async def submit_all(http: aiohttp.ClientSession, base: str, payloads: list[Any]) -> list[str]:
    ids = []
    for payload in payloads:
        async with http.post(f"{base}/api/v1/mints", json=payload) as response:
            assert response.status == 202, await response.text()
            ids.append((await response.json())["job_id"])
    return ids


async def statuses(
    http: aiohttp.ClientSession, base: str, ids: list[str]
) -> dict[str, dict[str, Any]]:
    async def one(job_id: str) -> dict[str, Any]:
        async with http.get(f"{base}/api/v1/jobs/{job_id}") as response:
            return await response.json()  # type: ignore[no-any-return]

    return dict(zip(ids, await asyncio.gather(*map(one, ids)), strict=True))


async def wait_all(
    http: aiohttp.ClientSession, base: str, ids: list[str], timeout: float
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = await statuses(http, base, ids)
        if all(j["state"] in TERMINAL for j in jobs.values()) or time.monotonic() > deadline:
            return jobs
        await asyncio.sleep(0.5)


async def check_gifs(
    http: aiohttp.ClientSession,
    stack: Stack,
    node: KuboNode,
    ids: list[str],
    jobs: dict[str, dict[str, Any]],
    expected: list[bytes],
) -> None:
    """Every job completed, its GIF served by the API equal to the clean render, and pinned."""
    failed = {j: job.get("error") or job["state"] for j, job in jobs.items()}
    assert Counter(j["state"] for j in jobs.values()) == Counter({"completed": JOBS}), failed
    for job_id, clean in zip(ids, expected, strict=True):
        result = jobs[job_id]["result"]
        assert result["pin_backend"] == "kubo"
        cid = result["gif_cid"]
        async with http.get(f"{stack.base}/ipfs/{cid}") as response:
            assert response.status == 200, await response.text()
            served = await response.read()
        assert served == clean, f"job {job_id}: the GIF differs from a clean render"
        assert cid == compute_cid(clean, cid_version=CID_VERSION) == result["gif_cid"]
        assert result["gif_bytes"] == len(clean)
        assert node_pins(node, cid) and node_pins(node, result["metadata_cid"])


async def first_to_log(workers: list[Process], line: str, timeout: float) -> Process:
    """The first of ``workers`` whose log holds ``line``, as soon as one does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker in workers:
            if line in worker.log.read_text(errors="replace"):
                return worker
        await asyncio.sleep(0.05)
    raise AssertionError(f"no worker logged {line!r} in {timeout}s")


def _states(jobs: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"{j['state']} {j['progress']}" for j in jobs.values())


def pinned_elsewhere(stack: Stack) -> int:
    """How many GIFs a worker fetched from the node to pin (another worker had assembled them)."""
    text = "".join(w.log.read_text(errors="replace") for w in stack.workers if w.log.exists())
    return text.count("from a gateway")


def report(lines: list[str]) -> None:
    print("\nshared nothing:\n  " + "\n  ".join(lines))
    (ARTIFACTS / "shared-nothing-tally.txt").write_text("\n".join(lines) + "\n")


async def test_two_workers_sharing_no_path_complete_every_job_even_when_one_is_killed(
    stack: Stack, kubo_node: KuboNode
) -> None:
    tally: list[str] = []
    first = [body(0x100000 + 7919 * i) for i in range(JOBS)]
    second = [body(SLOW_PIN_COLOUR)] + [body(0x800000 + 104729 * i) for i in range(1, JOBS)]
    with ProcessPoolExecutor(2) as pool:  # the reference renders, while the stack works
        expected = pool.map(clean_render, first + second)
        async with aiohttp.ClientSession() as http:
            started = time.monotonic()
            ids = await submit_all(http, stack.base, first)
            jobs = await wait_all(http, stack.base, ids, timeout=120)
            tally.append(f"round 1: {JOBS} jobs in {time.monotonic() - started:.1f}s")
            references = list(expected)
            await check_gifs(http, stack, kubo_node, ids, jobs, references[:JOBS])

            started = time.monotonic()
            ids = await submit_all(http, stack.base, second)
            # kill the worker that assembled the slow-pin job (whose GIF waits there for its
            # third pin, ~12 s later) as soon as another job's frames are coming in. (Jobs this
            # small run nearly one after the other: waiting for several to be part-rendered
            # at once waited, now and then, until every job had completed.) Not before its
            # first pin has failed and a commit interval more: killed sooner, the assembler's
            # "assembled" record may not be on the broker yet, and the survivor, meeting the
            # job's last frames again, rightly assembles the GIF itself and pins its own copy.
            victim = await first_to_log(stack.workers, f"assembled job={ids[0]}", timeout=60)
            await first_to_log([victim], f"retrying job={ids[0]} stage=pin attempt=1", timeout=30)
            await asyncio.sleep(COMMIT_INTERVAL_S)
            assembled = time.monotonic()
            while True:
                now = await statuses(http, stack.base, ids)
                rendering = [j for j in now.values() if j["state"] == "rendering"]
                if any(now[i]["state"] == "rendering" and now[i]["progress"] > 5 for i in ids[1:]):
                    break
                # (a rebalance under a loaded machine holds frames back for several seconds)
                waited = time.monotonic() - assembled
                assert waited < 30, f"no frames came in after the first job: {_states(now)}"
                await asyncio.sleep(0.05)
            await asyncio.to_thread(victim.kill)
            done = sum(j["state"] == "completed" for j in now.values())
            tally.append(
                f"round 2: {victim.name} SIGKILLed {time.monotonic() - started:.1f}s in, with "
                f"{len(rendering)} jobs rendering and {done} completed"
            )
            jobs = await wait_all(http, stack.base, ids, timeout=150)
            tally.append(f"round 2: {JOBS} jobs in {time.monotonic() - started:.1f}s")
            await check_gifs(http, stack, kubo_node, ids, jobs, references[JOBS:])
    assert done < JOBS // 2, "the kill came too late to prove anything"

    # nothing went through a folder: no block file anywhere, the API's store untouched
    for worker in stack.workers:
        written = [p for p in worker.blocks.rglob("*") if p.is_file()]
        assert written == [], f"{worker.name} wrote block files"
    api_store = stack.api.store
    assert not api_store.exists() or list(api_store.iterdir()) == []
    elsewhere = pinned_elsewhere(stack)
    tally.append(f"GIFs pinned by a worker that had not assembled them: {elsewhere}")
    report(tally)
    assert elsewhere >= 1  # the slow-pin job's, at least


async def test_a_gif_only_the_node_has_is_fetched_and_pinned_by_a_worker_without_it(
    kubo_node: KuboNode, tmp_path: Path
) -> None:
    """The hand-over between two workers in small: one adds the GIF to the node as it assembles
    it; the other, with an empty store, reads it from the node's gateway and pins it."""
    settings = pin_settings(kubo_node, CID_VERSION)
    gif = clean_render(body(0xABCDEF))
    assembler = LocalStore(tmp_path / "assembler")
    cid = assembler.put(gif, content_type="image/gif")
    shared = SharedContent.create(settings)
    on_node = await shared.share(assembler.path(cid), name="gen1-x.gif", content_type="image/gif")
    assert on_node == compute_cid(gif, cid_version=CID_VERSION)  # as the pin will name it
    assert not node_pins(kubo_node, on_node)  # added, not pinned: the pin stage pins

    store = LocalStore(tmp_path / "pinner")  # another worker's: it never saw the GIF
    fetch = partial(shared.fetch, store, max_bytes=1 << 24)
    pinner = Pinner(store, create_backend(settings, store), cid_version=CID_VERSION, fetch=fetch)
    try:
        pinned = await pinner.pin_stored(cid, name="gen1-x.gif", source=on_node)
    finally:
        await pinner.close()
    assert pinned.cid == on_node and pinned.size == len(gif) and not pinned.already
    assert node_pins(kubo_node, pinned.cid)
    assert store.get(cid) == gif and store.content_type(cid) == "image/gif"
