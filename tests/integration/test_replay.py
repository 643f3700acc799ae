"""``lantern replay`` on a real stack and chain: 20 minted tokens re-rendered with a new renderer
version, each token pointed at its new metadata once (ERC-4906 events; contiguous tokens in a
``batchUpdateMetadata``); the same replay again publishes and changes nothing; a replay killed
midway and run again finishes with each token updated once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from eth_utils.crypto import keccak
from web3 import AsyncWeb3

from chain.artifact import load_artifact
from lantern.processes import ROOT

from .conftest import Lantern, LocalChain
from .test_mint import (
    SMALL,
    USER,
    mint_tx,
    minted_token_id,
    named,
    sign_and_send,
    wait_state,
    web3_for,
)
from .test_pipeline import submit, wait_done

pytestmark = pytest.mark.integration
UPDATE = "0x" + keccak(text="MetadataUpdate(uint256)").hex()
BATCH = "0x" + keccak(text="BatchMetadataUpdate(uint256,uint256)").hex()


def replay(lantern: Lantern, cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lantern", "replay", *args],
        env={**lantern.env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished(proc: subprocess.Popen[str], timeout: float = 180) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # never left behind
        out, _ = proc.communicate()
        raise AssertionError(f"replay still running after {timeout:.0f}s:\n{out}") from None
    assert proc.returncode == 0, out
    return out


async def minted_tokens(lantern: Lantern, w3: AsyncWeb3, count: int) -> dict[int, str]:
    """``count`` jobs completed and minted by their wallet: token id → job id."""
    base = lantern.base_url
    tokens: dict[int, str] = {}
    async with aiohttp.ClientSession() as http:
        body = {"settings": {}, "options": SMALL, "wallet": USER.address}
        jobs = [await submit(http, base, body) for _ in range(count)]
        for job_id in jobs:
            job, _ = await wait_done(http, base, job_id)
            assert job["state"] == "completed", job
            status, answer = await mint_tx(http, base, job_id, USER.address)
            assert status == 200, answer
            receipt = await sign_and_send(w3, USER, answer["transaction"])
            tokens[minted_token_id(w3, receipt)] = job_id
        for job_id in jobs:
            await wait_state(http, base, job_id, named)
    return tokens


async def updates(w3: AsyncWeb3, address: str, since: int) -> list[int]:
    """Token ids the ERC-4906 events since block ``since`` say were updated, in order (a
    BatchMetadataUpdate counts for each token of its range)."""
    if since > await w3.eth.block_number:
        return []
    logs = await w3.eth.get_logs(
        {"address": address, "fromBlock": since, "topics": [[UPDATE, BATCH]]}
    )
    found: list[int] = []
    for log in logs:
        data = bytes(log["data"])
        if "0x" + bytes(log["topics"][0]).hex() == UPDATE:
            found.append(int.from_bytes(data, "big"))
        else:
            first, last = int.from_bytes(data[:32], "big"), int.from_bytes(data[32:], "big")
            found.extend(range(first, last + 1))
    return found


async def batches(w3: AsyncWeb3, address: str, since: int) -> int:
    logs = await w3.eth.get_logs({"address": address, "fromBlock": since, "topics": [BATCH]})
    return len(logs)


async def metadata(lantern: Lantern, uri: str) -> dict[str, Any]:
    url = f"{lantern.base_url}/ipfs/{uri.removeprefix('ipfs://')}"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200
        return dict(json.loads(await r.read()))


@pytest.mark.timeout(300)
async def test_replay_updates_each_token_once_and_again_changes_nothing(
    lantern: Lantern, local_chain: LocalChain, tmp_path: Path
) -> None:
    w3 = web3_for(local_chain.rpc)
    address = lantern.settings.chain.contract
    gen1 = w3.eth.contract(address=address, abi=load_artifact()["abi"])  # type: ignore[call-overload]
    tokens = await minted_tokens(lantern, w3, 20)
    ids = ",".join(str(t) for t in sorted(tokens))
    before = {t: await gen1.functions.tokenURI(t).call() for t in tokens}
    start = await w3.eth.block_number + 1  # after the naming of the tokens just minted

    dry = finished(replay(lantern, tmp_path, "--tokens", ids, "--renderer-version", "v-test",
                          "--dry-run"))  # fmt: skip
    assert "20 to publish" in dry and await updates(w3, address, start) == []

    fast = ("--rate", "600", "--max-pending", "20")
    out = finished(
        replay(lantern, tmp_path, "--tokens", ids, "--renderer-version", "v-test", *fast)
    )
    assert "20 to publish" in out and "updated 20" in out, out
    assert sorted(await updates(w3, address, start)) == sorted(tokens)  # each exactly once
    assert await batches(w3, address, start) >= 1  # contiguous tokens: batchUpdateMetadata
    for token_id, job_id in tokens.items():
        uri = await gen1.functions.tokenURI(token_id).call()
        assert uri != before[token_id]
        meta, old = await metadata(lantern, uri), await metadata(lantern, before[token_id])
        assert meta["name"] == f"Gen1 #{token_id}"
        assert meta["properties"]["renderer_version"] == "v-test"
        assert meta["image"] == old["image"]  # the same settings: the same GIF
        url = f"{lantern.base_url}/api/v1/jobs/{job_id}"  # the token's own job follows it
        async with aiohttp.ClientSession() as http, http.get(url) as r:
            assert (await r.json())["token"]["token_uri"] == uri

    again_block = await w3.eth.block_number
    again = finished(
        replay(lantern, tmp_path, "--tokens", ids, "--renderer-version", "v-test", *fast)
    )
    assert "0 to publish" in again, again
    assert await updates(w3, address, again_block + 1) == []
    await w3.provider.disconnect()


async def test_a_replay_killed_midway_resumes_without_duplicates(
    lantern: Lantern, local_chain: LocalChain, tmp_path: Path
) -> None:
    w3 = web3_for(local_chain.rpc)
    address = lantern.settings.chain.contract
    tokens = await minted_tokens(lantern, w3, 3)
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps([
        {"token_id": t, "settings": {"flowField": {"color1": f"#{i:02x}3366"}}}
        for i, t in enumerate(sorted(tokens))
    ]))  # fmt: skip
    start = await w3.eth.block_number + 1  # after the naming of the tokens just minted
    args = ("--overrides", str(overrides), "--rate", "20")  # one every 3 s: time to kill it
    first = replay(lantern, tmp_path, *args)
    checkpoints = tmp_path / ".lantern" / "state" / "replay"
    deadline = time.monotonic() + 60
    while not any(p.read_text().strip() for p in checkpoints.glob("*.jsonl")):
        assert time.monotonic() < deadline and first.poll() is None, "nothing was published"
        await asyncio.sleep(0.1)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate()  # reaped, its output pipe closed
    out = finished(replay(lantern, tmp_path, *args))
    assert "1 already published, 2 to publish" in out, out
    deadline = time.monotonic() + 60
    while len(await updates(w3, address, start)) < 3:
        assert time.monotonic() < deadline, await updates(w3, address, start)
        await asyncio.sleep(0.5)
    assert sorted(await updates(w3, address, start)) == sorted(tokens)  # each once
    await w3.provider.disconnect()
