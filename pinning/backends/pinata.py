"""Pinata: uploads through ``POST /pinning/pinFileToIPFS`` with a bearer JWT.

    LANTERN_PIN_BACKEND=pinata LANTERN_PIN_TOKEN=<JWT> lantern worker

Requests (https://docs.pinata.cloud, the API behind the ``@pinata/sdk`` package):

- ``POST /pinning/pinFileToIPFS``: multipart, ``file`` plus JSON fields ``pinataMetadata``
  (``{name, keyvalues}``) and ``pinataOptions`` (``{cidVersion}``); answers
  ``{IpfsHash, PinSize, Timestamp, isDuplicate?}``.
- ``GET /data/pinList?hashContains=&status=pinned&metadata[keyvalues]={"k":{"value","op"}}``:
  answers ``{count, rows: [{ipfs_pin_hash, size, metadata: {name, keyvalues}, …}]}``.
- ``DELETE /pinning/unpin/{cid}``.

Before uploading, the pin list is asked whether the CID is already pinned, so a retried or
redelivered pin uploads nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pinning.backends.base import Content, PinBackend, Pinned
from pinning.backends.http import Service, Upload
from pinning.errors import PinServiceError

__all__ = ["DEFAULT_URL", "PinataBackend", "PinataPin"]

DEFAULT_URL = "https://api.pinata.cloud"


@dataclass(frozen=True)
class PinataPin:
    """One row of Pinata's pin list."""

    cid: str
    size: int
    name: str
    keyvalues: Mapping[str, Any]


class PinataBackend(PinBackend):
    """Pins by uploading to Pinata; the CID it reports must be the one Lantern computed."""

    name = "pinata"

    def __init__(self, service: Service, *, cid_version: int = 0) -> None:
        self.service = service
        self.cid_version = cid_version

    async def pin(self, content: Content) -> Pinned:
        """Upload ``content`` unless Pinata already pins its CID."""
        if await self._pinned(content.cid):
            return Pinned(cid=content.cid, already=True)
        metadata = {"name": content.name, "keyvalues": dict(content.keyvalues)}
        options = {"cidVersion": self.cid_version}
        upload = Upload(
            path=content.path,
            filename=content.name,
            content_type=content.content_type,
            fields=(("pinataMetadata", _json(metadata)), ("pinataOptions", _json(options))),
        )
        answer = await self.service.call("POST", "/pinning/pinFileToIPFS", upload=upload)
        if not isinstance(answer, dict) or not isinstance(answer.get("IpfsHash"), str):
            raise PinServiceError(self.name, f"unexpected pinFileToIPFS answer: {answer!r:.200}")
        return Pinned(cid=answer["IpfsHash"], already=bool(answer.get("isDuplicate")))

    async def unpin(self, cid: str) -> None:
        """``DELETE /pinning/unpin/{cid}``; a CID Pinata does not pin is already unpinned."""
        await self.service.call(
            "DELETE", f"/pinning/unpin/{cid}", tolerate=lambda status, _: status == 404
        )

    async def list_pins(
        self, keyvalues: Mapping[str, str] | None = None, *, cid: str | None = None
    ) -> list[PinataPin]:
        """Current pins whose keyvalues equal all of ``keyvalues`` (and whose CID is ``cid``)."""
        params = {"status": "pinned", "pageLimit": "1000"}
        if cid is not None:
            params["hashContains"] = cid
        if keyvalues:
            query = {key: {"value": value, "op": "eq"} for key, value in keyvalues.items()}
            params["metadata[keyvalues]"] = _json(query)
        answer = await self.service.call("GET", "/data/pinList", params=params)
        rows = answer.get("rows", []) if isinstance(answer, dict) else []
        return [
            PinataPin(
                cid=str(row.get("ipfs_pin_hash", "")),
                size=int(row.get("size") or 0),
                name=str((row.get("metadata") or {}).get("name") or ""),
                keyvalues=(row.get("metadata") or {}).get("keyvalues") or {},
            )
            for row in rows
        ]

    async def close(self) -> None:
        """Close the connection pool."""
        await self.service.close()

    async def _pinned(self, cid: str) -> bool:
        return any(pin.cid == cid for pin in await self.list_pins(cid=cid))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
