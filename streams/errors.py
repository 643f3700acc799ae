"""Errors of the stream.

LanternError (render.errors)
 └── PipelineError        a stage could not do its work (job_id, stage when known)
      ├── BrokerError     the embedded broker could not be set up, started or stopped
      └── InjectedFault   a failure injected on purpose (LANTERN_FAULTS_*), for drills
"""

from __future__ import annotations

from pinning.errors import PinTooLarge
from render.errors import LanternError, SettingsError

__all__ = ["BrokerError", "InjectedFault", "PipelineError", "public_reason"]

_MB = 1024 * 1024
# what a user is told when a stage fails; the full reason (exception text, a service's own
# message, paths) goes to the job's ``error``, the dead letter and the logs, for operators
_STAGE_REASONS = {
    "split": "the request could not be prepared for rendering",
    "render": "the artwork could not be rendered",
    "assemble": "the GIF could not be assembled",
    "pin": "the artwork could not be stored on IPFS",
}


class PipelineError(LanternError):
    """A stage could not do its work."""

    def __init__(self, message: str, *, job_id: str | None = None, stage: str | None = None):
        super().__init__(message)
        self.job_id, self.stage = job_id, stage


class BrokerError(PipelineError):
    """The embedded broker could not be set up, started or stopped."""


class InjectedFault(PipelineError):
    """A failure injected on purpose through ``LANTERN_FAULTS_*``."""


def public_reason(stage: str, exc: BaseException) -> str:
    """A plain reason for the user: what failed and, where the user can act, what to change."""
    if isinstance(exc, PinTooLarge):
        return (
            f"the GIF is {exc.size / _MB:.0f} MB, over the {exc.limit / _MB:.0f} MB this "
            "service can pin: use fewer frames or a smaller size"
        )
    if isinstance(exc, SettingsError):  # names the user's own fields and their bounds
        return f"the settings are invalid: {exc}"
    what = _STAGE_REASONS.get(stage, f"the {stage} stage failed")
    return f"{what}; the operators have the details"
