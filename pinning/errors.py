"""Errors raised by the pinning package.

LanternError                 (render.errors)
 └── PinError                any pinning or local-store failure
      ├── InvalidCid         a CID string from outside is malformed or unsupported (HTTP 400)
      └── ContentNotFound    a well-formed CID the store does not hold (HTTP 404)
"""

from __future__ import annotations

from render.errors import LanternError

__all__ = ["ContentNotFound", "InvalidCid", "PinError"]


class PinError(LanternError):
    """A pinning or local-store operation failed."""


class InvalidCid(PinError):
    """A CID string is not a well-formed CIDv0/CIDv1 this store can hold."""

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
