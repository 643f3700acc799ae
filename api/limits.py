"""Admission control: per-wallet and per-IP token buckets, and the backlog limit.

The buckets live in each API replica's memory, so with M replicas behind a balancer a client can
get up to M times the rate; the backlog limit is shared truth (read from Kafka's offsets).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator

from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.settings import Settings
from streams.topics import TopicNames

from .errors import ApiError

__all__ = ["Admission", "BacklogMonitor", "RateLimiter", "StreamSlots"]

log = logging.getLogger(__name__)


class RateLimiter:
    """A token bucket per key: ``per_minute`` tokens a minute, bursts up to ``per_minute``."""

    def __init__(self, per_minute: int, what: str, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.what = what
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> None:
        """Spend one token for ``key`` or raise 429 with how long to wait."""
        if self.rate <= 0:
            return  # a limit of 0 disables it
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            wait = math.ceil((1 - tokens) / self.rate)
            raise ApiError(
                429, "rate_limited",
                f"too many submissions for this {self.what}; retry in {wait}s",
                headers={"Retry-After": str(wait)},
            )  # fmt: skip
        self._buckets[key] = (tokens - 1, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)  # forget the least recently seen


class BacklogMonitor:
    """Polls the workers' consumer lag on the request and frame topics once a second.

    Backlog = Σ (log-end offset − committed offset) over ``mint-requests`` and ``frame-tasks``.
    ``reachable`` says whether the last poll reached the broker (for /readyz).
    """

    def __init__(self, settings: Settings, interval: float = 1.0) -> None:
        self.settings = settings
        self.interval = interval
        names = TopicNames.from_settings(settings)
        self.topics = (names.mint_requests, names.frame_tasks)
        self.backlog = 0
        self.polled_at = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def reachable(self) -> bool:
        """True if the broker answered within the last few polls."""
        return time.monotonic() - self.polled_at < max(5.0, 3 * self.interval)

    def admit(self) -> None:
        """Raise 429 when the backlog is over the limit."""
        limit = self.settings.api.max_backlog
        if limit and self.backlog > limit:
            raise ApiError(
                429, "busy",
                f"the render queue is full ({self.backlog} pending frames); retry shortly",
                headers={"Retry-After": "10"},
            )  # fmt: skip

    async def start(self) -> None:
        """Start polling in the background."""
        self._task = asyncio.create_task(self._run(), name="backlog-monitor")

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        k = self.settings.kafka
        while True:
            admin = AIOKafkaAdminClient(bootstrap_servers=k.bootstrap, request_timeout_ms=5000)
            consumer = AIOKafkaConsumer(bootstrap_servers=k.bootstrap, request_timeout_ms=5000)
            try:
                await admin.start()
                await consumer.start()
                while True:
                    self.backlog = await self._poll(admin, consumer)
                    self.polled_at = time.monotonic()
                    await asyncio.sleep(self.interval)
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("backlog poll failed: %r", exc)
                await asyncio.sleep(self.interval)
            finally:
                await consumer.stop()
                await admin.close()

    async def _poll(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> int:
        group = self.settings.worker.app_id
        committed = await admin.list_consumer_group_offsets(group)
        # topics.py creates these with the configured partition count
        partitions = range(self.settings.kafka.partitions)
        tps = [TopicPartition(topic, p) for topic in self.topics for p in partitions]
        ends = await consumer.end_offsets(tps)
        backlog = 0
        for tp, end in ends.items():
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            backlog += max(0, end - done)
        return backlog


class Admission:
    """What a submission must pass before it is published: rates, then the backlog."""

    def __init__(self, settings: Settings) -> None:
        self.wallets = RateLimiter(settings.api.wallet_rate_per_min, "wallet")
        self.ips = RateLimiter(settings.api.ip_rate_per_min, "address")
        self.backlog = BacklogMonitor(settings)

    def admit(self, request: web.Request, wallet: str) -> None:
        """Raise 429 if this submission is over a rate or the queue is full."""
        self.backlog.admit()
        self.ips.take(request.remote or "unknown")
        self.wallets.take(wallet)


class StreamSlots:
    """Event streams open at once, in all and per client address, each under its cap."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total, self.per_client = total, per_client
        self.open: Counter[str] = Counter()

    @contextlib.contextmanager
    def take(self, client: str) -> Iterator[None]:
        """Hold a slot for ``client`` while the stream is open; 429 if none is free."""
        retry = {"Retry-After": "5"}
        if sum(self.open.values()) >= self.total:
            message = "too many event streams are open; poll the job's status instead"
            raise ApiError(429, "too_many_streams", message, headers=retry)
        if self.open[client] >= self.per_client:
            message = f"at most {self.per_client} event streams per client; close one or poll"
            raise ApiError(429, "too_many_streams", message, headers=retry)
        self.open[client] += 1
        try:
            yield
        finally:
            self.open[client] -= 1
            if not self.open[client]:
                del self.open[client]
