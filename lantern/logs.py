"""Log lines as text (the default, for a terminal) or as JSON (``LANTERN_LOG_FORMAT=json``, for a
log pipeline), each line carrying what it is about.

A stage's work on an event runs inside ``log_context(job_id=…, stage=…, attempt=…)`` (the
pipeline's guard); an HTTP request inside ``bind_request(request_id)`` (the API's outermost
middleware). ``ContextFilter`` copies those fields onto every record logged meanwhile, so a
JSON line of a job's work says ``"job_id"``, ``"stage"`` and ``"attempt"``, and a line of a
request (its access-log line included) its ``"request_id"``. JSON is python-json-logger's.
"""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = [
    "FORMATS",
    "ContextFilter",
    "bind",
    "bind_request",
    "configure",
    "log_context",
    "logging_config",
]

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname).1s %(name)s %(message)s"
_context: ContextVar[dict[str, Any]] = ContextVar("lantern_log_context", default={})  # noqa: B039


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line logged inside the block (in this task)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> None:
    """Add ``fields`` to every later line of this task (a request learning its job's id)."""
    _context.set({**_context.get(), **fields})


def bind_request(request_id: str) -> None:
    """Start a request's context afresh: its id only (a connection's earlier request leaves
    nothing behind)."""
    _context.set({"request_id": request_id})


class ContextFilter(logging.Filter):
    """Copies the current context's fields onto each record (never over the record's own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def logging_config(fmt: str, level: str | int = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``fmt`` (text or json): one stream handler on the
    root logger with the context filter."""
    if fmt not in FORMATS:
        raise ValueError(f"LANTERN_LOG_FORMAT={fmt!r} is not one of {', '.join(FORMATS)}")
    formatter: dict[str, Any] = {"format": TEXT_FORMAT}
    if fmt == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {
            "level": level if isinstance(level, int) else level.upper(),
            "handlers": ["default"],
        },
    }


def configure(fmt: str, level: str | int = "INFO") -> None:
    """Set up the process's logging for ``fmt``."""
    logging.config.dictConfig(logging_config(fmt, level))
