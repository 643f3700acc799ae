"""Prometheus metrics, and the Prometheus/Grafana configuration beside them."""

from __future__ import annotations

from monitoring.metrics import ApiMetrics, WorkerMetrics

__all__ = ["ApiMetrics", "WorkerMetrics"]
