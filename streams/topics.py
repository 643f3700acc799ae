"""Lantern's topics: their names and their explicit creation with partition counts from settings.

Topics are created here, before any worker or API starts, rather than left to auto-creation:
the broker's ``auto.create.topics.enable`` is off, and faust's table changelog must have the
same partition count as the stream that writes it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner

from lantern.settings import Settings

from .kafka_security import kafka_client_options

__all__ = [
    "TopicNames",
    "changelog",
    "ensure_topics",
    "owned_partitions",
    "partition_of",
    "status_changelog",
]

log = logging.getLogger(__name__)
_partitioner = DefaultPartitioner()


def owned_partitions(app: faust.App, topic: str) -> set[int]:
    """The partitions of ``topic`` this worker actively owns (its tables also hold standby
    copies of others' partitions, which are not its to act on)."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


def partition_of(key: str, partitions: int) -> int:
    """The partition a record keyed ``key`` goes to when no partition is given (Kafka's default
    partitioner, murmur2 of the key's bytes): a job's partition of every topic keyed by its id,
    and so of the tables those topics' agents write."""
    every = range(partitions)
    return int(_partitioner(key.encode(), every, every))


@dataclass(frozen=True)
class TopicNames:
    """The full name of every topic the pipeline uses."""

    mint_requests: str
    frame_tasks: str
    frame_tasks_bulk: str  # the tasks of bulk jobs (streams/lanes.py)
    frames: str
    pin_requests: str
    status: str
    status_changelog: str
    retry: str
    dead_letters: str
    chain_events: str  # mints and completed jobs' metadata URIs, keyed by that URI (chain.py)
    chain_cursor: str  # the chain watcher's place (one partition, compacted)
    token_updates: str  # replays' new metadata for minted tokens (one partition: batched)

    def partitions(self, topic: str, settings: Settings) -> int:
        """How many partitions ``topic`` has: one for the chain watcher's place and the token
        updates (one consumer each, in order), the configured count for every other."""
        single = (self.chain_cursor, self.token_updates)
        return 1 if topic in single else settings.kafka.partitions

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicNames:
        """Names under the configured prefix (``lantern.mint-requests`` …)."""
        k = settings.kafka
        return cls(
            mint_requests=k.topic("mint-requests"),
            frame_tasks=k.topic("frame-tasks"),
            frame_tasks_bulk=k.topic("frame-tasks-bulk"),
            frames=k.topic("frames"),
            pin_requests=k.topic("pin-requests"),
            status=k.topic("status"),
            status_changelog=status_changelog(settings),
            retry=k.topic("retry"),
            dead_letters=k.topic("dead-letters"),
            chain_events=k.topic("chain-events"),
            chain_cursor=k.topic("chain-cursor"),
            token_updates=k.topic("token-updates"),
        )


STATUS_TABLE = "job-status"
BLOCKS_TABLE = "frame-blocks"
ASSEMBLIES_TABLE = "assemblies"
MINT_LINKS_TABLE = "mint-links"

# The assembler's changelogs (blocks, assemblies) are rewritten by every job, and a finished
# job leaves only tombstones there: compact them often so that a recovering worker replays
# minutes of history, not days (the broker compacts only closed segments: 7 days by default).
STATUS_CHANGELOG_CONFIG = {"segment.ms": str(3600 * 1000), "min.cleanable.dirty.ratio": "0.5"}
BLOCKS_CHANGELOG_CONFIG = {
    "segment.ms": str(10 * 60 * 1000),
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": str(60 * 1000),
}


def changelog(settings: Settings, table: str) -> str:
    """The changelog topic faust writes for ``table`` (``<app id>-<table>-changelog``)."""
    return f"{settings.worker.app_id}-{table}-changelog"


def status_changelog(settings: Settings) -> str:
    """The status table's changelog, which the API reads."""
    return changelog(settings, STATUS_TABLE)


async def ensure_topics(settings: Settings, timeout: float = 60.0) -> list[str]:
    """Create any missing topic; retry while the broker is still coming up. Returns the created."""
    names = TopicNames.from_settings(settings)
    k = settings.kafka
    common = {"max.message.bytes": str(k.max_message_bytes)}
    wanted = [
        NewTopic(names.mint_requests, k.partitions, k.replication, topic_configs=common),
        NewTopic(names.frame_tasks, k.partitions, k.replication, topic_configs=common),
        NewTopic(names.frame_tasks_bulk, k.partitions, k.replication, topic_configs=common),
        NewTopic(names.frames, k.partitions, k.replication, topic_configs=common),
        NewTopic(names.pin_requests, k.partitions, k.replication, topic_configs=common),
        NewTopic(names.status, k.partitions, k.replication, topic_configs=common),
        NewTopic(names.retry, k.partitions, k.replication, topic_configs=common),
        # dead letters are kept a month: an operator reads them, a retry replays them
        NewTopic(
            names.dead_letters,
            k.partitions,
            k.replication,
            topic_configs={**common, "retention.ms": str(30 * 24 * 3600 * 1000)},
        ),
        # every job writes ~7 statuses and keeps one: compacted hourly, a recovering worker
        # replays about one record per job kept (retention decides how many), not seven
        NewTopic(
            names.status_changelog,
            k.partitions,
            k.replication,
            topic_configs={**common, **STATUS_CHANGELOG_CONFIG, "cleanup.policy": "compact"},
        ),
        NewTopic(names.chain_events, k.partitions, k.replication, topic_configs=common),
        # one place per chain and contract: the newest record is all a watcher needs
        NewTopic(
            names.chain_cursor,
            names.partitions(names.chain_cursor, settings),
            k.replication,
            topic_configs={**common, **STATUS_CHANGELOG_CONFIG, "cleanup.policy": "compact"},
        ),
        # one partition: one consumer sends every owner transaction (no nonce races between
        # workers) and batches contiguous tokens into one batchUpdateMetadata
        NewTopic(
            names.token_updates,
            names.partitions(names.token_updates, settings),
            k.replication,
            topic_configs=common,
        ),
        # a metadata URI's job and token, kept as long as the token (compacted, never deleted)
        NewTopic(
            changelog(settings, MINT_LINKS_TABLE),
            k.partitions,
            k.replication,
            topic_configs={**common, **STATUS_CHANGELOG_CONFIG, "cleanup.policy": "compact"},
        ),
        # the assembler's tables: faust would create these lazily, racing the first events
        NewTopic(
            changelog(settings, BLOCKS_TABLE),
            k.partitions,
            k.replication,
            topic_configs={**common, **BLOCKS_CHANGELOG_CONFIG, "cleanup.policy": "compact"},
        ),
        NewTopic(
            changelog(settings, ASSEMBLIES_TABLE),
            k.partitions,
            k.replication,
            topic_configs={**common, **BLOCKS_CHANGELOG_CONFIG, "cleanup.policy": "compact"},
        ),
    ]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=k.bootstrap,
            request_timeout_ms=int(k.request_timeout_s * 1000),
            **kafka_client_options(k),
        )
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t.name not in existing]
            if missing:
                await admin.create_topics(missing)
            created = [t.name for t in missing]
            if created:
                log.info("topics created %s", ",".join(created))
            return created
        except TopicAlreadyExistsError:
            return []  # another process created them at the same moment
        except (KafkaConnectionError, KafkaError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.info("broker not ready for topic creation yet: %s", exc)
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
