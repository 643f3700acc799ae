"""A real browser against a real Lantern: Debian's chromium driven by Playwright.

The session reuses the integration fixtures (a KRaft broker, a worker and the API as processes)
and launches `/usr/bin/chromium` headless; nothing is downloaded. Screenshots of every step land
in test-artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.integration.conftest import (  # noqa: F401
    ARTIFACTS,
    ROOT,
    kafka_bootstrap,
    lantern,
    local_chain,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ARTIFACTS / "screenshots"


@dataclass(frozen=True)
class Device:
    """A browser context's shape: a desktop, or a phone with touch."""

    name: str
    context: dict[str, Any]

    @property
    def touch(self) -> bool:
        return bool(self.context.get("has_touch"))


DESKTOP = Device("desktop", {"viewport": {"width": 1280, "height": 800}})
PHONE = Device(
    "phone",
    {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        # the phone also proves the page honours reduced motion: a still preview, no animation
        "reduced_motion": "reduce",
    },
)
SMALL_PHONE = Device(
    "small-phone",
    {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True},
)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run `make .lantern/system.installed`")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class Shots:
    """Numbered screenshots of one test's steps."""

    def __init__(self, page: Page, prefix: str) -> None:
        self.page, self.prefix, self.count = page, prefix, 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, step: str) -> Path:
        self.count += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page_for(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``page_for(device)`` → (page, shots, errors): a fresh context; JS errors are collected."""
    contexts: list[Any] = []

    def make(device: Device) -> tuple[Page, Shots, list[str]]:
        context = browser.new_context(**device.context)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        test = re.sub(r"[^a-z0-9]+", "-", request.node.originalname.removeprefix("test_"))
        return page, Shots(page, f"{device.name}-{test.strip('-')}"), errors

    yield make
    for context in contexts:
        context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious or critical axe-core violations on the page as it is now (WCAG 2.x A and AA)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # evaluated over the DevTools protocol: the page's CSP (script-src 'self') still applies
        # to the page itself, and no inline <script> is needed
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        """async () => (await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}},
        )).violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]
