"""Every metric the API exports, built in one place (Prometheus naming: seconds, ``_total``).

No job ids in labels: route templates and status codes only, so cardinality stays fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ApiMetrics", "WorkerMetrics"]

#: One metric: its type, name, help text and label names.
Spec = tuple[type[Counter] | type[Gauge] | type[Histogram], str, str, tuple[str, ...]]


class _Metrics:
    """A set of metrics in a registry of its own (one per app or worker, test-friendly).

    A subclass is a frozen dataclass with a ``registry`` field and one field per entry of its
    ``SPECS`` table, which says how each is built; ``create`` builds and registers them all.
    """

    SPECS: ClassVar[dict[str, Spec]]

    @classmethod
    def create(cls) -> Self:
        """Build and register every metric of ``SPECS``."""
        registry = CollectorRegistry()
        metrics = {
            field: kind(name, documentation, labels, registry=registry)
            for field, (kind, name, documentation, labels) in cls.SPECS.items()
        }
        return cls(registry=registry, **metrics)  # type: ignore[call-arg]


@dataclass(frozen=True)
class ApiMetrics(_Metrics):
    """The API's metrics: requests, submissions, the jobs it knows of, admission."""

    registry: CollectorRegistry
    requests: Counter
    request_seconds: Histogram
    jobs_submitted: Counter
    jobs_known: Gauge
    pending_frames: Gauge
    admission_refused: Counter

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
        "admission_refused": (
            Counter, "lantern_admission_refused_total",
            "Submissions refused before publishing, by reason (the error code).", ("reason",),
        ),
    }  # fmt: skip


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
        ),
    }  # fmt: skip
