"""The API's client of the chain (``api/mint.py`` answers with it)."""

from __future__ import annotations

import logging

from chain.errors import ChainError
from chain.gen1 import Gen1Chain
from lantern.settings import ChainSettings

from .errors import ApiError

__all__ = ["ChainAccess"]

log = logging.getLogger(__name__)


class ChainAccess:
    """The API's client of the chain: checked once (chain id, contract code) before first use."""

    def __init__(self, settings: ChainSettings) -> None:
        self.settings = settings
        self.client = Gen1Chain(settings) if settings.active else None
        self._checked = False

    async def ready(self) -> Gen1Chain:
        """The client, once the node has been seen to be the configured chain and contract;
        ``ApiError`` 503 when there is no chain, or it cannot be reached."""
        if self.client is None:
            raise ApiError(503, "chain_unavailable", "minting is off: no chain is configured")
        if not self._checked:
            try:
                await self.client.check()
            except ChainError as exc:
                log.warning("chain check failed: %s", exc)
                raise ApiError(503, "chain_unavailable", "the chain cannot be reached now",
                               headers={"Retry-After": "10"}) from exc  # fmt: skip
            self._checked = True
        return self.client

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
