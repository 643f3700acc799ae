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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at a port where no broker listens."""
    base = Settings()
    return dataclasses.replace(
        base,
        kafka=dataclasses.replace(base.kafka, bootstrap=f"127.0.0.1:{free_port()}"),
        store=dataclasses.replace(base.store, root=tmp_path / "ipfs"),
        api=dataclasses.replace(base.api, readiness_timeout_s=0.05),
    )


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient:
    """An HTTP client of ``create_app(settings)``."""
    app: web.Application = create_app(settings)
    result: TestClient = await aiohttp_client(app)
    return result
