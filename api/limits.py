"""Admission control: per-wallet and per-IP token buckets for submissions and for work, and a
ceiling on the work pending in all.

The buckets live in each API replica's memory, so with M replicas behind a balancer a client can
get up to M times the rate; the pending work is shared truth (every replica folds the same
status changelog).
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

from lantern.settings import Settings
from monitoring.metrics import ApiMetrics
from streams.kafka_security import kafka_client_options
from streams.topics import TopicNames

from .background import BackgroundLoop
from .errors import ApiError, Handler
from .sizing import SizeCheck

__all__ = [
    "TARPIT",
    "Admission",
    "LagMonitor",
    "RateLimiter",
    "StreamSlots",
    "Tarpit",
    "tarpit_middleware",
]

log = logging.getLogger(__name__)


class RateLimiter:
    """A token bucket per key: ``per_minute`` tokens a minute, bursts up to ``per_minute``.

    A submission spends one token, or its cost in work (``take(key, cost)``); ``what`` names the
    key and ``spent`` what a token stands for, in the 429's message.
    """

    def __init__(
        self, per_minute: float, what: str, spent: str = "submissions", max_keys: int = 100_000
    ) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.what = what
        self.spent = spent
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def check(self, key: str, amount: float = 1.0, now: float | None = None) -> None:
        """Raise 429 with how long to wait if ``key`` cannot spend ``amount`` now."""
        if self.rate <= 0:
            return  # a limit of 0 disables it
        tokens = self._tokens(key, time.monotonic() if now is None else now)
        if tokens < amount:
            wait = math.ceil((amount - tokens) / self.rate)
            raise ApiError(
                429, "rate_limited",
                f"too many {self.spent} for this {self.what}; retry in {wait}s",
                headers={"Retry-After": str(wait)},
            )  # fmt: skip

    def take(self, key: str, amount: float = 1.0, now: float | None = None) -> None:
        """Spend ``amount`` for ``key`` or raise 429 (spending nothing)."""
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        self.check(key, amount, now)
        left = self._tokens(key, now) - amount
        self._buckets.pop(key, None)  # re-inserted last: the most recently seen
        self._buckets[key] = (left, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)  # forget the least recently seen

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - last) * self.rate)


class LagMonitor(BackgroundLoop):
    """Polls the workers' consumer lag on the request and frame topics once a second.

    Lag = Σ (log-end offset − committed offset) over ``mint-requests`` and ``frame-tasks``, in
    messages (a request is a whole job, a frame task ``frames_per_task`` frames): the queue as
    Kafka sees it. ``reachable`` says whether the last poll reached the broker (for /readyz).
    Admission counts work instead (``JobView.pending_frames``).
    """

    task_name = "backlog-monitor"

    def __init__(
        self, settings: Settings, interval: float = 1.0, metrics: ApiMetrics | None = None
    ) -> None:
        self.settings = settings
        self.interval = interval
        self.metrics = metrics
        names = TopicNames.from_settings(settings)
        self.topics = (names.mint_requests, names.frame_tasks, names.frame_tasks_bulk)
        # every topic the workers' group consumes, for lantern_consumer_lag
        self.watched = (
            *self.topics, names.frames, names.pin_requests, names.status, names.retry,
            names.chain_events, names.token_updates,
        )  # fmt: skip
        self.partitions = {t: names.partitions(t, settings) for t in self.watched}
        self.lag = 0
        self.by_topic: dict[str, int] = {}
        self.polled_at = 0.0

    @property
    def reachable(self) -> bool:
        """True if the broker answered within the last few polls."""
        return time.monotonic() - self.polled_at < max(5.0, 3 * self.interval)

    async def _run(self) -> None:
        """Poll every ``interval`` seconds, reconnecting after the broker fails a poll."""
        k = self.settings.kafka
        while True:
            options = {"request_timeout_ms": 5000, **kafka_client_options(k)}
            admin = AIOKafkaAdminClient(bootstrap_servers=k.bootstrap, **options)
            consumer = AIOKafkaConsumer(bootstrap_servers=k.bootstrap, **options)
            try:
                await admin.start()
                await consumer.start()
                while True:
                    self.lag = await self._poll(admin, consumer)
                    self.polled_at = time.monotonic()
                    await asyncio.sleep(self.interval)
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("lag poll failed: %r", exc)
                await asyncio.sleep(self.interval)
            finally:
                await consumer.stop()
                await admin.close()

    async def _poll(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> int:
        group = self.settings.worker.app_id
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(t, p) for t in self.watched for p in range(self.partitions[t])]
        ends = await consumer.end_offsets(tps)
        by_topic = dict.fromkeys(self.watched, 0)
        for tp, end in ends.items():
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            by_topic[tp.topic] += max(0, end - done)
        self.by_topic = by_topic
        if self.metrics is not None:
            for topic, lag in by_topic.items():
                self.metrics.consumer_lag.labels(group, topic).set(lag)
        return sum(by_topic[topic] for topic in self.topics)


class Admission:
    """What a submission must pass before it is published, cheapest first.

    A job's cost is its work in frames of the default size (``job_cost``: a 1024², 1000-frame
    job costs 4,000, forty default jobs).

    1. ``attempt``, before the body is read: every POST from an address spends one of its
       submission tokens, accepted or not, so a client that floods refusals is refused before
       any parsing (and pays for the sizing it asks for).
    2. ``admit``, once the body is valid: 422 for a job larger than a client's budget; 429 if
       the work of all unfinished jobs (``pending``, from the status table, so the same on every
       replica) would pass its ceiling, or if the address or the wallet lacks the work, or the
       wallet the submission, it needs. Nothing is spent yet.
    3. ``sizes.check`` for a job whose GIF could exceed the pin limit (its own rate per address).
    4. ``spend``: the wallet's submission and both work budgets, once the job is sure to be
       published.
    """

    def __init__(self, settings: Settings, metrics: ApiMetrics | None = None) -> None:
        api = settings.api
        self.settings = settings
        self.wallets = RateLimiter(api.wallet_rate_per_min, "wallet")
        self.ips = RateLimiter(api.ip_rate_per_min, "address")
        work = "frames of work"
        self.wallet_work = RateLimiter(api.client_frames_per_min, "wallet", work)
        self.ip_work = RateLimiter(api.client_frames_per_min, "address", work)
        self.lag = LagMonitor(settings, metrics=metrics)
        self.sizes = SizeCheck(
            settings.pin.max_bytes,
            api.size_estimates,
            RateLimiter(api.size_rate_per_min, "address", "large jobs to size"),
        )

    def attempt(self, request: web.Request) -> None:
        """Spend one submission token of the request's address, or raise 429."""
        self.ips.take(request.remote or "unknown")

    def admit(self, request: web.Request, wallet: str, cost: float, pending: float) -> None:
        """Raise 422 for a job no client may submit, 429 if over a budget or the queue is full
        (spending nothing)."""
        api = self.settings.api
        if api.client_frames_per_min and cost > api.client_frames_per_min:
            raise ApiError(
                422, "too_costly",
                f"this job is {cost:,.0f} frames of work (frames × size² / 512²); one client "
                f"may submit at most {api.client_frames_per_min:,} a minute: use fewer frames "
                "or a smaller size",
                field="options",
            )  # fmt: skip
        limit = api.max_backlog_frames
        if limit and pending > 0 and pending + cost > limit:
            raise ApiError(
                429, "busy",
                f"the render queue is full ({pending:,.0f} frames of work pending, this job "
                f"{cost:,.0f}, limit {limit:,}); retry shortly",
                headers={"Retry-After": "10"},
            )  # fmt: skip
        for bucket, key, amount in self._budgets(request, wallet, cost):
            bucket.check(key, amount)

    def spend(self, request: web.Request, wallet: str, cost: float) -> None:
        """Spend what ``admit`` checked (the job is about to be published)."""
        for bucket, key, amount in self._budgets(request, wallet, cost):
            bucket.take(key, amount)

    def _budgets(
        self, request: web.Request, wallet: str, cost: float
    ) -> tuple[tuple[RateLimiter, str, float], ...]:
        client = request.remote or "unknown"
        return (
            (self.wallets, wallet, 1.0),
            (self.ip_work, client, cost),
            (self.wallet_work, wallet, cost),
        )


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


