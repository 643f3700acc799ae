"""The embedded broker: real Kafka, data on disk, a restart loses nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from lantern.settings import Settings
from streams.broker import BrokerError, EmbeddedKafka
from streams.topics import TopicNames

from .conftest import create_topics

pytestmark = pytest.mark.integration


def settings_for(data: Path, bootstrap: str = "") -> Settings:
    base = Settings()
    return dataclasses.replace(
        base, kafka=dataclasses.replace(base.kafka, data_dir=data, bootstrap=bootstrap)
    )


async def produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
        return [r.value for records in batches.values() for r in records if r.value is not None]
    finally:
        await consumer.stop()


def test_restart_keeps_topics_and_messages_and_port(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "kafka")
    broker = EmbeddedKafka(settings.kafka)
    first = broker.start()
    try:
        live = settings_for(tmp_path / "kafka", first)
        created = create_topics(live)
        assert TopicNames.from_settings(live).mint_requests in created
        asyncio.run(produce(first, TopicNames.from_settings(live).status, b"kept"))
    finally:
        broker.stop()
    assert (tmp_path / "kafka" / "broker.log").stat().st_size > 0

    again = EmbeddedKafka(settings.kafka)
    second = again.start()
    try:
        assert second == first  # the same port when still free: stable URLs
        live = settings_for(tmp_path / "kafka", second)
        assert create_topics(live) == []  # nothing to create: all still there
        assert asyncio.run(read_all(second, TopicNames.from_settings(live).status)) == [b"kept"]
    finally:
        again.stop()


def test_missing_jars_are_explained(tmp_path: Path) -> None:
    base = Settings().kafka
    settings = dataclasses.replace(base, data_dir=tmp_path / "k", libs_dir=tmp_path / "none")
    with pytest.raises(BrokerError, match="make kafka"):
        EmbeddedKafka(settings).start()
