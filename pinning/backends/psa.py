"""Any service speaking the IPFS Pinning Service API (https://ipfs.github.io/pinning-services-api-spec/).

    LANTERN_PIN_BACKEND=psa LANTERN_PIN_URL=https://pin.example.com LANTERN_PIN_TOKEN=<token> \
    LANTERN_PIN_PROVIDER_URL=http://127.0.0.1:5001 lantern worker

The service pins by CID and fetches the blocks itself, so they must be reachable: with
``provider_url`` Lantern first adds the content to that Kubo node and offers the node's
addresses as ``origins`` (unless ``origins`` are configured).

- ``GET /pins?cid=<cid>&status=queued,pinning,pinned``: an earlier request for the CID, reused
  instead of pinning twice (each ``POST /pins`` is a new request, even for the same CID).
- ``POST /pins`` ``{cid, name, origins, meta}`` → 202 ``PinStatus {requestid, status, pin, …}``.
- ``GET /pins/{requestid}`` polled until ``pinned`` (or ``failed``: ``info.status_details``).
- ``DELETE /pins/{requestid}`` → 202, for unpinning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pinning.backends.base import Content, PinBackend, Pinned
from pinning.backends.http import Service
from pinning.backends.kubo import KuboBackend
from pinning.errors import PinRejected, PinServiceError

__all__ = ["PsaBackend"]

_ACTIVE = "queued,pinning,pinned"


class PsaBackend(PinBackend):
    """Asks a pinning service to pin a CID and waits until it has."""

    name = "psa"

    def __init__(
        self,
        service: Service,
        *,
        origins: Sequence[str] = (),
        provider: KuboBackend | None = None,
        poll_s: float = 2.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.service = service
        self.origins = list(origins)
        self.provider = provider
        self.poll_s = poll_s
        self.sleep = sleep

    async def pin(self, content: Content) -> Pinned:
        """Reuse or create the service's pin request for ``content.cid``; wait until pinned."""
        existing = await self._requests(content.cid, _ACTIVE)
        pinned = [status for status in existing if status.get("status") == "pinned"]
        if pinned:
            return Pinned(cid=_cid(pinned[0]), already=True)
        if existing:
            return Pinned(cid=await self._await_pinned(existing[0]))
        origins = self.origins
        if self.provider is not None:
            provided = await self.provider.pin(content)
            if provided.cid != content.cid:
                return Pinned(cid=provided.cid)  # refused by the caller
            origins = origins or await self.provider.addresses()
        pin: dict[str, Any] = {"cid": content.cid, "name": content.name[:255]}
        if origins:
            pin["origins"] = origins[:20]  # the spec's maximum
        if content.keyvalues:
            pin["meta"] = {key: str(value) for key, value in content.keyvalues.items()}
        status = await self.service.call("POST", "/pins", json_body=pin, ok=(200, 201, 202))
        return Pinned(cid=await self._await_pinned(_status(status)))

    async def unpin(self, cid: str) -> None:
        """Delete every request pinning ``cid`` (none is fine)."""
        for status in await self._requests(cid, "queued,pinning,pinned,failed"):
            await self.service.call(
                "DELETE",
                f"/pins/{status['requestid']}",
                ok=(200, 202),
                tolerate=lambda code, _: code == 404,
            )

    async def close(self) -> None:
        """Close the connection pools."""
        await self.service.close()
        if self.provider is not None:
            await self.provider.close()

    async def _requests(self, cid: str, statuses: str) -> list[dict[str, Any]]:
        answer = await self.service.call(
            "GET", "/pins", params={"cid": cid, "status": statuses, "limit": "10"}
        )
        results = answer.get("results") if isinstance(answer, dict) else None
        return [_status(status) for status in results or [] if _cid(_status(status)) == cid]

    async def _await_pinned(self, status: dict[str, Any]) -> str:
        """Poll the request until ``pinned``; its CID. The pin's deadline bounds the wait."""
        while True:
            state = status.get("status")
            if state == "pinned":
                return _cid(status)
            if state == "failed":
                details = (status.get("info") or {}).get("status_details") or "no details"
                raise PinRejected(self.name, f"pin request {status['requestid']} failed: {details}")
            if state not in ("queued", "pinning"):
                raise PinServiceError(self.name, f"unknown pin status {state!r}")
            await self.sleep(self.poll_s)
            status = _status(await self.service.call("GET", f"/pins/{status['requestid']}"))


def _status(value: Any) -> dict[str, Any]:
    """A PinStatus object, checked for the fields we read."""
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("requestid"), str)
        or not isinstance(value.get("pin"), dict)
    ):
        raise PinServiceError("psa", f"unexpected PinStatus: {value!r:.200}")
    return value


def _cid(status: dict[str, Any]) -> str:
    return str(status["pin"].get("cid", ""))
