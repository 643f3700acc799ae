"""Every metric the API exports, built in one place (Prometheus naming: seconds, ``_total``).

No job ids in labels: route templates and status codes only, so cardinality stays fixed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import ClassVar, Self

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from pinning.metadata import RENDERER_VERSION

__all__ = ["ApiMetrics", "PoolCpuCollector", "WorkerMetrics"]

#: One metric: its type, name, help text, label names and (histograms) bucket bounds.
Spec = (
    tuple[type[Counter] | type[Gauge] | type[Histogram], str, str, tuple[str, ...]]
    | tuple[type[Histogram], str, str, tuple[str, ...], tuple[float, ...]]
)

# Bucket bounds measured to fit (README "Operating"): a default job takes ~1 s alone and up to a
# minute or two behind a backlog; one frame renders in 5–60 ms (64² to 1024²); a GIF is
# encoded in 0.05–3 s; pins take milliseconds locally and seconds to a service.
JOB_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
FRAME_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1)
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BYTES_BUCKETS = (64e3, 256e3, 1e6, 4e6, 16e6, 32e6, 64e6, 100e6)

# label values known in advance: their series exist at 0 from the start
STAGES = ("split", "render", "assemble", "pin", "chain")
PIN_BACKENDS = ("local", "pinata", "kubo", "psa")

BUILD_INFO: Spec = (
    Gauge,
    "lantern_build_info",
    "1, labelled with the running version of Lantern and its renderer.",
    ("version", "renderer_version"),
)


class _Metrics:
    """A set of metrics in a registry of its own (one per app or worker, test-friendly).

    A subclass is a frozen dataclass with a ``registry`` field and one field per entry of its
    ``SPECS`` table, which says how each is built; ``create`` builds and registers them all.
    """

    SPECS: ClassVar[dict[str, Spec]]
    KNOWN_LABELS: ClassVar[dict[str, list[tuple[str, ...]]]] = {}

    @classmethod
    def create(cls) -> Self:
        """Build and register every metric of ``SPECS``."""
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_cpu_seconds_total, resident memory, …
        metrics = {field: _build(spec, registry) for field, spec in cls.SPECS.items()}
        made = cls(registry=registry, **metrics)  # type: ignore[call-arg]
        for field, label_sets in cls.KNOWN_LABELS.items():
            for labels in label_sets:  # series at 0 from the start: increase() sees the first
                metrics[field].labels(*labels)
        info = metrics.get("build_info")
        if isinstance(info, Gauge):
            info.labels(version(), RENDERER_VERSION).set(1)
        return made


def _build(spec: Spec, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
    kind, name, documentation, labels, *rest = spec
    if rest:
        return Histogram(name, documentation, labels, registry=registry, buckets=rest[0])
    return kind(name, documentation, labels, registry=registry)


def version() -> str:
    """Lantern's installed version."""
    try:
        return package_version("lantern")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "0+unknown"


@dataclass(frozen=True)
class ApiMetrics(_Metrics):
    """The API's metrics: requests, submissions, the jobs it knows of, admission."""

    registry: CollectorRegistry
    requests: Counter
    request_seconds: Histogram
    jobs_submitted: Counter
    jobs_known: Gauge
    pending_frames: Gauge
    admission_limit: Gauge
    admission_refused: Counter
    job_seconds: Histogram
    jobs_finished: Counter
    consumer_lag: Gauge
    build_info: Gauge

    SPECS: ClassVar[dict[str, Spec]] = {
        "requests": (
            Counter, "lantern_http_requests_total",
            "HTTP requests by route template, method and status.", ("route", "method", "status"),
        ),
        "request_seconds": (
            Histogram, "lantern_http_request_seconds", "HTTP request latency by route template.",
            ("route",),
        ),
        "jobs_submitted": (
            Counter, "lantern_jobs_submitted_total", "Jobs accepted onto the mint-requests topic.",
            (),
        ),
        "jobs_known": (Gauge, "lantern_jobs", "Jobs in the status table by state.", ("state",)),
        "pending_frames": (
            Gauge, "lantern_pending_frames",
            "Work of unfinished jobs not yet done, in frames of 512x512 (admission's view).", (),
        ),
        "admission_limit": (
            Gauge, "lantern_admission_limit_frames",
            "The pending work beyond which new jobs are refused (429), in frames; 0: none.", (),
        ),
        "admission_refused": (
            Counter, "lantern_admission_refused_total",
            "Submissions refused before publishing, by reason (the error code).", ("reason",),
        ),
        "job_seconds": (
            Histogram, "lantern_job_seconds",
            "Jobs from submission to completed (seen finishing by this API replica).", (),
            JOB_BUCKETS,
        ),
        "jobs_finished": (
            Counter, "lantern_jobs_finished_total",
            "Jobs seen finishing by this API replica: state completed or failed, and the stage "
            "(the one that failed; pin for completed).", ("state", "stage"),
        ),
        "consumer_lag": (
            Gauge, "lantern_consumer_lag",
            "Messages of a topic the workers' group has not yet consumed (log end offset minus "
            "committed offset, summed over partitions), asked of the broker.", ("group", "topic"),
        ),
        "build_info": BUILD_INFO,
    }  # fmt: skip

    KNOWN_LABELS: ClassVar[dict[str, list[tuple[str, ...]]]] = {
        "jobs_finished": [
            ("completed", "pin"),
            *(("failed", stage) for stage in (*STAGES, "watch", "operator")),
        ],
        "admission_refused": [
            (code,) for code in ("rate_limited", "busy", "too_costly", "too_large_to_pin")
        ],
    }


