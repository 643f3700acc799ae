"""Pinata, Kubo and PSA backends against local servers speaking those services' documented APIs.

Each failure mode runs against all three: 401/403, 400, 429 with Retry-After, 500 then success,
5xx every time, slow answers past the timeout, a mismatching CID, and a repeated pin.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from pinning import (
    CidMismatch,
    LocalStore,
    Pinner,
    PinRejected,
    PinTooLarge,
    PinUnavailable,
    compute_cid,
)
from pinning.backends import (
    KuboBackend,
    PinataBackend,
    PinBackend,
    PsaBackend,
    RetryPolicy,
    Service,
)
from tests.integration.fake_pinning_services import (
    FakeKubo,
    FakePinata,
    FakePsa,
    Fault,
    combined_app,
)

GIF = b"GIF89a" + bytes(range(256)) * 40
KEYVALUES = {"job_id": "0123abcd", "wallet": "0xabc", "renderer_version": "lantern-gen1/test"}
TIMEOUT_S = 0.4
KINDS = ["pinata", "kubo", "psa"]
# The request each backend's work hinges on, where scripted faults are aimed.
MAIN_PATH = {"pinata": "/pinning/pinFileToIPFS", "kubo": "/api/v0/add", "psa": "/pins"}

ServerFactory = Callable[..., Awaitable[TestServer]]


@dataclass
class Rig:
    """One backend wired to its fake, and a Pinner over a fresh local store."""

    kind: str
    fake: FakePinata | FakeKubo | FakePsa
    kubo: FakeKubo | None  # the PSA's content provider
    backend: PinBackend
    pinner: Pinner
    store: LocalStore

    def pinned(self) -> list[str]:
        """Every pin the service holds (a CID pinned twice appears twice)."""
        if isinstance(self.fake, FakePsa):
            return self.fake.pinned()
        return list(self.fake.pins)


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(aiohttp_server: ServerFactory, tmp_path: Path) -> AsyncIterator[RigFactory]:
    """Build rigs; their connections are closed after the test."""
    rigs: list[Rig] = []

    async def make(
        kind: str,
        *,
        cid_version: int = 0,
        token: str | None = None,
        attempts: int = 3,
        deadline_s: float = 30.0,
        max_bytes: int = 10**9,
    ) -> Rig:
        kubo = FakeKubo()
        fake: FakePinata | FakeKubo | FakePsa
        if kind == "pinata":
            fake = FakePinata()
        elif kind == "kubo":
            fake = kubo
        else:
            fake = FakePsa(provider=kubo)
        server = await aiohttp_server(combined_app(*{id(f): f for f in (fake, kubo)}.values()))
        url = str(server.make_url(""))
        secret = fake.token if token is None else token

        def service(provider: str, secret: str | None = None) -> Service:
            retry = RetryPolicy(attempts=attempts, backoff_s=0.01, backoff_max_s=0.05)
            return Service(provider, url, token=secret or "", timeout_s=TIMEOUT_S, retry=retry)

        backend: PinBackend
        if kind == "pinata":
            backend = PinataBackend(service("pinata", secret), cid_version=cid_version)
        elif kind == "kubo":
            backend = KuboBackend(service("kubo", secret), cid_version=cid_version)
        else:
            provider = KuboBackend(service("kubo"), cid_version=cid_version)
            backend = PsaBackend(service("psa", secret), provider=provider, poll_s=0.01)
        store = LocalStore(tmp_path / f"store-{kind}")
        pinner = Pinner(
            store, backend, cid_version=cid_version, max_bytes=max_bytes, deadline_s=deadline_s
        )
        rigs.append(Rig(kind, fake, kubo if kind == "psa" else None, backend, pinner, store))
        return rigs[-1]

    yield make
    for rig in rigs:
        await rig.pinner.close()


async def pin_gif(rig: Rig, data: bytes = GIF) -> str:
    result = await rig.pinner.pin_bytes(
        data, content_type="image/gif", name="gen1-0123abcd.gif", keyvalues=KEYVALUES
    )
    return result.cid


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cid_version", [0, 1])
async def test_pins_under_lanterns_cid(make_rig: RigFactory, kind: str, cid_version: int) -> None:
    rig = await make_rig(kind, cid_version=cid_version)
    cid = await pin_gif(rig)
    assert cid == compute_cid(GIF, cid_version=cid_version)
    assert rig.pinned() == [cid]
    # The local store serves every CID Lantern reports, the CIDv1 alias included.
    assert rig.store.get(cid) == GIF


@pytest.mark.parametrize("kind", KINDS)
async def test_pinning_again_pins_nothing_new(make_rig: RigFactory, kind: str) -> None:
    rig = await make_rig(kind)
    first = await pin_gif(rig)
    again = await rig.pinner.pin_bytes(GIF, content_type="image/gif", name="again")
    assert again.cid == first and again.already
    assert rig.pinned() == [first]
    if isinstance(rig.fake, FakePinata):
        assert rig.fake.uploads == 1  # the pin list said it was there: no second upload
    if isinstance(rig.fake, FakePsa):
        assert len(rig.fake.calls("POST", "/pins")) == 1  # the earlier request was reused


@pytest.mark.parametrize("kind", KINDS)
async def test_bad_credentials_fail_at_once(make_rig: RigFactory, kind: str) -> None:
    rig = await make_rig(kind, token="wrong-secret-value")
    if kind == "kubo":
        rig.fake.token = "the-node-token"  # a Kubo node with API.Authorizations
    with pytest.raises(PinRejected) as caught:
        await pin_gif(rig)
    assert caught.value.status == (403 if kind == "kubo" else 401)
    assert "credentials" in str(caught.value).lower()
    assert "wrong-secret-value" not in str(caught.value)
    assert caught.value.retryable is False
    assert len(rig.fake.requests) == 1  # not retried


@pytest.mark.parametrize("kind", KINDS)
async def test_bad_request_is_not_retried(make_rig: RigFactory, kind: str) -> None:
    rig = await make_rig(kind)
    rig.fake.fail(Fault(400, path=MAIN_PATH[kind]))
    with pytest.raises(PinRejected, match="400"):
        await pin_gif(rig)
    assert len(rig.fake.calls("POST" if kind != "psa" else "GET", MAIN_PATH[kind])) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_429_waits_for_retry_after(make_rig: RigFactory, kind: str) -> None:
    rig = await make_rig(kind)
    rig.fake.fail(Fault(429, headers={"Retry-After": "1"}, path=MAIN_PATH[kind]))
    started = time.monotonic()
    cid = await pin_gif(rig)
    # The backoff alone would be ~0.01 s; the service asked for a second.
    assert time.monotonic() - started >= 1.0
    assert rig.pinned() == [cid]


@pytest.mark.parametrize("kind", KINDS)
async def test_500_then_success(make_rig: RigFactory, kind: str) -> None:
    rig = await make_rig(kind)
    rig.fake.fail(Fault(500, path=MAIN_PATH[kind]), Fault(503, path=MAIN_PATH[kind]))
    cid = await pin_gif(rig)
    assert rig.pinned() == [cid]


@pytest.mark.parametrize("kind", KINDS)
async def test_5xx_on_every_attempt(make_rig: RigFactory, kind: str) -> None:
    rig = await make_rig(kind, attempts=3)
    rig.fake.fail(*[Fault(502, path=MAIN_PATH[kind])] * 3)
    with pytest.raises(PinUnavailable) as caught:
        await pin_gif(rig)
    assert "after 3 attempts" in str(caught.value) and "502" in str(caught.value)
    assert caught.value.retryable  # the pipeline may retry the stage later
    assert rig.pinned() == []


@pytest.mark.parametrize("kind", KINDS)
async def test_slow_answer_past_the_timeout_is_retried(make_rig: RigFactory, kind: str) -> None:
    rig = await make_rig(kind)
    rig.fake.fail(Fault(None, delay_s=TIMEOUT_S * 3, path=MAIN_PATH[kind]))
    cid = await pin_gif(rig)
    assert rig.pinned() == [cid]


@pytest.mark.parametrize("kind", KINDS)
async def test_always_slow_fails_with_the_timeout(make_rig: RigFactory, kind: str) -> None:
    rig = await make_rig(kind, attempts=2)
    rig.fake.fail(*[Fault(None, delay_s=TIMEOUT_S * 3, path=MAIN_PATH[kind])] * 2)
    with pytest.raises(PinUnavailable, match=f"no answer within {TIMEOUT_S:g}s"):
        await pin_gif(rig)


@pytest.mark.parametrize("kind", KINDS)
async def test_mismatching_cid_is_refused(make_rig: RigFactory, kind: str) -> None:
    rig = await make_rig(kind)
    rig.fake.wrong_cid = True
    with pytest.raises(CidMismatch) as caught:
        await pin_gif(rig)
    assert caught.value.expected == compute_cid(GIF)
    assert caught.value.reported != caught.value.expected
    assert "refused" in str(caught.value) and caught.value.retryable is False
    if kind == "kubo":
        assert rig.pinned() == []  # added, but never pinned


@pytest.mark.parametrize("kind", KINDS)
async def test_unpin_is_idempotent(make_rig: RigFactory, kind: str) -> None:
    rig = await make_rig(kind)
    cid = await pin_gif(rig)
    await rig.backend.unpin(cid)
    assert rig.pinned() == []
    await rig.backend.unpin(cid)  # nothing left: not an error


async def test_too_large_is_refused_before_upload(make_rig: RigFactory) -> None:
    rig = await make_rig("pinata", max_bytes=100)
    with pytest.raises(PinTooLarge, match="over the upload limit of 100"):
        await pin_gif(rig)
    assert rig.fake.requests == []


async def test_deadline_bounds_a_whole_pin(make_rig: RigFactory) -> None:
    rig = await make_rig("psa", deadline_s=0.5)
    assert isinstance(rig.fake, FakePsa)
    rig.fake.polls_to_pin = 10**6  # never gets there
    with pytest.raises(PinUnavailable, match=r"deadline of 0\.5s"):
        await pin_gif(rig)


# --- request shapes, backend by backend ---


async def test_pinata_request_shape(make_rig: RigFactory) -> None:
    rig = await make_rig("pinata", cid_version=1)
    cid = await pin_gif(rig)
    [upload] = rig.fake.calls("POST", "/pinning/pinFileToIPFS")
    assert upload.headers["Authorization"] == "Bearer test-pinata-jwt"
    assert upload.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert upload.file_name == "gen1-0123abcd.gif" and upload.file_size == len(GIF)
    assert upload.file_content_type == "image/gif"
    assert json.loads(upload.fields["pinataMetadata"]) == {
        "name": "gen1-0123abcd.gif",
        "keyvalues": KEYVALUES,
    }
    assert json.loads(upload.fields["pinataOptions"]) == {"cidVersion": 1}
    [listing] = rig.fake.calls("GET", "/data/pinList")
    assert listing.query["hashContains"] == [cid] and listing.query["status"] == ["pinned"]


async def test_pinata_lists_by_keyvalue(make_rig: RigFactory) -> None:
    rig = await make_rig("pinata")
    cid = await pin_gif(rig)
    assert isinstance(rig.backend, PinataBackend)
    [pin] = await rig.backend.list_pins({"job_id": "0123abcd"})
    assert (pin.cid, pin.size, pin.name) == (cid, len(GIF), "gen1-0123abcd.gif")
    assert pin.keyvalues == KEYVALUES
    assert await rig.backend.list_pins({"job_id": "another"}) == []
    listing = rig.fake.calls("GET", "/data/pinList")[-1]
    assert json.loads(listing.query["metadata[keyvalues]"][0]) == {
        "job_id": {"value": "another", "op": "eq"}
    }


@pytest.mark.parametrize("cid_version", [0, 1])
async def test_kubo_request_shape(make_rig: RigFactory, cid_version: int) -> None:
    rig = await make_rig("kubo", cid_version=cid_version)
    cid = await pin_gif(rig)
    [add] = rig.fake.calls("POST", "/api/v0/add")
    assert add.query["cid-version"] == [str(cid_version)]
    assert add.query["raw-leaves"] == ["true" if cid_version else "false"]
    assert add.query["chunker"] == ["size-262144"]
    assert add.query["pin"] == ["false"]  # pinned only once the CID is checked
    assert add.file_size == len(GIF)
    [pin] = rig.fake.calls("POST", "/api/v0/pin/add")
    assert pin.query["arg"] == [cid]
    assert "Authorization" not in add.headers  # no token configured
    assert {r.method for r in rig.fake.requests} == {"POST"}


async def test_psa_request_shape(make_rig: RigFactory) -> None:
    rig = await make_rig("psa")
    assert isinstance(rig.fake, FakePsa) and rig.kubo is not None
    cid = await pin_gif(rig)
    [lookup] = rig.fake.calls("GET", "/pins")[:1]
    assert lookup.query["cid"] == [cid] and lookup.query["status"] == ["queued,pinning,pinned"]
    [create] = rig.fake.calls("POST", "/pins")
    assert create.headers["Authorization"] == "Bearer test-psa-token"
    assert create.json["cid"] == cid and create.json["name"] == "gen1-0123abcd.gif"
    assert create.json["meta"] == KEYVALUES
    # The content went to the provider node first; its addresses are the origins.
    assert cid in rig.kubo.pins
    assert create.json["origins"] == [
        "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFakeKuboNodeForLanternTests"
    ]
    polls = [r for r in rig.fake.calls("GET", "/pins/") if r.path != "/pins"]
    assert len(polls) == 2  # pinning, then pinned


async def test_psa_failed_request_reports_the_service_details(
    aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    # No provider: the service cannot find the content anywhere and fails the request.
    psa = FakePsa(provider=FakeKubo())
    server = await aiohttp_server(psa.app())
    service = Service("psa", str(server.make_url("")), token="test-psa-token")
    backend = PsaBackend(service, origins=["/dnsaddr/nowhere.example"], poll_s=0.01)
    pinner = Pinner(LocalStore(tmp_path / "store"), backend)
    try:
        with pytest.raises(PinRejected, match="content not found at any origin"):
            await pinner.pin_bytes(GIF, content_type="image/gif", name="x.gif")
    finally:
        await pinner.close()
    [create] = psa.calls("POST", "/pins")
    assert create.json["origins"] == ["/dnsaddr/nowhere.example"]