class Tarpit:
    """Slows the answers of an address that keeps being refused.

    A client that ignores ``Retry-After`` and repeats at once gets its 429s ever cheaper to us
    but never fewer; once an address has been refused ``after`` times within ``window``
    seconds, each further refusal is answered only after ``delay`` seconds. Holding a
    connection open costs the API next to nothing; a client waiting for its answers can then
    send one request per connection per ``delay``, not hundreds, and the CPU goes to the jobs.
    A client that honours ``Retry-After`` is never slowed.
    """

    def __init__(self, after: int, delay: float, window: float = 10.0) -> None:
        self.after, self.delay, self.window = after, delay, window
        self._refusals: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def refused(self, address: str, now: float | None = None) -> float:
        """Count a refusal of ``address``; the seconds to hold its answer (0: none)."""
        if self.after <= 0 or self.delay <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        started, count = self._refusals.pop(address, (now, 0))
        if now - started > self.window:
            started, count = now, 0
        self._refusals[address] = (started, count + 1)
        while len(self._refusals) > 100_000:
            self._refusals.popitem(last=False)
        return self.delay if count + 1 > self.after else 0.0


TARPIT = web.AppKey("tarpit", Tarpit)


@web.middleware
async def tarpit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Hold the 429 of an address refused again and again (``Tarpit``)."""
    try:
        return await handler(request)
    except ApiError as exc:
        if exc.status == 429:
            delay = request.app[TARPIT].refused(request.remote or "unknown")
            if delay:
                await asyncio.sleep(delay)
        raise
