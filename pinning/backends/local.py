"""The embedded default: the local content store is the pin (the API's /ipfs/ serves it)."""

from __future__ import annotations

import asyncio

from pinning.backends.base import Content, PinBackend, Pinned
from pinning.errors import ContentNotFound
from pinning.store import LocalStore

__all__ = ["LocalBackend"]


class LocalBackend(PinBackend):
    """Content in the local store counts as pinned; nothing leaves the machine."""

    name = "local"

    def __init__(self, store: LocalStore) -> None:
        self.store = store

    async def pin(self, content: Content) -> Pinned:
        """Nothing to upload: the caller put the content in the store under ``content.cid``."""
        if not await asyncio.to_thread(self.store.exists, content.cid):
            raise ContentNotFound(content.cid)
        return Pinned(cid=content.cid, already=True)

    async def unpin(self, cid: str) -> None:
        """A no-op: the store is immutable and also serves the gateway."""
