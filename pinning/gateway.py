"""Content Lantern's own store lacks, read from elsewhere: the node that holds its pins, then a
configured gateway. One way to read it for every process that needs to:

- the API's ``/ipfs/{cid}`` streams it to the visitor (``api/views.py``);
- the pin stage fetches a GIF another worker assembled (``SharedContent.fetch``), when workers
  share no disk.

The node is the Kubo node of the pin backend (``kubo``, or ``psa`` with a provider), its gateway
found once through its RPC (``config Addresses.Gateway``; ``0.0.0.0`` means the RPC's host) and
asked with ``Cache-Control: only-if-cached``, so it serves only what it holds and never fetches
from the network on anyone's behalf. Then ``LANTERN_STORE_GATEWAY_URL``, if set. Every request
says ``Via: 1.1 lantern``, and an API answers such a request from its own store only, so a
gateway URL leading back to an API cannot loop.

``SharedContent`` is what the workers share besides Kafka: the assembler adds each GIF to the
node as it writes it (``share``), so whichever worker pins the job finds it there, under the CID
the PinRequest carries (``shared_cid``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from pinning.backends import PinConfig, kubo
from pinning.backends.base import Content
from pinning.backends.http import RetryPolicy, Service
from pinning.backends.kubo import KuboBackend
from pinning.errors import CidMismatch, ContentNotFound, PinServiceError, PinTooLarge
from pinning.store import LocalStore
from pinning.unixfs import CidHasher, cid_of_file

__all__ = [
    "HOP",
    "GatewayFailed",
    "Gateways",
    "SharedContent",
    "gateway_base",
    "node_rpc",
]

log = logging.getLogger(__name__)

# A request a Lantern process makes of a gateway says so in ``Via``; an API receiving one answers
# from its local store only.
HOP = "lantern"
READ_BYTES = 64 * 1024
# The gateway of each Kubo node, by RPC URL: asked once (``config Addresses.Gateway``).
_NODE_GATEWAYS: dict[str, str] = {}
_HOST_PROTOCOLS = frozenset({"ip4", "ip6", "dns", "dns4", "dns6"})


class GatewayFailed(Exception):
    """A gateway could not answer (neither the content nor a plain "not found")."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


def node_rpc(pin: PinConfig) -> str:
    """The RPC URL of the Kubo node that holds what Lantern pins, or "" if there is none."""
    if pin.backend == "kubo":
        return (pin.url or kubo.DEFAULT_URL).rstrip("/")
    if pin.backend == "psa" and pin.provider_url:
        return pin.provider_url.rstrip("/")
    return ""


def _node_token(pin: PinConfig) -> str:
    return pin.token if pin.backend == "kubo" else ""  # a PSA's token is not its provider's


def gateway_base(value: object, rpc: str) -> str | None:
    """``http://host:port`` of the first TCP multiaddr in ``Addresses.Gateway`` (one or a list);
    an unspecified host (0.0.0.0, ::) is the RPC's host."""
    for address in value if isinstance(value, list) else [value]:
        parts = str(address).split("/")  # "", "ip4", "127.0.0.1", "tcp", "8080"
        if len(parts) < 5 or parts[1] not in _HOST_PROTOCOLS or parts[3] != "tcp":
            continue
        host = parts[2]
        if host in ("0.0.0.0", "::"):
            host = urlsplit(rpc).hostname or "127.0.0.1"
        return f"http://{f'[{host}]' if ':' in host else host}:{parts[4]}"
    return None


