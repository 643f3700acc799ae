"""Pinning content from the local store through a backend, with Lantern's own checks.

The bytes are in the local store (keyed by CIDv0), or else fetched into it first (``fetch``: a
GIF assembled by a worker that shares no disk with this one is read from the content node). The
pinner computes the CID at the configured version from that file (streamed), refuses files over
the size limit before any upload, bounds a whole pin (retries and polling included) by a
deadline, and refuses a pin whose reported CID differs from its own. A CIDv1 is also linked
into the store, so the local gateway serves every CID Lantern reports.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pinning.backends.base import Content, PinBackend
from pinning.errors import CidMismatch, PinTooLarge, PinUnavailable
from pinning.store import LocalStore
from pinning.unixfs import cid_of_file

__all__ = ["PinResult", "Pinner"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PinResult:
    """A pinned file: its CID (at the configured version) and size."""

    cid: str
    size: int
    already: bool  # it was pinned before: nothing was uploaded


class Pinner:
    """Pins stored content through ``backend``; one per worker."""

    def __init__(
        self,
        store: LocalStore,
        backend: PinBackend,
        *,
        cid_version: int = 0,
        max_bytes: int = 100 * 1024 * 1024,
        deadline_s: float = 600.0,
        fetch: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.cid_version = cid_version
        self.max_bytes = max_bytes
        self.deadline_s = deadline_s
        # puts a CID the store lacks into it (raising ContentNotFound if it cannot)
        self.fetch = fetch

    async def pin_stored(
        self,
        stored_cid: str,
        *,
        name: str,
        keyvalues: Mapping[str, str] | None = None,
        source: str = "",
    ) -> PinResult:
        """Pin the content the store holds under ``stored_cid`` (its CIDv0). If the store lacks
        it and the pinner has a way to (``fetch``), it is fetched first, as ``source`` (the CID
        it has elsewhere, at whatever version) or else as ``stored_cid``."""
        if self.fetch is not None and not await asyncio.to_thread(self.store.exists, stored_cid):
            await self.fetch(source or stored_cid)
        path, size, content_type = await asyncio.to_thread(self._stored, stored_cid)
        if size > self.max_bytes:
            raise PinTooLarge(stored_cid, size, self.max_bytes)
        cid = stored_cid
        if self.cid_version != 0:
            cid = await asyncio.to_thread(cid_of_file, path, cid_version=self.cid_version)
            await asyncio.to_thread(self.store.alias, cid, stored_cid)
        content = Content(
            path=self.store.path(cid),
            cid=cid,
            size=size,
            name=name,
            content_type=content_type,
            keyvalues=dict(keyvalues or {}),
        )
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.deadline_s):
                pinned = await self.backend.pin(content)
        except TimeoutError as exc:
            message = f"{name} not pinned within the deadline of {self.deadline_s:g}s"
            raise PinUnavailable(self.backend.name, message) from exc
        if pinned.cid != cid:
            raise CidMismatch(self.backend.name, cid, pinned.cid)
        log.info(
            "pinned backend=%s cid=%s bytes=%d already=%s seconds=%.2f",
            self.backend.name, cid, size, pinned.already, time.monotonic() - started,
        )  # fmt: skip
        return PinResult(cid=cid, size=size, already=pinned.already)

    def _stored(self, cid: str) -> tuple[Path, int, str]:
        """Where the store holds ``cid``, its size and media type, in one trip to a thread."""
        path = self.store.path(cid)
        return path, path.stat().st_size, self.store.content_type(cid)

    async def pin_bytes(
        self,
        data: bytes,
        *,
        content_type: str,
        name: str,
        keyvalues: Mapping[str, str] | None = None,
    ) -> PinResult:
        """Put ``data`` in the local store, then pin it."""
        stored = await asyncio.to_thread(self.store.put, data, content_type=content_type)
        return await self.pin_stored(stored, name=name, keyvalues=keyvalues)

    async def close(self) -> None:
        """Release the backend's connections."""
        await self.backend.close()
