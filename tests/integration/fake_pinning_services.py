"""Small local stand-ins for Pinata, a Kubo node and an IPFS Pinning Service API provider.

Each implements the documented endpoints Lantern uses, with their request shapes, auth, status
codes and answer shapes, and records every request. Faults are scripted per test: queue a
``Fault`` (an error status, a Retry-After, a delay past the client's timeout) and the next
matching request gets it. Uploaded files are read as a stream and hashed as they arrive (the
fakes compute CIDs the way `ipfs add` does), never held whole.

    pinata = FakePinata(token="jwt")
    async with aiohttp_server(pinata.app()) ...         # in a test's loop
    with ServerThread(combined_app(pinata, kubo, psa)) as url: ...   # for worker processes
"""

from __future__ import annotations

import abc
import asyncio
import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pinning.unixfs import CidHasher

__all__ = [
    "FakeKubo",
    "FakePinata",
    "FakePsa",
    "Fault",
    "Recorded",
    "ServerThread",
    "combined_app",
]

FOREIGN_CID = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"  # the empty file's: never ours


@dataclass
class Fault:
    """What the next matching request gets instead of a normal answer."""

    status: int | None = 500  # None: answer normally, after the delay
    delay_s: float = 0.0  # sleep first (past the client's timeout: a slow response)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"Retry-After": "1"}
    body: Any = None  # JSON; None: the provider's usual error shape
    path: str = ""  # only requests whose path starts with this


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)  # small multipart fields
    file_name: str | None = None
    file_size: int | None = None
    file_content_type: str | None = None
    json: Any = None


@dataclass
class _Upload:
    fields: dict[str, str]
    name: str | None
    size: int
    content_type: str | None
    cids: dict[int, str]  # CID version → root CID of the file's bytes


class _Fake(abc.ABC):
    """Auth, recording and scripted faults shared by the three fakes."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.faults: deque[Fault] = deque()
        self.requests: list[Recorded] = []
        self.wrong_cid = False  # report another CID than the content's

    def fail(self, *faults: Fault) -> None:
        """Queue faults for the next matching requests, in order."""
        self.faults.extend(faults)

    def calls(self, method: str, path: str) -> list[Recorded]:
        """Recorded requests with this method whose path starts with ``path``."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    def app(self) -> web.Application:
        """This fake alone, as an aiohttp application."""
        app = web.Application(client_max_size=1024**3)
        app.add_routes(self.routes())
        return app

    @abc.abstractmethod
    def routes(self) -> list[web.RouteDef]:
        """The provider's endpoints."""

    def error_body(self, status: int, message: str) -> Any:
        """The provider's error shape (Pinata's and the PSA's Failure object)."""
        return {"error": {"reason": _REASONS.get(status, "ERROR"), "details": message}}

    def unauthorized_status(self) -> int:
        return 401

    async def gate(self, request: web.Request) -> tuple[Recorded, web.Response | None]:
        """Record the request; answer it here if auth fails or a fault is due."""
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query={key: request.query.getall(key) for key in request.query},
            headers=dict(request.headers),
        )
        self.requests.append(recorded)
        if self.token is not None and request.headers.get("Authorization") != (
            f"Bearer {self.token}"
        ):
            status = self.unauthorized_status()
            body = self.error_body(status, "Invalid or expired credentials")
            return recorded, web.json_response(body, status=status)
        for index, fault in enumerate(self.faults):
            if request.path.startswith(fault.path):
                del self.faults[index]
                if fault.delay_s:
                    await asyncio.sleep(fault.delay_s)
                if fault.status is None:
                    return recorded, None
                body = fault.body
                if body is None:
                    body = self.error_body(fault.status, f"fake fault {fault.status}")
                return recorded, web.json_response(body, status=fault.status, headers=fault.headers)
        return recorded, None

    async def read_upload(self, request: web.Request, recorded: Recorded) -> _Upload:
        """Read a multipart body as a stream: small fields kept, the file hashed as it comes."""
        reader = await request.multipart()
        fields: dict[str, str] = {}
        hashers = {0: CidHasher(cid_version=0), 1: CidHasher(cid_version=1)}
        name: str | None = None
        content_type: str | None = None
        size = 0
        while (part := await reader.next()) is not None:
            if getattr(part, "filename", None):
                name = part.filename  # type: ignore[union-attr]
                content_type = part.headers.get("Content-Type")
                while chunk := await part.read_chunk(256 * 1024):  # type: ignore[union-attr]
                    size += len(chunk)
                    for hasher in hashers.values():
                        hasher.update(chunk)
            else:
                fields[str(part.name)] = (await part.read()).decode()  # type: ignore[union-attr]
        recorded.fields, recorded.file_name, recorded.file_size = fields, name, size
        recorded.file_content_type = content_type
        return _Upload(fields, name, size, content_type, {v: h.cid() for v, h in hashers.items()})


