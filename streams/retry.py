"""Retries and dead letters: a failed event waits on the retry topic, then goes back, or dies.

faust acks an event whose agent raised and never redelivers it, so retrying is built here:
``Pipeline.guard`` sends the failed event, with its attempt count raised, to the ``retry`` topic
as a RetryEnvelope due after an exponential, jittered backoff; the retry agent waits until it is
due and re-publishes it, byte for byte, to the topic it came from. After the last attempt (or at
once, for an error that cannot succeed on retry, such as invalid settings) the event goes to the
``dead-letters`` topic with the error, the stage and the original event, and the job fails.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import faust

__all__ = ["DeadLetter", "RetryEnvelope", "attach", "backoff_delay"]

log = logging.getLogger(__name__)


class RetryEnvelope(faust.Record, serializer="json"):
    """A failed event to re-publish to ``topic`` once ``due_at`` has passed."""

    job_id: str
    stage: str
    topic: str
    key: str
    payload: str  # the event as JSON, its attempt count already raised
    attempt: int  # the attempt the re-published event will be
    due_at: float
    error: str
    partition: int | None = None
    version: int = 1


class DeadLetter(faust.Record, serializer="json"):
    """An event that failed for good: what failed, where, how often and why."""

    job_id: str
    stage: str
    topic: str
    key: str
    payload: str  # the original event as JSON
    attempts: int
    error: str
    at: float
    version: int = 1


def backoff_delay(attempt: int, base: float, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempt + 1``: base·2^(attempt−1), jittered by ±20 %."""
    jitter = (rng or random).uniform(0.8, 1.2)
    return float(base * 2 ** (attempt - 1) * jitter)


def attach(app: faust.App, retry_topic_name: str, partitions: int) -> faust.TopicT:
    """Declare the retry topic and the agent that re-publishes due events."""
    topic = app.topic(
        retry_topic_name, key_type=str, value_type=RetryEnvelope, partitions=partitions
    )
    raw_topics: dict[str, faust.TopicT] = {}

    @app.agent(topic, name="lantern.retry", concurrency=1)
    async def redeliver(envelopes: faust.StreamT[RetryEnvelope]) -> None:
        async for envelope in envelopes:
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
