"""Job ids as the workers accept them: 32 lowercase hex characters, nothing else.

Lantern makes every job id itself (``uuid4().hex``, or the first 32 hex characters of a sha256
for an idempotency key: ``api/views.py``), but a worker reads it from an event, and an event
may be forged or corrupt. A job id names files (the block store's folder per job), so one that
is not of Lantern's own form is refused before it reaches the filesystem — with a permanent
error, so that the event is dead-lettered at once instead of retried.
"""

from __future__ import annotations

import re

from .errors import PipelineError

__all__ = ["JOB_ID_LENGTH", "InvalidJobId", "check_job_id", "valid_job_id"]

JOB_ID_LENGTH = 32
_JOB_ID = re.compile(r"[0-9a-f]{32}")


class InvalidJobId(PipelineError):
    """An event's job id is not one Lantern makes (32 lowercase hex): never retried."""

    retryable = False  # ``is_permanent``: dead-lettered at once


def valid_job_id(job_id: object) -> bool:
    """True if ``job_id`` is 32 lowercase hex characters, the only form Lantern creates."""
    return isinstance(job_id, str) and _JOB_ID.fullmatch(job_id) is not None


def check_job_id(job_id: object) -> str:
    """``job_id`` itself if valid, else InvalidJobId (its repr, shortened, in the message)."""
    if not valid_job_id(job_id):
        raise InvalidJobId(f"invalid job id {repr(job_id)[:80]}")
    assert isinstance(job_id, str)
    return job_id