class FakePinata(_Fake):
    """Pinata's pinning API: pinFileToIPFS, pinList, unpin."""

    def __init__(self, token: str | None = "test-pinata-jwt") -> None:
        super().__init__(token)
        self.pins: dict[str, dict[str, Any]] = {}  # cid → pin-list row
        self.uploads = 0
        self._ids = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/pinning/pinFileToIPFS", self.pin_file),
            web.get("/data/pinList", self.pin_list),
            web.delete("/pinning/unpin/{cid}", self.unpin),
        ]

    async def pin_file(self, request: web.Request) -> web.Response:
        recorded, early = await self.gate(request)
        if early is not None:
            return early
        upload = await self.read_upload(request, recorded)
        if upload.name is None:
            return web.json_response(self.error_body(400, "no file"), status=400)
        metadata = json.loads(upload.fields.get("pinataMetadata", "{}"))
        options = json.loads(upload.fields.get("pinataOptions", "{}"))
        cid = upload.cids[int(options.get("cidVersion", 0))]
        self.uploads += 1
        if self.wrong_cid:
            cid = upload.cids[1 - int(options.get("cidVersion", 0))]
        duplicate = cid in self.pins
        if not duplicate:
            self.pins[cid] = {
                "id": str(next(self._ids)),
                "ipfs_pin_hash": cid,
                "size": upload.size,
                "user_id": "fake-user",
                "date_pinned": _now(),
                "date_unpinned": None,
                "metadata": {
                    "name": metadata.get("name"),
                    "keyvalues": metadata.get("keyvalues") or {},
                },
                "regions": [],
            }
        answer = {"IpfsHash": cid, "PinSize": upload.size, "Timestamp": _now()}
        if duplicate:
            answer["isDuplicate"] = True
        return web.json_response(answer)

    async def pin_list(self, request: web.Request) -> web.Response:
        _, early = await self.gate(request)
        if early is not None:
            return early
        rows = list(self.pins.values())
        if contains := request.query.get("hashContains"):
            rows = [row for row in rows if contains in row["ipfs_pin_hash"]]
        if query := request.query.get("metadata[keyvalues]"):
            wanted = json.loads(query)
            for key, test in wanted.items():
                if test.get("op") != "eq":
                    return web.json_response(self.error_body(400, "fake: only eq"), status=400)
                rows = [r for r in rows if r["metadata"]["keyvalues"].get(key) == test["value"]]
        return web.json_response({"count": len(rows), "rows": rows})

    async def unpin(self, request: web.Request) -> web.Response:
        _, early = await self.gate(request)
        if early is not None:
            return early
        if self.pins.pop(request.match_info["cid"], None) is None:
            return web.json_response(
                self.error_body(404, "The current user has not pinned the cid"), status=404
            )
        return web.Response(text="OK")


