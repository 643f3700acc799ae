"""Replay at scale: tokens re-rendered and updated per minute, and what it costs live mints.

    .venv/bin/python bench/replay.py                   # 50 tokens of 256² × 20 frames, ~10 min
    .venv/bin/python bench/replay.py --tokens 200

A fresh `lantern up` (its own broker, store and local chain). First `--tokens` jobs are
submitted, completed and minted by a funded development account (web3.py), each named.
Then live latency idle: `--live` default jobs, one every `--every` seconds, each followed on its
event stream from POST to completed. Then `lantern replay --all-minted` with a new renderer
version (in the bulk lane) while the same live jobs run again. Prints replay tokens/min (to
every token updated on-chain) and live p50/p95 idle and during the replay, with the ratio.
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
from pathlib import Path

import aiohttp
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.logs import DISCARD

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from latency import wait_ready  # noqa: E402
from load import run_job, stack_env, start_up  # noqa: E402

from chain.artifact import load_artifact  # noqa: E402
from lantern.processes import free_port  # noqa: E402

# anvil's funded development account 1 (account 0 owns the contract)
USER = Account.from_key("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")


async def mint_all(base: str, rpc: str, n: int, options: dict[str, int]) -> float:
    """``n`` jobs completed, minted and named; seconds it took."""
    started = time.perf_counter()
    w3 = AsyncWeb3(AsyncHTTPProvider(rpc))
    gen1 = w3.eth.contract(abi=load_artifact()["abi"])
    body = {"settings": {}, "options": options, "wallet": USER.address}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as http:
        jobs = []
        for i in range(n):
            settings = {"flowField": {"color1": f"#{(i * 104729) % (1 << 24):06x}"}}
            async with http.post(f"{base}/api/v1/mints", json={**body, "settings": settings}) as r:
                jobs.append((await r.json())["job_id"])
        nonce = await w3.eth.get_transaction_count(USER.address)
        for job_id in jobs:
            while True:
                async with http.get(f"{base}/api/v1/jobs/{job_id}/mint-tx",
                                    params={"from": USER.address}) as r:  # fmt: skip
                    if r.status == 200:
                        tx = (await r.json())["transaction"]
                        break
                await asyncio.sleep(0.5)
            base_fee = (await w3.eth.get_block("latest"))["baseFeePerGas"]
            signed = USER.sign_transaction({
                "to": tx["to"], "data": tx["data"], "value": int(tx["value"], 16),
                "gas": int(tx["gas"], 16), "chainId": int(tx["chainId"], 16), "nonce": nonce,
                "maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9,
            })  # fmt: skip
            nonce += 1
            receipt = await w3.eth.wait_for_transaction_receipt(
                await w3.eth.send_raw_transaction(signed.raw_transaction)
            )
            (_mint,) = gen1.events.Gen1Minted().process_receipt(receipt, errors=DISCARD)
        for job_id in jobs:  # minted and named
            while True:
                async with http.get(f"{base}/api/v1/jobs/{job_id}") as r:
                    job = await r.json()
                if job["state"] == "minted" and "token_uri" in job.get("token", {}):
                    break
                await asyncio.sleep(0.5)
    await w3.provider.disconnect()
    return time.perf_counter() - started


async def live(
    base: str, count: int, every: float, stop: asyncio.Event | None = None
) -> list[float]:
    """Live default jobs, one every ``every`` s, each followed to its end: their latencies."""
    body = {"settings": {}, "wallet": USER.address}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as http:
        tasks = []
        for _ in range(count):
            if stop is not None and stop.is_set():
                break
            tasks.append(asyncio.create_task(run_job(http, base, body)))
            await asyncio.sleep(every)
        results = await asyncio.gather(*tasks)
    return sorted(t for state, t in results if state == "completed")


def p95(values: list[float]) -> float:
    return values[int(0.95 * (len(values) - 1))] if values else float("nan")


async def during_replay(
    base: str, env: dict[str, str], args: argparse.Namespace
) -> tuple[float, list[float], str]:
    """Run the replay and live jobs beside it: replay seconds, live latencies, replay output."""
    started = time.perf_counter()
    replay = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lantern", "replay", "--all-minted",
        "--renderer-version", "bench-replay", "--rate", "600", "--max-pending", "20",
        env=env, cwd=env["LANTERN_BENCH_TMP"],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    done = asyncio.Event()

    async def wait_replay() -> tuple[float, str]:
        out, _ = await replay.communicate()
        done.set()
        return time.perf_counter() - started, out.decode(errors="replace")

    waiting = asyncio.create_task(wait_replay())
    latencies = await live(base, args.live * 10, args.every, stop=done)
    seconds, out = await waiting
    return seconds, latencies, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--live", type=int, default=10, help="live jobs measured idle")
    # well under capacity (a default job is ~1.5 s of 2 cores): the latency measured is the
    # replay's effect, not a live queue of its own
    parser.add_argument("--every", type=float, default=6.0, help="seconds between live jobs")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lantern-replay-"))
    port = free_port()
    env = {**stack_env(tmp, port), "LANTERN_WORKER_PROCESSES": "2"}
    base = f"http://127.0.0.1:{port}"
    up = start_up(tmp, env)
    try:
        wait_ready(base, up)
        rpc = f"http://127.0.0.1:{(tmp / 'chain' / 'port').read_text().strip()}"
        kafka = json.loads((tmp / "kafka" / "ports.json").read_text())
        replay_env = {**env, "LANTERN_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka['broker']}",
                      "LANTERN_BENCH_TMP": str(tmp)}  # fmt: skip
        options = {"size": args.size, "frames": args.frames}
        what = f"{args.tokens} tokens of {args.size}² × {args.frames} frames"
        print(f"replay bench: {what}, live default jobs every {args.every} s, "
              f"{os.cpu_count()} cores", flush=True)  # fmt: skip
        minted = asyncio.run(mint_all(base, rpc, args.tokens, options))
        print(f"minted and named {args.tokens} tokens in {minted:.0f} s", flush=True)
        idle = asyncio.run(live(base, args.live, args.every))
        seconds, busy, out = asyncio.run(during_replay(base, replay_env, args))
        print(out.strip().splitlines()[-1] if out.strip() else "(no replay output)")
        rate = 60 * args.tokens / seconds
        print(f"\nreplay: {args.tokens} tokens in {seconds:.0f} s = {rate:.1f} tokens/min "
              "(re-rendered, pinned, updated on-chain)")  # fmt: skip
        print(f"{'live':<14}{'jobs':>5}{'p50 s':>8}{'p95 s':>8}")
        for name, values in (("idle", idle), ("during replay", busy)):
            median = statistics.median(values) if values else float("nan")
            print(f"{name:<14}{len(values):>5}{median:>8.2f}{p95(values):>8.2f}")
        print(f"p95 during / idle: {p95(busy) / p95(idle):.2f}x (target ≤ 2x)")
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(120)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)  # the broker's logs and the blocks: gigabytes


if __name__ == "__main__":
    main()
