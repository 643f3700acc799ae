"""Minting on a real EVM node (anvil): a completed job's mint transaction, signed and sent by
the user's wallet (web3.py with a funded test account), seen by the chain watcher, the job
``minted`` with its token, the token named and its ``tokenURI`` resolving through the API's
``/ipfs/`` to metadata whose image is the job's GIF. Then the watcher's worst moment: its worker
killed between publishing mints and saving its place, while more mints happen."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.logs import DISCARD

from chain.artifact import load_artifact
from lantern.processes import free_port, spawn
from lantern.settings import Settings

from .conftest import Lantern, LocalChain, lantern_env, running_stack, stack_log
from .test_pipeline import submit, wait_done

pytestmark = pytest.mark.integration

# anvil's funded development accounts 1 and 2 (account 0 owns the contracts)
USER = Account.from_key("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
OTHER = Account.from_key("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a")
SMALL = {"size": 64, "frames": 4}


def web3_for(rpc: str) -> AsyncWeb3:
    return AsyncWeb3(AsyncHTTPProvider(rpc))


async def mint_tx(
    http: aiohttp.ClientSession, base: str, job_id: str, sender: str
) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{base}/api/v1/jobs/{job_id}/mint-tx", params={"from": sender}) as r:
        return r.status, await r.json()


async def sign_and_send(w3: AsyncWeb3, account: Any, tx: dict[str, Any]) -> dict[str, Any]:
    """What a wallet does with the API's transaction: add nonce and fees, sign, send, wait."""
    base_fee = (await w3.eth.get_block("latest"))["baseFeePerGas"]
    full = {
        "from": tx["from"],
        "to": tx["to"],
        "data": tx["data"],
        "value": int(tx["value"], 16),
        "gas": int(tx["gas"], 16),
        "chainId": int(tx["chainId"], 16),
        "nonce": await w3.eth.get_transaction_count(account.address, "pending"),
        "maxFeePerGas": 2 * base_fee + 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    tx_hash = await w3.eth.send_raw_transaction(account.sign_transaction(full).raw_transaction)
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    return dict(receipt)


def minted_token_id(w3: AsyncWeb3, receipt: dict[str, Any]) -> int:
    contract = w3.eth.contract(abi=load_artifact()["abi"])
    # the receipt's other log (ERC-721's Transfer) is not a Gen1Minted: left out
    (event,) = contract.events.Gen1Minted().process_receipt(receipt, errors=DISCARD)
    return int(event["args"]["tokenId"])


async def wait_state(
    http: aiohttp.ClientSession,
    base: str,
    job_id: str,
    done: Any,
    timeout: float = 60,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        async with http.get(f"{base}/api/v1/jobs/{job_id}") as response:
            job = await response.json()
        if done(job):
            return job
        await asyncio.sleep(0.25)
    raise AssertionError(f"job {job_id} not there in {timeout}s: {job}")


def named(job: dict[str, Any]) -> bool:
    return job["state"] == "minted" and "token_uri" in (job.get("token") or {})


async def test_a_completed_job_is_minted_by_its_wallet_and_its_token_named(
    lantern: Lantern, local_chain: LocalChain
) -> None:
    base = lantern.base_url
    w3 = web3_for(local_chain.rpc)
    gen1 = w3.eth.contract(address=lantern.settings.chain.contract, abi=load_artifact()["abi"])
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/v1/chain") as response:
            assert response.status == 200
            chain = await response.json()
        assert chain["chain_id"] == 31337 and chain["price"] == "0.001 ETH"
        assert chain["contract"] == lantern.settings.chain.contract

        job_id = await submit(
            http, base, {"settings": {}, "options": SMALL, "wallet": USER.address}
        )
        job, _ = await wait_done(http, base, job_id)
        assert job["state"] == "completed", job
        status, answer = await mint_tx(http, base, job_id, USER.address)
        assert status == 200, answer
        tx = answer["transaction"]
        assert tx["to"] == lantern.settings.chain.contract and int(tx["value"], 16) == 10**15
        receipt = await sign_and_send(w3, USER, tx)
        token_id = minted_token_id(w3, receipt)

        job = await wait_state(http, base, job_id, named)
        token = job["token"]
        assert token["token_id"] == token_id
        assert token["owner"] == USER.address
        assert token["tx_hash"] == receipt["transactionHash"].to_0x_hex()
        assert token["block_number"] == receipt["blockNumber"]

        # the token points at metadata named for it, whose image is the job's GIF
        uri = await gen1.functions.tokenURI(token_id).call()
        assert uri == token["token_uri"] != job["result"]["token_uri"]
        async with http.get(f"{base}/ipfs/{uri.removeprefix('ipfs://')}") as response:
            assert response.status == 200
            metadata = json.loads(await response.read())
        assert metadata["name"] == f"Gen1 #{token_id}"
        assert metadata["image"] == f"ipfs://{job['result']['gif_cid']}"
        async with http.get(f"{base}/ipfs/{job['result']['gif_cid']}") as response:
            assert response.status == 200 and response.headers["Content-Type"] == "image/gif"

        # once minted, no second transaction; the legacy route still says completed
        status, answer = await mint_tx(http, base, job_id, USER.address)
        assert (status, answer["error"]["code"]) == (409, "already_minted")
        async with http.get(f"{base}/api/gen1/job-status", params={"jobId": job_id}) as response:
            legacy = await response.json()
        assert legacy["status"] == "completed" and legacy["result"]["metadataUrl"]
    await w3.provider.disconnect()


async def test_mint_transactions_are_refused_with_reasons(lantern: Lantern) -> None:
    base = lantern.base_url
    poor = Account.create()
    async with aiohttp.ClientSession() as http:
        mine = await submit(http, base, {"settings": {}, "options": SMALL, "wallet": USER.address})
        broke = await submit(http, base, {"settings": {}, "options": SMALL, "wallet": poor.address})
        for job_id in (mine, broke):
            job, _ = await wait_done(http, base, job_id)
            assert job["state"] == "completed", job

        status, answer = await mint_tx(http, base, mine, OTHER.address)
        assert (status, answer["error"]["code"]) == (403, "not_your_job")
        status, answer = await mint_tx(http, base, mine, "0x1234")
        assert (status, answer["error"]["field"]) == (422, "from")
        async with http.get(f"{base}/api/v1/jobs/{mine}/mint-tx") as response:
            assert response.status == 400
        status, answer = await mint_tx(http, base, "f" * 32, USER.address)
        assert status == 404
        status, answer = await mint_tx(http, base, broke, poor.address)
        assert (status, answer["error"]["code"]) == (422, "insufficient_funds")
        assert "0.001 ETH" in answer["error"]["message"]


async def _topic_tokens(settings: Settings) -> Counter[int]:
    """How many times each token's mint is on chain-events (read from the start)."""
    consumer = AIOKafkaConsumer(
        settings.kafka.topic("chain-events"),
        bootstrap_servers=settings.kafka.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: Counter[int] = Counter()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
        for records in batches.values():
            for record in records:
                value = json.loads(record.value)
                if value.get("__faust", {}).get("ns") == "lantern.TokenMinted":
                    seen[value["token_id"]] += 1
    finally:
        await consumer.stop()
    return seen


async def test_a_watcher_killed_between_mints_and_its_place_misses_none_and_counts_none_twice(
    kafka_bootstrap: str,
    local_chain: LocalChain,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    name = f"mintdrill{os.getpid()}"
    port = free_port()
    env = {
        **lantern_env(kafka_bootstrap, name, port, tmp_path_factory.mktemp("ipfs")),
        **local_chain.deploy(),
        "LANTERN_FAULTS_CHAIN_WATCH_CRASH": "true",
    }
    settings = Settings.from_env(env)
    w3 = web3_for(local_chain.rpc)
    with running_stack(env, name=name) as base:
        async with aiohttp.ClientSession() as http:
            body = {"settings": {}, "options": SMALL, "wallet": USER.address}
            jobs = [await submit(http, base, body) for _ in range(6)]
            for job_id in jobs:
                job, _ = await wait_done(http, base, job_id)
                assert job["state"] == "completed", job

            async def mint(job_id: str) -> int:
                status, answer = await mint_tx(http, base, job_id, USER.address)
                assert status == 200, answer
                return minted_token_id(w3, await sign_and_send(w3, USER, answer["transaction"]))

            # two mints: the watcher publishes them, then its worker dies before saving its place
            tokens = {job_id: await mint(job_id) for job_id in jobs[:2]}
            worker_log = stack_log("worker", name)
            deadline = time.monotonic() + 30
            while "injected crash after publishing" not in worker_log.read_text(errors="replace"):
                assert time.monotonic() < deadline, "the watcher never reached its crash point"
                await asyncio.sleep(0.2)
            # more mints while no worker runs, then a worker again
            tokens |= {job_id: await mint(job_id) for job_id in jobs[2:]}
            again = spawn(["worker"], env, Path(f"{worker_log}.restarted"))
            try:
                for job_id, token_id in tokens.items():
                    job = await wait_state(http, base, job_id, named, timeout=120)
                    assert job["token"]["token_id"] == token_id, job
            finally:
                again.send_signal(signal.SIGTERM)
                again.wait(30)
    await w3.provider.disconnect()
    # every token matched to its own job, none to two; the first was read twice: published
    # before the crash, and again by the new worker, as its place was never saved (the second
    # too when the watcher's crashing poll saw both mints, not when it saw only the first)
    assert sorted(tokens.values()) == list(range(1, 7))
    on_topic = await _topic_tokens(settings)
    assert set(on_topic) == set(range(1, 7))
    assert on_topic[1] >= 2, on_topic