@dataclass(frozen=True)
class WorkerMetrics(_Metrics):
    """A worker's metrics: stage outcomes, retries, dead letters, stalls (stage as a label)."""

    registry: CollectorRegistry
    frames: Counter
    jobs_completed: Counter
    retries: Counter
    dead_letters: Counter
    stalled: Counter
    redriven: Counter
    stage_seconds: Histogram
    tokens_minted: Counter
    chain_block: Gauge
    render_frame_seconds: Histogram
    encode_seconds: Histogram
    gif_bytes: Histogram
    pin_seconds: Histogram
    pin_requests: Counter
    rebalances: Counter
    job_idle_max: Gauge
    build_info: Gauge

    SPECS: ClassVar[dict[str, Spec]] = {
        "frames": (Counter, "lantern_frames_rendered_total", "Frames rendered.", ()),
        "tokens_minted": (
            Counter, "lantern_tokens_minted_total",
            "Jobs matched to their token for the first time by this worker's chain stage.", (),
        ),
        "chain_block": (
            Gauge, "lantern_chain_watched_block",
            "The last block the chain watcher has read whole (on the leader), and the head.",
            ("which",),
        ),
        "jobs_completed": (Counter, "lantern_jobs_completed_total", "Jobs completed.", ()),
        "retries": (
            Counter, "lantern_retries_total", "Events sent to the retry topic.", ("stage",),
        ),
        "dead_letters": (
            Counter, "lantern_dead_letters_total", "Events sent to the dead-letter topic.",
            ("stage",),
        ),
        "stalled": (
            Counter, "lantern_jobs_stalled_total", "Jobs found stalled (and re-driven).", (),
        ),
        "redriven": (
            Counter, "lantern_jobs_redriven_total",
            "Jobs whose request was published again, by reason: stalled (no progress), "
            "lost (queued, its request's offset already committed), aged (queued, its "
            "request at no known offset, past the configured age).",
            ("reason",),
        ),
        "stage_seconds": (
            Histogram, "lantern_stage_seconds", "Time a stage spent on one event.", ("stage",),
            STAGE_BUCKETS,
        ),
        "render_frame_seconds": (
            Histogram, "lantern_render_frame_seconds",
            "Render-process time per frame (a task's time over its frames).", (), FRAME_BUCKETS,
        ),
        "encode_seconds": (
            Histogram, "lantern_encode_seconds",
            "Writing one job's GIF from its frame blocks.", (), STAGE_BUCKETS,
        ),
        "gif_bytes": (
            Histogram, "lantern_gif_bytes", "Size of each GIF written.", (), BYTES_BUCKETS,
        ),
        "pin_seconds": (
            Histogram, "lantern_pin_seconds", "One file's pin, retries included, by backend.",
            ("backend",), STAGE_BUCKETS,
        ),
        "pin_requests": (
            Counter, "lantern_pin_requests_total",
            "Files pinned, by backend, kind (image, metadata) and outcome (ok, error).",
            ("backend", "kind", "outcome"),
        ),
        "rebalances": (
            Counter, "lantern_rebalances_total",
            "Consumer-group rebalances this worker took part in (partitions assigned).", (),
        ),
        "job_idle_max": (
            Gauge, "lantern_job_idle_seconds_max",
            "The longest any job in progress (past queued) that this worker owns has gone "
            "without a status change.", (),
        ),
        "build_info": BUILD_INFO,
    }  # fmt: skip

    KNOWN_LABELS: ClassVar[dict[str, list[tuple[str, ...]]]] = {
        "retries": [(stage,) for stage in STAGES],
        "stage_seconds": [(stage,) for stage in STAGES],
        "redriven": [(reason,) for reason in ("stalled", "lost", "aged")],
        "pin_seconds": [(backend,) for backend in PIN_BACKENDS],
        "dead_letters": [(stage,) for stage in STAGES],
        "pin_requests": [
            (backend, kind, outcome)
            for backend in PIN_BACKENDS
            for kind in ("image", "metadata")
            for outcome in ("ok", "error")
        ],
    }


# metrics a custom collector yields (not in any SPECS), by name and type
COLLECTED = {"lantern_render_cpu_seconds_total": "counter"}


class PoolCpuCollector(Collector):
    """``lantern_render_cpu_seconds_total``: the CPU a worker's render processes have used,
    read from ``/proc/<pid>/stat`` of each at scrape time (they are children of the pool's
    fork server, so the worker's own ``process_cpu_seconds_total`` never includes them)."""

    def __init__(self, pids: Callable[[], Iterable[int]]) -> None:
        self.pids = pids
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._gone = 0.0  # seconds of processes that have exited (the counter never falls)
        self._last: dict[int, float] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        now: dict[int, float] = {}
        for pid in list(self.pids()):
            seconds = self._cpu(pid)
            if seconds is not None:
                now[pid] = seconds
        self._gone += sum(v for pid, v in self._last.items() if pid not in now)
        self._last = now
        family = CounterMetricFamily(
            "lantern_render_cpu_seconds",
            "CPU seconds used by this worker's render processes (user + system).",
        )
        family.add_metric([], self._gone + sum(now.values()))
        yield family

    def _cpu(self, pid: int) -> float | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime, stime
