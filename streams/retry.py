"""Retries and dead letters: a failed event waits on the retry topic, then goes back, or dies.

faust acks an event whose agent raised and never redelivers it, so retrying is built here:
``Pipeline.guard`` sends the failed event, with its attempt count raised, to the ``retry`` topic
as a RetryEnvelope due after an exponential, jittered backoff; the retry agent waits until it is
due and re-publishes it, byte for byte, to the topic it came from. After the last attempt (or at
once, for an error that cannot succeed on retry, such as invalid settings) the event goes to the
``dead-letters`` topic with the error, the stage and the original event, and the job fails.

The retry topic is only as trustworthy as whoever can write to it, so the agent re-publishes
only to Lantern's own stage topics (those a guard retries: mint-requests, frame-tasks, frames,
pin-requests). An envelope naming any other topic is logged as a warning and dropped: sending
it to the dead letters would let a forged envelope fail a real job.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Collection

import faust

from lantern.contract import RetryEnvelope

__all__ = [
    "STAGE_TOPICS",
    "allowed_target",
    "attach",
    "backoff_delay",
    "stage_topics",
]

log = logging.getLogger(__name__)


def backoff_delay(attempt: int, base: float, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempt + 1``: base·2^(attempt−1), jittered by ±20 %."""
    jitter = (rng or random).uniform(0.8, 1.2)
    return float(base * 2 ** (attempt - 1) * jitter)


# the topics whose events a stage's guard retries (split, render, assemble, pin, chain), unprefixed
STAGE_TOPICS = (
    "mint-requests", "frame-tasks", "frame-tasks-bulk", "frames", "pin-requests", "chain-events",
    "token-updates",
)  # fmt: skip


def stage_topics(retry_topic_name: str) -> frozenset[str]:
    """The full names of the stage topics beside ``retry_topic_name``: the same prefix
    (``lantern.retry`` → ``lantern.mint-requests`` …, as ``KafkaSettings.topic`` names them)."""
    if not retry_topic_name.endswith("retry"):
        raise ValueError(f"retry topic {retry_topic_name!r}: pass the stage topics as targets")
    prefix = retry_topic_name.removesuffix("retry")
    return frozenset(prefix + name for name in STAGE_TOPICS)


def allowed_target(topic: object, names: Collection[str]) -> bool:
    """True if a retry may be re-published to ``topic``: it is one of ``names``."""
    return isinstance(topic, str) and topic in names


def attach(
    app: faust.App,
    retry_topic_name: str,
    partitions: int,
    targets: Collection[str] | None = None,
) -> faust.TopicT:
    """Declare the retry topic and the agent that re-publishes due events, to ``targets`` only
    (default: the stage topics named beside ``retry_topic_name``)."""
    allowed = frozenset(targets) if targets is not None else stage_topics(retry_topic_name)
    topic = app.topic(
        retry_topic_name, key_type=str, value_type=RetryEnvelope, partitions=partitions
    )
    raw_topics: dict[str, faust.TopicT] = {}

    @app.agent(topic, name="lantern.retry", concurrency=1)
    async def redeliver(envelopes: faust.StreamT[RetryEnvelope]) -> None:
        async for envelope in envelopes:
            if not allowed_target(envelope.topic, allowed):
                log.warning(
                    "retry dropped: topic %.100r is not a stage topic job=%.40r stage=%.40r",
                    envelope.topic,
                    envelope.job_id,
                    envelope.stage,
                )
                continue
            # envelopes on a partition are due in roughly the order they came: waiting here
            # holds back only later retries, never the live topics
            wait = envelope.due_at - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            origin = raw_topics.get(envelope.topic)
            if origin is None:
                origin = raw_topics[envelope.topic] = app.topic(
                    envelope.topic, key_serializer="raw", value_serializer="raw"
                )
            sent = await origin.send(
                key=envelope.key.encode(),
                value=envelope.payload.encode(),
                partition=envelope.partition,
            )
            await sent
            log.info(
                "retried job=%s stage=%s attempt=%d",
                envelope.job_id,
                envelope.stage,
                envelope.attempt,
            )

    return topic