class FakeKubo(_Fake):
    """A Kubo node's RPC API: add, pin/add, pin/rm, pin/ls, id (every command a POST)."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__(token)
        self.blocks: dict[str, int] = {}  # root CID → size of what was added
        self.pins: set[str] = set()
        self.adds = 0

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", "/api/v0/add", self.add),
            web.route("*", "/api/v0/pin/add", self.pin_add),
            web.route("*", "/api/v0/pin/rm", self.pin_rm),
            web.route("*", "/api/v0/pin/ls", self.pin_ls),
            web.route("*", "/api/v0/id", self.id),
        ]

    def error_body(self, status: int, message: str) -> Any:
        return {"Message": message, "Code": 0, "Type": "error"}

    def unauthorized_status(self) -> int:
        return 403

    async def _gate_post(self, request: web.Request) -> tuple[Recorded, web.Response | None]:
        recorded, early = await self.gate(request)
        if early is None and request.method != "POST":
            early = web.Response(status=405, text="405 - Method Not Allowed")
        return recorded, early

    async def add(self, request: web.Request) -> web.Response:
        recorded, early = await self._gate_post(request)
        if early is not None:
            return early
        version = int(request.query.get("cid-version", "0"))
        raw_leaves = request.query.get("raw-leaves", "true" if version == 1 else "false")
        chunker = request.query.get("chunker", "size-262144")
        if chunker != "size-262144" or (raw_leaves == "true") != (version == 1):
            message = "fake: only Kubo's default layout (raw leaves with CIDv1 only)"
            return web.json_response(self.error_body(400, message), status=400)
        upload = await self.read_upload(request, recorded)
        cid = FOREIGN_CID if self.wrong_cid else upload.cids[version]
        self.adds += 1
        self.blocks[cid] = upload.size
        if request.query.get("pin", "true") == "true":
            self.pins.add(cid)
        line = json.dumps({"Name": upload.name, "Hash": cid, "Size": str(upload.size)})
        return web.Response(text=line + "\n", content_type="application/json")

    async def pin_add(self, request: web.Request) -> web.Response:
        _, early = await self._gate_post(request)
        if early is not None:
            return early
        cid = request.query.get("arg", "")
        if cid not in self.blocks:
            # A real node would look for the blocks on the network; this one gives up.
            message = f"fake: blocks of {cid} not found"
            return web.json_response(self.error_body(500, message), status=500)
        self.pins.add(cid)
        return web.json_response({"Pins": [cid]})

    async def pin_rm(self, request: web.Request) -> web.Response:
        _, early = await self._gate_post(request)
        if early is not None:
            return early
        cid = request.query.get("arg", "")
        if cid not in self.pins:
            body = self.error_body(500, "not pinned or pinned indirectly")
            return web.json_response(body, status=500)
        self.pins.discard(cid)
        return web.json_response({"Pins": [cid]})

    async def pin_ls(self, request: web.Request) -> web.Response:
        _, early = await self._gate_post(request)
        if early is not None:
            return early
        cid = request.query.get("arg", "")
        if cid not in self.pins:
            body = self.error_body(500, f"path '{cid}' is not pinned")
            return web.json_response(body, status=500)
        return web.json_response({"Keys": {cid: {"Type": "recursive"}}})

    async def id(self, request: web.Request) -> web.Response:
        _, early = await self._gate_post(request)
        if early is not None:
            return early
        peer = "12D3KooWFakeKuboNodeForLanternTests"
        return web.json_response({"ID": peer, "Addresses": [f"/ip4/127.0.0.1/tcp/4001/p2p/{peer}"]})


class FakePsa(_Fake):
    """An IPFS Pinning Service API provider: /pins and /pins/{requestid}.

    A new request is ``queued``, then ``pinning``, then ``pinned`` after ``polls_to_pin``
    status reads. With a ``provider`` (a FakeKubo), a CID the provider does not hold fails,
    as a real service would fail to fetch it from the origins.
    """

    def __init__(
        self,
        token: str | None = "test-psa-token",
        *,
        provider: FakeKubo | None = None,
        polls_to_pin: int = 2,
    ) -> None:
        super().__init__(token)
        self.provider = provider
        self.polls_to_pin = polls_to_pin
        self.statuses: dict[str, dict[str, Any]] = {}  # requestid → PinStatus
        self._polls: dict[str, int] = {}
        self._ids = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/pins", self.list_pins),
            web.post("/pins", self.add_pin),
            web.get("/pins/{requestid}", self.get_pin),
            web.delete("/pins/{requestid}", self.remove_pin),
        ]

    def pinned(self) -> list[str]:
        """CIDs with a request in state ``pinned``."""
        return [s["pin"]["cid"] for s in self.statuses.values() if s["status"] == "pinned"]

    async def list_pins(self, request: web.Request) -> web.Response:
        _, early = await self.gate(request)
        if early is not None:
            return early
        cids = _csv(request.query.getall("cid", []))
        statuses = _csv(request.query.getall("status", [])) or ["pinned"]  # the spec's default
        results = [
            status
            for status in self.statuses.values()
            if status["status"] in statuses and (not cids or status["pin"]["cid"] in cids)
        ]
        limit = int(request.query.get("limit", "10"))
        return web.json_response({"count": len(results), "results": results[:limit]})

    async def add_pin(self, request: web.Request) -> web.Response:
        recorded, early = await self.gate(request)
        if early is not None:
            return early
        pin = recorded.json = await request.json()
        if not isinstance(pin, dict) or not isinstance(pin.get("cid"), str):
            return web.json_response(self.error_body(400, "pin.cid is required"), status=400)
        requestid = f"req-{next(self._ids)}"
        self.statuses[requestid] = {
            "requestid": requestid,
            "status": "queued",
            "created": _now(),
            "pin": pin,
            "delegates": ["/dnsaddr/fake-psa.example/p2p/12D3KooWFakePsaDelegate"],
            "info": {"status_details": "queue position: 1 of 1"},
        }
        self._polls[requestid] = 0
        return web.json_response(self._shown(self.statuses[requestid]), status=202)

    async def get_pin(self, request: web.Request) -> web.Response:
        _, early = await self.gate(request)
        if early is not None:
            return early
        status = self.statuses.get(request.match_info["requestid"])
        if status is None:
            return web.json_response(self.error_body(404, "no such pin request"), status=404)
        requestid = status["requestid"]
        self._polls[requestid] += 1
        if status["status"] in ("queued", "pinning"):
            if self.provider is not None and status["pin"]["cid"] not in self.provider.blocks:
                status["status"] = "failed"
                status["info"] = {"status_details": "content not found at any origin"}
            elif self._polls[requestid] >= self.polls_to_pin:
                status["status"] = "pinned"
                status["info"] = {}
            else:
                status["status"] = "pinning"
        return web.json_response(self._shown(status))

    async def remove_pin(self, request: web.Request) -> web.Response:
        _, early = await self.gate(request)
        if early is not None:
            return early
        if self.statuses.pop(request.match_info["requestid"], None) is None:
            return web.json_response(self.error_body(404, "no such pin request"), status=404)
        return web.Response(status=202)

    def _shown(self, status: dict[str, Any]) -> dict[str, Any]:
        if not self.wrong_cid:
            return status
        return {**status, "pin": {**status["pin"], "cid": FOREIGN_CID}}


def combined_app(*fakes: _Fake) -> web.Application:
    """Several fakes on one server (their paths do not overlap)."""
    app = web.Application(client_max_size=1024**3)
    for fake in fakes:
        app.add_routes(fake.routes())
    return app


class ServerThread:
    """Serve an app on 127.0.0.1 from a thread of its own, for processes outside the test."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner = web.AppRunner(app)

    def __enter__(self) -> str:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self.url

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _stop(self) -> None:
        await self._runner.cleanup()
        # Handlers of connections the clients left open: end them before the loop closes.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"


_REASONS = {
    400: "BAD_REQUEST",
    401: "INVALID_CREDENTIALS",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "RATE_LIMITED",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def _csv(values: list[str]) -> list[str]:
    return [item for value in values for item in value.split(",") if item]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
