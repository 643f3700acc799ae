"""The API in-process, with no broker reachable: what every API unit test starts from."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import create_app
from lantern.settings import Settings
from streams.broker import free_port


def no_broker_settings(store_root: Path, **changes: Any) -> Settings:
    """Settings for an API in this process: a port where no broker listens (so readiness gives up
    at once), the store at ``store_root``, and ``changes`` to any other group."""
    base = Settings()
    return dataclasses.replace(
        base,
        kafka=dataclasses.replace(base.kafka, bootstrap=f"127.0.0.1:{free_port()}"),
        store=dataclasses.replace(base.store, root=store_root),
        api=dataclasses.replace(base.api, readiness_timeout_s=0.05),
        **changes,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at a port where no broker listens."""
    return no_broker_settings(tmp_path / "ipfs")


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient:
    """An HTTP client of ``create_app(settings)``."""
    app: web.Application = create_app(settings)
    result: TestClient = await aiohttp_client(app)
    return result
