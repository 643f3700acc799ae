"""Kubo: your own IPFS node, through its RPC API (https://docs.ipfs.tech/reference/kubo/rpc/).

    LANTERN_PIN_BACKEND=kubo LANTERN_PIN_URL=http://127.0.0.1:5001 lantern worker

- ``POST /api/v0/add?cid-version=&raw-leaves=&chunker=size-262144&pin=false`` (multipart
  ``file``): answers one JSON line ``{Name, Hash, Size}``. The layout options are sent
  explicitly, so a node configured otherwise (``Import.*``) still gives Lantern's CIDs.
- ``POST /api/v0/pin/ls?arg=<cid>&type=recursive``: ``{Keys: {<cid>: {Type}}}``, or an error
  "not pinned"; asked first, so a retried or redelivered pin uploads nothing.
- ``POST /api/v0/pin/add?arg=<cid>`` / ``POST /api/v0/pin/rm?arg=<cid>``: ``{Pins: [...]}``.
- ``POST /api/v0/id``: the node's addresses (origins for a pinning service).

Adding and pinning are two steps so a DAG with the wrong CID is never pinned (the node
garbage-collects it). Both are idempotent: re-adding stores no new block, re-pinning keeps one
recursive pin. Every RPC command is a POST; a token, if set, goes as ``Authorization: Bearer``
(Kubo's ``API.Authorizations``).
"""

from __future__ import annotations

import json

from pinning.backends.base import Content, PinBackend, Pinned
from pinning.backends.http import Service, Upload
from pinning.errors import PinServiceError
from pinning.unixfs import CHUNK_SIZE

__all__ = ["DEFAULT_URL", "KuboBackend"]

DEFAULT_URL = "http://127.0.0.1:5001"


class KuboBackend(PinBackend):
    """Adds content to a Kubo node with Lantern's layout options, then pins it."""

    name = "kubo"

    def __init__(self, service: Service, *, cid_version: int = 0) -> None:
        self.service = service
        self.cid_version = cid_version

    async def pin(self, content: Content) -> Pinned:
        """Unless the node already pins the CID: add the bytes (unpinned), check, pin."""
        if await self.pinned(content.cid):
            return Pinned(cid=content.cid, already=True)
        cid = await self.add(content)
        if cid != content.cid:
            return Pinned(cid=cid)  # the caller refuses it; unpinned, the node will drop it
        answer = await self.service.call("POST", "/api/v0/pin/add", params={"arg": cid})
        pins = answer.get("Pins") if isinstance(answer, dict) else None
        if not isinstance(pins, list) or cid not in pins:
            raise PinServiceError(self.name, f"pin/add did not pin {cid}: {answer!r:.200}")
        return Pinned(cid=cid)

    async def add(self, content: Content) -> str:
        """``add`` the bytes without pinning them; the CID the node computed."""
        params = {
            "cid-version": str(self.cid_version),
            "raw-leaves": "true" if self.cid_version == 1 else "false",
            "chunker": f"size-{CHUNK_SIZE}",
            "trickle": "false",
            "pin": "false",
            "progress": "false",
        }
        upload = Upload(path=content.path, filename=content.name, content_type=content.content_type)
        answer = await self.service.call("POST", "/api/v0/add", params=params, upload=upload)
        # The answer is newline-delimited JSON, one object per added file; ours is the last.
        try:
            added = answer if isinstance(answer, dict) else json.loads(answer.splitlines()[-1])
            return str(added["Hash"])
        except (AttributeError, IndexError, ValueError, KeyError, TypeError) as exc:
            raise PinServiceError(self.name, f"unexpected add answer: {answer!r:.200}") from exc

    async def pinned(self, cid: str) -> bool:
        """Whether the node pins ``cid`` recursively (``pin/ls``; "not pinned" is an error)."""
        answer = await self.service.call(
            "POST",
            "/api/v0/pin/ls",
            params={"arg": cid, "type": "recursive"},
            tolerate=lambda status, message: "not pinned" in message,
        )
        keys = answer.get("Keys") if isinstance(answer, dict) else None
        return isinstance(keys, dict) and cid in keys

    async def unpin(self, cid: str) -> None:
        """``pin/rm``; Kubo's "not pinned" error means there is nothing left to do."""
        await self.service.call(
            "POST",
            "/api/v0/pin/rm",
            params={"arg": cid},
            tolerate=lambda status, message: "not pinned" in message,
        )

    async def addresses(self) -> list[str]:
        """The node's multiaddrs, each ending in /p2p/<peer id> (``id``)."""
        answer = await self.service.call("POST", "/api/v0/id")
        found = answer.get("Addresses") if isinstance(answer, dict) else None
        return [str(address) for address in found or []]

    async def close(self) -> None:
        """Close the connection pool."""
        await self.service.close()
