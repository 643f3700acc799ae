"""Admission by cost: work per client and in all, and jobs whose GIF could not be pinned."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.errors import ApiError
from api.jobs import JobView, job_cost
from api.keys import JOBS
from api.limits import Admission, Tarpit
from api.sizing import SizeCheck
from lantern.settings import Settings
from render import Gen1Settings, RenderOptions
from render.estimate import gif_size_bound

DEFAULT = job_cost(RenderOptions())
LARGEST = job_cost(RenderOptions(size=1024, frames=1000))
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
JSON = {"Content-Type": "application/json"}


def _client(address: str) -> Any:
    return SimpleNamespace(remote=address)


def _admission(**api: Any) -> Admission:
    base = Settings()
    return Admission(dataclasses.replace(base, api=dataclasses.replace(base.api, **api)))


def _submit(admission: Admission, address: str, wallet: str, cost: float, pending: float) -> None:
    """What the API does for one submission: attempt, admit, (size), spend."""
    request = _client(address)
    admission.attempt(request)
    admission.admit(request, wallet, cost, pending)
    admission.spend(request, wallet, cost)


def test_cost_is_frames_of_the_default_size() -> None:
    assert DEFAULT == 100
    assert LARGEST == 4000  # forty default jobs
    assert job_cost(RenderOptions(size=256, frames=100)) == 25


def test_a_largest_job_spends_a_clients_minute_of_work() -> None:
    admission = _admission(client_frames_per_min=4000)
    _submit(admission, "10.0.0.1", WALLET, LARGEST, 0)
    with pytest.raises(ApiError) as refused:  # same address, another wallet: work spent
        _submit(admission, "10.0.0.1", "0x" + "1" * 40, DEFAULT, 0)
    assert refused.value.status == 429
    assert "frames of work" in refused.value.message
    assert int((refused.value.headers or {})["Retry-After"]) == 2  # 100 frames at 4000/min
    with pytest.raises(ApiError):  # same wallet, another address: work spent too
        _submit(admission, "10.0.0.2", WALLET, DEFAULT, 0)
    _submit(admission, "10.0.0.3", "0x" + "2" * 40, DEFAULT, 0)  # others pass


def test_default_jobs_are_limited_by_count_before_work() -> None:
    admission = _admission(client_frames_per_min=4000, wallet_rate_per_min=30)
    for _ in range(30):
        _submit(admission, "10.0.0.1", WALLET, DEFAULT, 0)
    with pytest.raises(ApiError) as refused:
        _submit(admission, "10.0.0.1", WALLET, DEFAULT, 0)
    assert "too many submissions for this wallet" in refused.value.message


def test_a_refused_job_spends_no_work_but_its_attempt_counts() -> None:
    admission = _admission(client_frames_per_min=4000, ip_rate_per_min=120)
    _submit(admission, "10.0.0.1", WALLET, 3950, 0)
    with pytest.raises(ApiError):
        _submit(admission, "10.0.0.1", WALLET, DEFAULT, 0)
    admission.ip_work.check("10.0.0.1", 50)  # the refused job's 100 frames were not taken
    # every attempt took a submission token, the refused one too: 118 of 120 are left
    for _ in range(118):
        admission.attempt(_client("10.0.0.1"))
    with pytest.raises(ApiError) as refused:
        admission.attempt(_client("10.0.0.1"))
    assert "too many submissions for this address" in refused.value.message


async def test_a_flood_of_refused_posts_is_refused_before_the_body_is_read(
    aiohttp_client: Any, settings: Settings
) -> None:
    settings = dataclasses.replace(settings, api=dataclasses.replace(settings.api,
                                   ip_rate_per_min=3))  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    for _ in range(3):  # invalid bodies: 422, each an attempt
        async with client.post("/api/v1/mints", data=b"{}", headers=JSON) as response:
            assert response.status == 422
    # the fourth is refused without reading a byte of its (50 MB) body
    async with client.post("/api/v1/mints", data=b"x", headers={**JSON,
                           "Content-Length": "50000000"}) as response:  # fmt: skip
        assert response.status == 429
        assert "Retry-After" in response.headers


def test_a_job_larger_than_a_clients_budget_is_422() -> None:
    admission = _admission(client_frames_per_min=1000)
    with pytest.raises(ApiError) as refused:
        admission.admit(_client("10.0.0.1"), WALLET, LARGEST, pending=0)
    assert (refused.value.status, refused.value.field) == (422, "options")
    assert "4,000 frames of work" in refused.value.message


def test_pending_work_over_the_ceiling_is_429_but_an_empty_queue_admits() -> None:
    admission = _admission(max_backlog_frames=5000, client_frames_per_min=0)
    _submit(admission, "a", WALLET, LARGEST, 0)
    _submit(admission, "a", WALLET, 900, 4000)  # 4,900: under the ceiling
    with pytest.raises(ApiError) as refused:
        _submit(admission, "b", WALLET, DEFAULT, 4950)
    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": "10"}
    assert "4,950 frames of work pending" in refused.value.message
    _admission(max_backlog_frames=100, client_frames_per_min=0).admit(
        _client("a"), WALLET, LARGEST, pending=0
    )  # larger than the ceiling, but nothing waits: it runs


def _status(job: str, state: str, progress: int, size: int, frames: int) -> tuple[bytes, bytes]:
    request = {"options": {"size": size, "frames": frames}}
    value = {"job_id": job, "state": state, "progress": progress, "request": request}
    return json.dumps(job).encode(), json.dumps(value).encode()


def test_the_job_view_keeps_pending_work_and_counts_as_jobs_change() -> None:
    view = JobView(Settings())
    view._apply(*_status("a", "queued", 0, 1024, 1000))
    view._apply(*_status("b", "queued", 0, 512, 100))
    assert view.pending_frames == LARGEST + DEFAULT
    view._apply(*_status("a", "rendering", 50, 1024, 1000))
    assert view.pending_frames == LARGEST / 2 + DEFAULT
    view._apply(*_status("a", "completed", 100, 1024, 1000))
    view._apply(*_status("b", "failed", 10, 512, 100))
    assert view.pending_frames == 0
    assert (view.states["completed"], view.states["failed"], view.states["queued"]) == (1, 1, 0)
    view._apply(json.dumps("a").encode(), None)  # a tombstone
    assert view.states["completed"] == 0 and "a" not in view.jobs


async def test_a_job_under_the_hard_bound_passes_without_an_estimate() -> None:
    options = RenderOptions(size=256, frames=100)
    assert gif_size_bound(options) < 100 * 1024 * 1024
    check = SizeCheck(max_bytes=100 * 1024 * 1024, slots=0)  # no slot: any estimate would 429
    await check.check(Gen1Settings(), options)


async def test_a_job_whose_gif_cannot_be_pinned_is_422_with_what_would_fit() -> None:
    check = SizeCheck(max_bytes=100 * 1024 * 1024, slots=1)
    with pytest.raises(ApiError) as refused:
        await check.check(Gen1Settings(), RenderOptions(size=1024, frames=1000))
    assert (refused.value.status, refused.value.code) == (422, "too_large_to_pin")
    assert refused.value.field == "options.frames"
    assert "over the 100 MB this service can pin" in refused.value.message
    fits = int(refused.value.message.split("at most about ")[1].split()[0])
    assert 100 <= fits <= 400  # a default artwork is ~0.5 B a pixel: ~190 frames at 1024²
    await check.check(Gen1Settings(), RenderOptions(size=1024, frames=fits // 2))


async def test_estimates_beyond_their_slots_are_429() -> None:
    check = SizeCheck(max_bytes=1024, slots=1)
    check.running = 1
    with pytest.raises(ApiError) as refused:
        await check.check(Gen1Settings(), RenderOptions(size=512, frames=100))
    assert refused.value.status == 429


async def test_the_api_refuses_an_unpinnable_job_before_publishing(client: TestClient) -> None:
    body = {"settings": {}, "options": {"size": 1024, "frames": 1000}, "wallet": WALLET}
    async with client.post("/api/v1/mints", json=body) as response:
        answer = await response.json()
    # no broker is reachable in unit tests: a job that passed would be 503, not 422
    assert response.status == 422, answer
    assert answer["error"]["code"] == "too_large_to_pin"


class _NoWalk(dict[str, Any]):
    """A job table that fails the test if anything walks it."""

    def values(self) -> Any:
        raise AssertionError("walked every job")

    def __iter__(self) -> Any:
        raise AssertionError("walked every job")


async def test_a_scrape_walks_no_job(client: TestClient) -> None:
    view: JobView = client.app[JOBS]
    for n in range(3):
        view._apply(*_status(f"{n:032x}", "queued", 0, 512, 100))
    view._apply(*_status(f"{3:032x}", "completed", 100, 512, 100))
    view.jobs = _NoWalk(view.jobs)
    async with client.get("/metrics") as response:
        text = await response.text()
    assert response.status == 200
    assert 'lantern_jobs{state="queued"} 3.0' in text
    assert 'lantern_jobs{state="completed"} 1.0' in text
    assert "lantern_pending_frames 300.0" in text


def test_the_tarpit_holds_only_an_address_refused_again_and_again() -> None:
    tarpit = Tarpit(after=3, delay=1.5, window=10)
    assert [tarpit.refused("a", now=t) for t in (0, 1, 2)] == [0, 0, 0]
    assert tarpit.refused("a", now=3) == 1.5  # the fourth refusal within the window
    assert tarpit.refused("b", now=3) == 0  # another address is not slowed
    assert tarpit.refused("a", now=20) == 0  # a new window: it starts afresh
    assert Tarpit(after=0, delay=1).refused("a") == 0  # 0: off


async def test_a_client_ignoring_retry_after_waits_for_its_429s(
    aiohttp_client: Any, settings: Settings
) -> None:
    settings = dataclasses.replace(settings, api=dataclasses.replace(settings.api,
                                   ip_rate_per_min=1, tarpit_after=2, tarpit_s=0.5))  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    timings = []
    for _ in range(5):
        started = asyncio.get_running_loop().time()
        async with client.post("/api/v1/mints", data=b"{}", headers=JSON) as response:
            timings.append((response.status, asyncio.get_running_loop().time() - started))
    statuses = [status for status, _ in timings]
    assert statuses == [422, 429, 429, 429, 429]
    assert all(seconds < 0.4 for _, seconds in timings[:3])  # the first two refusals: at once
    assert all(seconds >= 0.5 for _, seconds in timings[3:])  # then held
