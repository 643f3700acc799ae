"""Errors raised by the pinning package.

LanternError                 (render.errors)
 └── PinError                any pinning or local-store failure
      ├── InvalidCid         a CID string from outside is malformed or unsupported (HTTP 400)
      ├── ContentNotFound    a well-formed CID the store does not hold (HTTP 404)
      ├── PinConfigError     the pin settings cannot work (no token, unknown backend, …)
      ├── PinTooLarge        the content is over the upload limit; nothing was sent
      └── PinServiceError    a pinning service did not pin (provider, status when known)
           ├── PinRejected   it answered with an error a retry cannot fix (400, 401, 403, …)
           ├── PinUnavailable  timeouts, 429 or 5xx on every attempt, or the deadline passed
           └── CidMismatch   it reports another CID than the one Lantern computed

Errors whose cause will not change on a retry say so with ``retryable = False``; the
pipeline then fails the job at once instead of retrying the stage.
"""

from __future__ import annotations

from render.errors import LanternError

__all__ = [
    "CidMismatch",
    "ContentNotFound",
    "InvalidCid",
    "PinConfigError",
    "PinError",
    "PinRejected",
    "PinServiceError",
    "PinTooLarge",
    "PinUnavailable",
]


class PinError(LanternError):
    """A pinning or local-store operation failed."""

    retryable = True


class InvalidCid(PinError):
    """A CID string is not a well-formed CIDv0/CIDv1 this store can hold."""

    retryable = False

    # The context goes through Exception.args (not a formatted message) so the error
    # survives pickling between worker processes.
    def __init__(self, cid: str, reason: str) -> None:
        super().__init__(cid, reason)
        self.cid = cid
        self.reason = reason

    def __str__(self) -> str:
        shown = self.cid if len(self.cid) <= 80 else self.cid[:77] + "..."
        return f"invalid cid {shown!r}: {self.reason}"


class ContentNotFound(PinError):
    """The store holds no content for this CID."""

    def __init__(self, cid: str) -> None:
        super().__init__(cid)
        self.cid = cid

    def __str__(self) -> str:
        return f"content not found: {self.cid}"


class PinConfigError(PinError):
    """The pin settings name an unknown backend or lack what the backend needs."""

    retryable = False


class PinTooLarge(PinError):
    """The content is larger than the configured upload limit."""

    retryable = False

    def __init__(self, cid: str, size: int, limit: int) -> None:
        super().__init__(cid, size, limit)
        self.cid, self.size, self.limit = cid, size, limit

    def __str__(self) -> str:
        return f"{self.cid} is {self.size} bytes, over the upload limit of {self.limit}"


class PinServiceError(PinError):
    """A pinning service did not pin; ``message`` is its own explanation, secret-free."""

    def __init__(self, provider: str, message: str, status: int | None = None) -> None:
        super().__init__(provider, message, status)
        self.provider, self.message, self.status = provider, message, status

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.provider}{status}: {self.message}"


class PinRejected(PinServiceError):
    """The service refused the request for a reason a retry cannot fix."""

    retryable = False


class PinUnavailable(PinServiceError):
    """The service timed out, was overloaded or failed on every attempt."""


class CidMismatch(PinServiceError):
    """The service pinned the content under another CID than Lantern computed."""

    retryable = False

    def __init__(self, provider: str, expected: str, reported: str) -> None:
        message = f"reported CID {reported}, but the content's CID is {expected}; refused"
        super().__init__(provider, message)
        self.args = (provider, expected, reported)
        self.expected, self.reported = expected, reported
