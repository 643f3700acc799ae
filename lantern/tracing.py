"""Traces of jobs (OpenTelemetry), off unless ``LANTERN_TRACE_EXPORTER`` is set.

One trace per job: the API's ``POST`` opens it and writes its W3C ``traceparent`` into the
``MintRequest`` (``trace``); the split stage copies it into the ``JobSpec`` every later record
carries, and each stage's work on an event (``Pipeline.guard``) is a span of that trace: split,
render (one per frame task), assemble, pin, with the job id, stage and attempt as attributes.

Exporters: ``otlp`` (OTLP over HTTP to ``LANTERN_TRACE_OTLP_ENDPOINT``: a collector, Jaeger,
Tempo) or ``file`` (one JSON span a line in ``LANTERN_TRACE_DIR/<service>-<pid>.jsonl``, for a
look without a collector, and for the tests).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from .settings import TraceSettings

__all__ = ["carrier", "setup_tracing", "span"]

_tracer = trace.get_tracer("lantern")


def setup_tracing(settings: TraceSettings, service: str) -> TracerProvider | None:
    """Install the exporter ``settings`` name for this process (``service``: lantern-api,
    lantern-worker); None, and every span a no-op, when tracing is off."""
    if not settings.exporter:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter: SpanExporter
    if settings.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint or None)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    else:  # file: written as each span ends, so a crash loses none already ended
        folder = Path(settings.dir)
        folder.mkdir(parents=True, exist_ok=True)
        out = (folder / f"{service}-{os.getpid()}.jsonl").open("a", buffering=1)
        exporter = ConsoleSpanExporter(out=out, formatter=lambda s: s.to_json(indent=None) + "\n")
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def carrier() -> dict[str, str] | None:
    """The current span's context as W3C headers (``traceparent``), or None outside any."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers or None


@contextmanager
def span(
    name: str, attributes: Mapping[str, Any], parent: Mapping[str, str] | None = None
) -> Iterator[None]:
    """A span named ``name``, child of the context ``parent`` carries (else of the current)."""
    context = propagate.extract(dict(parent)) if parent else None
    with _tracer.start_as_current_span(name, context=context, attributes=dict(attributes)):
        yield
