"""The API over HTTP with no broker reachable: validation, errors, 503, health."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from lantern.settings import Settings
from pinning import LocalStore

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"

ClientFactory = Any


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The common settings, with a small body limit to test 413."""
    return dataclasses.replace(settings, api=dataclasses.replace(settings.api, max_body_bytes=4096))


async def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = (await response.json())["error"]
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"settings": {"flowFields": {"lineDensity": 0.9}}, "wallet": WALLET},
            "settings.flowFields.lineDensity",
        ),
        (
            {"settings": {"flowField": {"color1": "green"}}, "wallet": WALLET},
            "settings.flowField.color1",
        ),
        ({"settings": {"contour": {"levels": 1}}, "wallet": WALLET}, "settings.contour.levels"),
        ({"settings": {}, "options": {"size": 4096}, "wallet": WALLET}, "options.size"),
        ({"settings": {}, "options": {"timing": "fast"}, "wallet": WALLET}, "options.timing"),
        ({"settings": {}}, "wallet"),
        ({"settings": {}, "wallet": "0x123"}, "wallet"),
        ({"settings": {}, "wallet": "0x52908400098527886e0F7030069857D2E4169EE7"}, "wallet"),
        ({"settings": {}, "wallet": WALLET, "colour": "red"}, "colour"),
        ([1, 2], ""),
    ],
)
async def test_invalid_fields_get_422_naming_the_field(
    client: TestClient, body: Any, field: str
) -> None:
    response = await client.post("/api/v1/mints", json=body)
    error = await error_of(response, 422)
    assert error["code"] == "invalid"
    assert error["field"] == field
    assert error["message"].startswith(field or "body")


async def test_every_bad_field_is_listed(client: TestClient) -> None:
    body = {"settings": {"contour": {"levels": 50, "smoothness": -1}}, "wallet": "nope"}
    error = await error_of(await client.post("/api/v1/mints", json=body), 422)
    fields = {d["field"] for d in error["details"]}
    assert fields == {"settings.contour.levels", "settings.contour.smoothness", "wallet"}


async def test_malformed_json_is_400(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/mints", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (await error_of(response, 400))["code"] == "bad_json"


async def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = await client.post("/api/v1/mints", data=b"a=1")
    assert (await error_of(response, 415))["code"] == "unsupported_media"


async def test_oversized_body_is_413(client: TestClient) -> None:
    body = b'{"settings": {}, "pad": "' + b"x" * 8000 + b'"}'
    response = await client.post(
        "/api/v1/mints", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 413


async def test_valid_request_without_a_broker_is_503_not_accepted(client: TestClient) -> None:
    response = await client.post("/api/v1/mints", json={"settings": {}, "wallet": WALLET})
    error = await error_of(response, 503)
    assert error["code"] == "unavailable"
    assert response.headers["Retry-After"] == "2"
    legacy = await client.post(
        "/api/gen1/queue-mint", json={"settings": {}, "walletAddress": WALLET}
    )
    assert legacy.status == 503


async def test_unknown_job_is_404(client: TestClient) -> None:
    assert (await client.get(f"/api/v1/jobs/{'a' * 32}")).status == 404
    assert (await client.get("/api/v1/jobs/../../etc")).status == 404
    legacy = await client.get("/api/gen1/job-status", params={"jobId": "b" * 32})
    assert legacy.status == 404
    missing = await client.get("/api/gen1/job-status")
    assert (await error_of(missing, 400))["field"] == "jobId"


async def test_health_and_readiness(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["checks"]["broker"] is False


async def test_gateway_serves_content_with_type_and_caching(
    client: TestClient, settings: Settings
) -> None:
    cid = LocalStore(settings.store.root).put(b"hello world\n", content_type="text/plain")
    assert cid == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    response = await client.get(f"/ipfs/{cid}")
    assert response.status == 200
    assert await response.read() == b"hello world\n"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "immutable" in response.headers["Cache-Control"]
    again = await client.get(f"/ipfs/{cid}", headers={"If-None-Match": f'"{cid}"'})
    assert again.status == 304
    missing = await client.get("/ipfs/QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5p")
    assert missing.status == 404
    assert (await client.get("/ipfs/not-a-cid")).status == 400
