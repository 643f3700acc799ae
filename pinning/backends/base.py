"""The interface every pinning backend implements, and what goes in and out of it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

__all__ = ["Content", "PinBackend", "Pinned"]


@dataclass(frozen=True)
class Content:
    """One file to pin: already in the local store, its CID already computed by Lantern."""

    path: Path  # the bytes, read (streamed) from here
    cid: str  # what `ipfs add` gives these bytes at the configured CID version
    size: int
    name: str  # a label for the service's dashboards ("gen1-<job>.gif")
    content_type: str
    keyvalues: Mapping[str, str] = field(default_factory=dict)  # job_id, wallet, renderer_version


@dataclass(frozen=True)
class Pinned:
    """What a backend reports after pinning."""

    cid: str  # the CID the service reports (checked against Content.cid by the caller)
    already: bool = False  # it was pinned before this call: nothing was uploaded


class PinBackend(ABC):
    """Pins content by CID somewhere; every method is idempotent."""

    name: ClassVar[str]

    @abstractmethod
    async def pin(self, content: Content) -> Pinned:
        """Make ``content`` pinned; pinning it again changes nothing."""

    @abstractmethod
    async def unpin(self, cid: str) -> None:
        """Remove the pin of ``cid``; unpinning what is not pinned is not an error."""

    async def close(self) -> None:  # noqa: B027 - a no-op unless the backend holds connections
        """Release connections."""