@dataclass(frozen=True)
class Gateways:
    """Where content missing here is asked for, in order: the node's gateway, then
    ``fallback`` (``LANTERN_STORE_GATEWAY_URL``)."""

    pin: PinConfig
    fallback: str = ""

    @property
    def configured(self) -> bool:
        """Whether there is anywhere to ask."""
        return bool(node_rpc(self.pin) or self.fallback)

    def session(self) -> aiohttp.ClientSession:
        """A client session with the pin settings' timeouts (connecting, or a silence)."""
        timeout_s = self.pin.timeout_s
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
        )

    async def open(self, http: aiohttp.ClientSession, cid: str) -> aiohttp.ClientResponse | None:
        """The first 200 answer for ``cid``, its body unread (the caller reads and releases
        it); None if every source says it lacks the CID. GatewayFailed if none had it and one
        or more failed (``timeout`` if any timed out); each failure is logged."""
        failures: list[GatewayFailed] = []
        sources: list[tuple[str, dict[str, str]]] = []
        rpc = node_rpc(self.pin)
        if rpc:
            try:
                node = await self._node_gateway(http, rpc)
                sources.append((f"{node}/ipfs/", {"Cache-Control": "only-if-cached"}))
            except GatewayFailed as exc:
                failures.append(exc)
        if self.fallback:
            sources.append((self.fallback.rstrip("/") + "/", {}))
        for base, extra in sources:
            headers = {"Via": f"1.1 {HOP}", "Accept-Encoding": "identity", **extra}
            try:
                # GET for HEAD too: a gateway names the type from the bytes, which HEAD lacks
                upstream = await http.get(base + cid, headers=headers)
            except TimeoutError:
                failures.append(GatewayFailed(f"{base}{cid} timed out", timeout=True))
                continue
            except aiohttp.ClientError as exc:
                failures.append(GatewayFailed(f"{base}{cid}: {exc}"))
                continue
            if upstream.status == 200:
                return upstream
            upstream.release()
            if upstream.status not in (404, 410, 412):  # 412: not on the node (only-if-cached)
                failures.append(GatewayFailed(f"{base}{cid} answered HTTP {upstream.status}"))
        if not failures:
            return None
        for failure in failures:
            log.warning("gateway failed cid=%s: %s", cid, failure)
        timeout = any(failure.timeout for failure in failures)
        raise GatewayFailed("; ".join(str(failure) for failure in failures), timeout=timeout)

    async def fetch(self, store: LocalStore, cid: str, *, max_bytes: int) -> str:
        """Put ``cid``'s bytes, read from the first source that has them and checked against
        the CID, into ``store``; the CIDv0 it stores them under. ContentNotFound if no source
        has them (or they are not the CID), PinTooLarge beyond ``max_bytes``, PinServiceError
        if the sources failed (retryable)."""
        async with self.session() as http:
            try:
                upstream = await self.open(http, cid)
                if upstream is None:
                    raise ContentNotFound(cid)
                async with upstream:
                    content_type = upstream.headers.get("Content-Type", "application/octet-stream")
                    hasher = CidHasher(cid_version=0 if cid.startswith("Qm") else 1)
                    data = bytearray()
                    async for piece in upstream.content.iter_chunked(READ_BYTES):
                        hasher.update(piece)
                        data += piece
                        if len(data) > max_bytes:
                            raise PinTooLarge(cid, len(data), max_bytes)
            except GatewayFailed as exc:
                raise PinServiceError("gateway", str(exc)) from exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise PinServiceError("gateway", f"reading {cid} failed mid-way: {exc!r}") from exc
        if hasher.cid() != cid:
            log.warning("gateway sent other bytes for cid=%s", cid)
            raise ContentNotFound(cid)
        stored = await asyncio.to_thread(store.put, data, content_type=content_type)
        log.info("fetched cid=%s bytes=%d from a gateway", cid, len(data))
        return stored

    async def _node_gateway(self, http: aiohttp.ClientSession, rpc: str) -> str:
        """The base URL of the Kubo node's gateway, from its configuration (asked once)."""
        known = _NODE_GATEWAYS.get(rpc)
        if known:
            return known
        token = _node_token(self.pin)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{rpc}/api/v0/config"
        try:
            params = {"arg": "Addresses.Gateway"}
            async with http.post(url, params=params, headers=headers) as answer:
                if answer.status != 200:
                    raise GatewayFailed(f"{url} answered HTTP {answer.status}")
                value = (await answer.json(content_type=None)).get("Value")
        except TimeoutError as exc:
            raise GatewayFailed(f"{url} timed out", timeout=True) from exc
        except (aiohttp.ClientError, ValueError, AttributeError) as exc:
            raise GatewayFailed(f"{url}: {exc}") from exc
        base = gateway_base(value, rpc)
        if base is None:
            raise GatewayFailed(f"the node at {rpc} has no HTTP gateway address: {value!r:.200}")
        _NODE_GATEWAYS[rpc] = base
        return base


@dataclass(frozen=True)
class SharedContent:
    """The content store every worker reaches besides Kafka: the node, when the pin backend has
    one. Without a node (the ``local`` backend, ``pinata``, ``psa`` without a provider) there is
    nothing to share, and the workers must share the content store's folder instead."""

    gateways: Gateways

    @classmethod
    def create(cls, pin: PinConfig, fallback: str = "") -> SharedContent:
        """From the pin settings and ``LANTERN_STORE_GATEWAY_URL``."""
        return cls(Gateways(pin, fallback))

    @property
    def node(self) -> str:
        """The node's RPC URL, or "" without one."""
        return node_rpc(self.gateways.pin)

    async def share(self, path: Path, *, name: str, content_type: str) -> str:
        """Add the file at ``path`` to the node, unpinned, as the pin backend will (at
        ``cid_version``, with Lantern's layout), so any worker can read it through the node's
        gateway: the CID it has there, or "" without a node. The pin stage pins it later, and
        its own ``add`` then stores no new block. CidMismatch (never retried) if the node
        computes another CID than Lantern."""
        rpc = self.node
        if not rpc:
            return ""
        pin = self.gateways.pin
        version = pin.cid_version
        cid = await asyncio.to_thread(cid_of_file, path, cid_version=version)
        size = await asyncio.to_thread(lambda: path.stat().st_size)
        retry = RetryPolicy(pin.attempts, pin.backoff_s, pin.backoff_max_s)
        service = Service("kubo", rpc, token=_node_token(pin), timeout_s=pin.timeout_s, retry=retry)
        node = KuboBackend(service, cid_version=version)
        try:
            added = await node.add(Content(path, cid, size, name, content_type))
        finally:
            await node.close()
        if added != cid:
            raise CidMismatch("kubo", cid, added)
        return cid

    async def fetch(self, store: LocalStore, cid: str, *, max_bytes: int) -> str:
        """``cid`` into ``store`` from the node (or the fallback gateway); see ``Gateways``."""
        if not self.gateways.configured:
            raise ContentNotFound(cid)
        return await self.gateways.fetch(store, cid, max_bytes=max_bytes)
