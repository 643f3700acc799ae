"""Errors of the stream.

LanternError (render.errors)
 └── PipelineError        a stage could not do its work (job_id, stage when known)
      ├── BrokerError     the embedded broker could not be set up, started or stopped
      └── InjectedFault   a failure injected on purpose (LANTERN_FAULTS_*), for drills
"""

from __future__ import annotations

from render.errors import LanternError

__all__ = ["BrokerError", "InjectedFault", "PipelineError"]


class PipelineError(LanternError):
    """A stage could not do its work."""

    def __init__(self, message: str, *, job_id: str | None = None, stage: str | None = None):
        super().__init__(message)
        self.job_id, self.stage = job_id, stage


class BrokerError(PipelineError):
    """The embedded broker could not be set up, started or stopped."""


class InjectedFault(PipelineError):
    """A failure injected on purpose through ``LANTERN_FAULTS_*``."""
