"""A Lantern worker: one faust worker running every stage. Start N of them to scale out.

    lantern worker            # uses LANTERN_KAFKA_BOOTSTRAP

All workers share one consumer group, so frame tasks spread over all of them, and a worker that
dies has its partitions (and the tables' state for them) taken over within seconds.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

import faust
from prometheus_client import start_http_server

from lantern.contract import DeadLetter
from lantern.logs import logging_config
from lantern.settings import Settings
from lantern.tracing import setup_tracing
from monitoring.metrics import PoolCpuCollector, WorkerMetrics
from pinning.store import LocalStore

from . import assemble, catchup, chain, chain_watch, pin, rendering, retry, split, status, watch
from .app import create_app
from .lanes import Lane, LanePool
from .pipeline import Pipeline
from .topics import TopicNames

__all__ = ["create_worker", "run_worker"]

log = logging.getLogger(__name__)


def create_worker(
    settings: Settings, pool: Executor, metrics: WorkerMetrics, processes: int = 1
) -> tuple[faust.App, Pipeline]:
    """The faust App with every stage attached, and the Pipeline they share (whole: its render
    pool, its ``processes`` and the metrics are given here, not set later)."""
    app = create_app(settings)
    names = TopicNames.from_settings(settings)
    partitions = settings.kafka.partitions
    status_topic, status_table = status.attach(app, names.status, partitions)
    pipe = Pipeline(
        settings=settings,
        names=names,
        store=LocalStore(settings.store.root),
        status_topic=status_topic,
        retry_topic=retry.attach(app, names.retry, partitions),
        dead_letter_topic=app.topic(
            names.dead_letters, key_type=str, value_type=DeadLetter, partitions=partitions
        ),
        pool=LanePool(pool, processes),
        metrics=metrics,
        fold_here=status.LocalFold(app, status_table, partitions),
    )
    # attached downstream first: each stage is handed the topic it writes to
    pinner = pin.create_pinner(pipe)
    chain_events = chain.attach(app, pipe, pinner)
    token_updates = chain.attach_updates(app, pipe)
    chain_watch.attach(app, pipe, chain_events)
    pin_topic = pin.attach(app, pipe, pinner, chain_events, token_updates)
    frames_topic = assemble.attach(app, pipe, out=pin_topic)
    tasks = {lane: rendering.attach(app, pipe, frames_topic, lane) for lane in Lane}
    requests_topic = split.attach(app, pipe, out=tasks)
    watch.attach(app, pipe, status_table, requests_topic)
    w = settings.worker
    catchup.attach(app, w.standby_catchup_s, w.quiet_catchup_s, catchup.quiet_topics(names))

    async def count_rebalance(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        metrics.rebalances.inc()

    app.on_partitions_assigned.connect(count_rebalance)
    return app, pipe


def run_worker(settings: Settings) -> None:
    """Run a worker until SIGINT/SIGTERM, with its render pool open for its whole life."""
    _fewer_malloc_arenas()
    setup_tracing(settings.trace, "lantern-worker")
    metrics = WorkerMetrics.create()
    if settings.worker.metrics_port:
        start_http_server(settings.worker.metrics_port, registry=metrics.registry)
    processes = settings.worker.processes or os.cpu_count() or 1
    # forkserver: the pool's children do not inherit the event loop or Kafka sockets
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        # the render processes' CPU, which the worker's own process metrics leave out
        metrics.registry.register(PoolCpuCollector(lambda: list(pool._processes or {})))
        app, _ = create_worker(settings, pool, metrics, processes)
        log.info("worker starting processes=%d bootstrap=%s", processes, settings.kafka.bootstrap)
        options: dict[str, Any] = {}
        if settings.log.format == "json":  # else faust's own text lines
            options["logging_config"] = logging_config("json", settings.worker.loglevel)
        worker = faust.Worker(app, loglevel=settings.worker.loglevel, **options)
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise


# glibc's M_ARENA_MAX (malloc.h): how many heaps the process's threads allocate from
_M_ARENA_MAX = -8
MALLOC_ARENAS = 1


def _fewer_malloc_arenas() -> None:
    """Let the worker's threads share one heap (glibc's default: up to 8 per core).

    Frame blocks pass through the worker as strings of a few MB, allocated in the event loop
    and freed in the threads that write GIFs, or the other way round; with a heap per thread the
    freed space is rarely reused. Measured with 20 default jobs (``bench/blocks.py``, blocks via
    Kafka): peak RSS ~375 MB a worker with glibc's default, ~255 MB with one heap, for the same
    CPU. Called before any thread starts; a no-op off glibc, or when ``MALLOC_ARENA_MAX`` is set
    (the operator's choice wins). The render processes keep glibc's default.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):  # not glibc
        pass
