"""Every metric the API exports, built in one place (Prometheus naming: seconds, ``_total``).

No job ids in labels: route templates and status codes only, so cardinality stays fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ApiMetrics", "WorkerMetrics"]


@dataclass(frozen=True)
class ApiMetrics:
    """The API's metrics, registered in their own registry (one per app, test-friendly)."""

    registry: CollectorRegistry
    requests: Counter
    request_seconds: Histogram
    jobs_submitted: Counter
    jobs_known: Gauge
    pending_frames: Gauge
    admission_refused: Counter

    @classmethod
    def create(cls) -> ApiMetrics:
        """Build and register every metric."""
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "lantern_http_requests_total",
                "HTTP requests by route template, method and status.",
                ["route", "method", "status"],
                registry=registry,
            ),
            request_seconds=Histogram(
                "lantern_http_request_seconds",
                "HTTP request latency by route template.",
                ["route"],
                registry=registry,
            ),
            jobs_submitted=Counter(
                "lantern_jobs_submitted_total",
                "Jobs accepted onto the mint-requests topic.",
                registry=registry,
            ),
            jobs_known=Gauge(
                "lantern_jobs",
                "Jobs in the status table by state.",
                ["state"],
                registry=registry,
            ),
            pending_frames=Gauge(
                "lantern_pending_frames",
                "Work of unfinished jobs not yet done, in frames of 512x512 (admission's view).",
                registry=registry,
            ),
            admission_refused=Counter(
                "lantern_admission_refused_total",
                "Submissions refused before publishing, by reason (the error code).",
                ["reason"],
                registry=registry,
            ),
        )


@dataclass(frozen=True)
class WorkerMetrics:
    """A worker's metrics: stage outcomes, retries, dead letters, stalls (stage as a label)."""

    registry: CollectorRegistry
    frames: Counter
    jobs_completed: Counter
    retries: Counter
    dead_letters: Counter
    stalled: Counter
    redriven: Counter
    stage_seconds: Histogram

    @classmethod
    def create(cls) -> WorkerMetrics:
        """Build and register every metric."""
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            frames=Counter(
                "lantern_frames_rendered_total", "Frames rendered.", registry=registry
            ),
            jobs_completed=Counter(
                "lantern_jobs_completed_total", "Jobs completed.", registry=registry
            ),
            retries=Counter(
                "lantern_retries_total", "Events sent to the retry topic.", ["stage"],
                registry=registry,
            ),
            dead_letters=Counter(
                "lantern_dead_letters_total", "Events sent to the dead-letter topic.", ["stage"],
                registry=registry,
            ),
            stalled=Counter(
                "lantern_jobs_stalled_total", "Jobs found stalled (and re-driven).",
                registry=registry,
            ),
            redriven=Counter(
                "lantern_jobs_redriven_total",
                "Jobs whose request was published again, by reason: stalled (no progress), "
                "lost (queued, its request's offset already committed), aged (queued, its "
                "request at no known offset, past the configured age).",
                ["reason"],
                registry=registry,
            ),
            stage_seconds=Histogram(
                "lantern_stage_seconds", "Time a stage spent on one event.", ["stage"],
                registry=registry,
            ),
        )  # fmt: skip
