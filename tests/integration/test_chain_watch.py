"""The chain watcher against a real node and a real broker: it reads mints from its saved place,
stays ``confirmations`` behind the head, and re-reads when a reorg replaces the block it stopped
at (anvil's ``evm_snapshot``/``evm_revert`` make the reorg: the reverted blocks are replaced by
new ones with other transactions)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3

from chain.artifact import load_artifact
from lantern.contract import TokenMinted
from lantern.settings import Settings
from monitoring.metrics import WorkerMetrics
from streams.chain_watch import Watcher
from streams.faults import Faults
from streams.topics import TopicNames

from .conftest import LocalChain, create_topics

pytestmark = pytest.mark.integration

USER = Account.from_key("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")


@dataclasses.dataclass
class Publisher:
    """What the watcher needs of a Pipeline: its settings and topic names, ``publish`` (here
    straight to the broker with aiokafka, remembering what went out) and the faults hook."""

    settings: Settings
    producer: AIOKafkaProducer
    sent: list[tuple[str, Any]] = dataclasses.field(default_factory=list)
    metrics: WorkerMetrics = dataclasses.field(default_factory=WorkerMetrics.create)

    @property
    def names(self) -> TopicNames:
        return TopicNames.from_settings(self.settings)

    async def publish(self, topic: str, key: str, value: Any) -> None:
        await self.producer.send_and_wait(topic, value.dumps(), key=key.encode())
        self.sent.append((topic, value))

    def enter(self, point: str, subject: object) -> None:
        Faults(self.settings.faults, marks=self.settings.store.blocks_dir).enter(point, subject)

    def mints(self) -> list[TokenMinted]:
        return [v for _, v in self.sent if isinstance(v, TokenMinted)]


async def _mint(w3: AsyncWeb3, address: str, uri: str) -> int:
    gen1 = w3.eth.contract(address=address, abi=load_artifact()["abi"])  # type: ignore[call-overload]
    tx = await gen1.functions.mint("ipfs://img", uri).build_transaction(
        {
            "from": USER.address,
            "value": 10**15,
            "nonce": await w3.eth.get_transaction_count(USER.address, "pending"),
        }
    )
    tx_hash = await w3.eth.send_raw_transaction(USER.sign_transaction(tx).raw_transaction)
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
    return int(receipt["blockNumber"])


@pytest.fixture
async def watched(
    kafka_bootstrap: str, local_chain: LocalChain, tmp_path: Any
) -> AsyncIterator[tuple[Settings, AsyncWeb3, Publisher]]:
    name = f"watch{os.getpid()}{tmp_path.name[-6:]}"
    env = {
        "LANTERN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LANTERN_KAFKA_TOPIC_PREFIX": name,
        "LANTERN_STORE_ROOT": str(tmp_path / "ipfs"),
        **local_chain.deploy(),
    }
    settings = Settings.from_env(env)
    create_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    w3 = AsyncWeb3(AsyncHTTPProvider(local_chain.rpc))
    try:
        yield settings, w3, Publisher(settings, producer)
    finally:
        await producer.stop()
        await w3.provider.disconnect()


def _watcher(settings: Settings, publisher: Publisher, **chain: Any) -> Watcher:
    settings = dataclasses.replace(settings, chain=dataclasses.replace(settings.chain, **chain))
    publisher.settings = settings
    names = publisher.names
    return Watcher(publisher, names.chain_events, names.chain_cursor)  # type: ignore[arg-type]


async def test_a_new_watcher_resumes_from_the_saved_place_and_reads_nothing_twice(
    watched: tuple[Settings, AsyncWeb3, Publisher],
) -> None:
    settings, w3, publisher = watched
    address = settings.chain.contract
    await _mint(w3, address, "ipfs://one")
    first = _watcher(settings, publisher)
    assert await first.look() == 1
    await first.close()
    await _mint(w3, address, "ipfs://two")
    second = _watcher(settings, publisher)  # a restart: only the saved place carries over
    assert await second.look() == 1
    assert await second.look() == 0
    await second.close()
    assert [(m.token_id, m.metadata_uri) for m in publisher.mints()] == [
        (1, "ipfs://one"),
        (2, "ipfs://two"),
    ]
    read = publisher.metrics.registry.get_sample_value(
        "lantern_chain_watched_block", {"which": "read"}
    )
    assert read == await w3.eth.block_number


async def test_blocks_within_confirmations_are_not_read_so_a_shallow_reorg_never_shows(
    watched: tuple[Settings, AsyncWeb3, Publisher],
) -> None:
    settings, w3, publisher = watched
    watcher = _watcher(settings, publisher, confirmations=2)
    snapshot = await w3.provider.make_request("evm_snapshot", [])  # type: ignore[arg-type]
    await _mint(w3, settings.chain.contract, "ipfs://orphaned")
    assert await watcher.look() == 0  # one block deep: not yet
    await w3.provider.make_request("evm_revert", [snapshot["result"]])  # type: ignore[arg-type]
    await _mint(w3, settings.chain.contract, "ipfs://kept")
    await w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
    assert await watcher.look() == 1
    await watcher.close()
    assert [m.metadata_uri for m in publisher.mints()] == ["ipfs://kept"]


async def test_a_reorg_of_the_saved_place_is_noticed_and_the_new_blocks_read(
    watched: tuple[Settings, AsyncWeb3, Publisher],
) -> None:
    settings, w3, publisher = watched
    watcher = _watcher(settings, publisher, confirmations=0, reorg_depth=4)
    snapshot = await w3.provider.make_request("evm_snapshot", [])  # type: ignore[arg-type]
    old_block = await _mint(w3, settings.chain.contract, "ipfs://old-fork")
    assert await watcher.look() == 1
    await w3.provider.make_request("evm_revert", [snapshot["result"]])  # type: ignore[arg-type]
    new_block = await _mint(w3, settings.chain.contract, "ipfs://new-fork")
    assert new_block == old_block  # the same height, another block
    assert await watcher.look() == 1
    await watcher.close()
    old, new = publisher.mints()
    assert (old.metadata_uri, new.metadata_uri) == ("ipfs://old-fork", "ipfs://new-fork")
    assert old.block_number == new.block_number and old.block_hash != new.block_hash
