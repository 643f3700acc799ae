"""A Kafka cluster, not a broker: three KRaft nodes, every topic with three copies and two needed
for a write. One node stops while jobs run; every job completes; it comes back and catches up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from lantern.settings import Settings
from streams.broker import KafkaCluster, free_port

from .conftest import ARTIFACTS, lantern_env, running_stack
from .test_pipeline import WALLET, submit, wait_done

pytestmark = pytest.mark.integration
JOBS = 20


@dataclasses.dataclass
class ClusterStack:
    cluster: KafkaCluster
    settings: Settings
    base_url: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterStack]:
    data = tmp_path_factory.mktemp("cluster")
    cluster = KafkaCluster(dataclasses.replace(Settings().kafka, data_dir=data), size=3)
    bootstrap = cluster.start()
    port = free_port()
    env = {
        **lantern_env(bootstrap, f"cluster{os.getpid()}", port, tmp_path_factory.mktemp("ipfs")),
        "LANTERN_KAFKA_REPLICATION": "3",
    }
    try:
        with running_stack(env, "cluster") as base_url:
            yield ClusterStack(cluster, Settings.from_env(env), base_url)
    finally:
        cluster.stop()
        for node in cluster.nodes:
            name = f"broker-cluster-{node.node.node_id if node.node else 0}.log"
            (ARTIFACTS / name).write_bytes(Path(node.log_path).read_bytes())


async def _replicas(settings: Settings) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) → (replicas, in-sync replicas) for Lantern's topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
    await admin.start()
    try:
        prefix = settings.kafka.topic_prefix
        topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {
        (t["topic"], p["partition"]): (len(p["replicas"]), len(p["isr"]))
        for t in described
        for p in t["partitions"]
    }


async def _coordinator(settings: Settings) -> int:
    """The node id coordinating the workers' consumer group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
    await admin.start()
    try:
        return int(await admin.find_coordinator(settings.worker.app_id))
    finally:
        await admin.close()


@pytest.mark.timeout(600)
async def test_a_broker_stopped_mid_flow_loses_no_job_and_catches_up(stack: ClusterStack) -> None:
    settings = stack.settings
    copies = await _replicas(settings)
    assert copies and all(replicas == 3 for replicas, _ in copies.values()), copies
    body = {"settings": {}, "options": {"size": 128, "frames": 24}, "wallet": WALLET}
    async with aiohttp.ClientSession() as http:
        ids = [await submit(http, stack.base_url, body) for _ in range(JOBS // 2)]
        # mid-flow (jobs queued and rendering), the node the workers' group is coordinated by:
        # the hardest one to lose
        coordinator = await _coordinator(settings)
        node = next(n for n in stack.cluster.nodes if n.node and n.node.node_id == coordinator)
        await asyncio.to_thread(node.stop)
        ids += [await submit(http, stack.base_url, body) for _ in range(JOBS - len(ids))]
        done = await asyncio.gather(*(wait_done(http, stack.base_url, j, 240) for j in ids))
        states = [job["state"] for job, _ in done]
        assert states == ["completed"] * JOBS, states
        degraded = await _replicas(settings)
        assert any(isr == 2 for _, isr in degraded.values())  # it really was away
        await asyncio.to_thread(node.start)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            caught_up = await _replicas(settings)
            if all(isr == 3 for _, isr in caught_up.values()):
                break
            await asyncio.sleep(1)
        assert all(isr == 3 for _, isr in caught_up.values()), caught_up
        # and the pipeline still works with all three back
        job, _ = await wait_done(http, stack.base_url, await submit(http, stack.base_url, body))
        assert job["state"] == "completed"
