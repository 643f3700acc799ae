"""The operator console (/admin) in a real browser against the session's Lantern, whose workers
fail every job of RENDER_FAULT_COLOUR: sign in with the operator token, see the counts and a
failed job, open its detail and its trace, retry it, read the dead letters and the workers; a
wrong token, routes that are off and a broker that is down are said plainly. axe-core finds
nothing serious or critical."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from tests.integration.conftest import ADMIN_TOKEN, RENDER_FAULT_COLOUR, Lantern
from tests.integration.test_pipeline import WALLET

from .conftest import DESKTOP, PHONE, Device
from .test_creator_page import assert_accessible, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def api(lantern: Lantern, method: str, path: str, body: object = None) -> Any:
    request = urllib.request.Request(
        f"{lantern.base_url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def failed_job(lantern: Lantern) -> str:
    """A job the session's workers fail on purpose, once it has failed."""
    body = {
        "settings": {"flowField": {"color1": RENDER_FAULT_COLOUR}},
        "options": {"size": 64, "frames": 4},
        "wallet": WALLET,
    }
    job_id = str(api(lantern, "POST", "/api/v1/mints", body)["job_id"])
    deadline = time.monotonic() + 90
    while api(lantern, "GET", f"/api/v1/jobs/{job_id}/detail")["state"] != "failed":
        assert time.monotonic() < deadline, f"job {job_id} did not fail"
        time.sleep(0.3)
    return job_id


def fits(page: Page) -> None:
    """No horizontal scroll of the page: wide tables scroll inside their own region."""
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"horizontal scroll: {width}"
    sticking_out = page.evaluate(
        """() => [...document.body.querySelectorAll('*')]
            .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5
                         && !e.closest('pre, .scroll'))
            .map(e => `${e.tagName}#${e.id}.${e.className}`)"""
    )
    assert sticking_out == []


def sign_in(page: Page, token: str) -> None:
    page.fill("#token", token)
    page.click("#signin-button")


def text(page: Page, selector: str) -> str:
    return page.text_content(selector) or ""


@pytest.mark.timeout(180)
@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=lambda d: d.name)
def test_sign_in_see_a_failed_job_s_trace_and_retry_it(
    lantern: Lantern, page_for: Any, device: Device
) -> None:
    job_id = failed_job(lantern)
    page, shot, errors = page_for(device)
    page.goto(f"{lantern.base_url}/admin")
    wait_until(page, "() => document.activeElement.id === 'token'")
    assert page.is_hidden("#console")
    shot("sign-in")
    assert_accessible(page)

    # a wrong token: said beside the field, nothing shown
    sign_in(page, "not-the-token")
    wait_until(page, "() => document.getElementById('signin-msg').textContent !== ''")
    assert text(page, "#signin-msg").startswith("wrong token")
    assert page.get_attribute("#token", "aria-invalid") == "true"
    assert page.is_hidden("#console")
    shot("wrong-token")

    sign_in(page, ADMIN_TOKEN)
    page.wait_for_selector(f"#jobs-body button[data-key='{job_id}']")
    assert ADMIN_TOKEN not in page.url
    assert page.evaluate("sessionStorage.getItem('lantern.admin.token')") == ADMIN_TOKEN
    failed = int(text(page, "#counts [data-state=failed] dd"))
    assert failed >= 1
    row = page.locator("#jobs-body tr", has=page.locator(f"button[data-key='{job_id}']"))
    assert "failed" in (row.text_content() or "")
    assert "injected render fault" in (row.text_content() or "")
    # the workers and the dead letters come from the broker: a moment later
    wait_until(page, "() => document.querySelectorAll('#workers-body tr').length > 0")
    assert "mint-requests" in text(page, "#workers-body") and "0–7" in text(page, "#workers-body")
    wait_until(page, f"() => document.getElementById('letters').textContent.includes('{job_id}')")
    assert text(page, "#conn") == "Live: refreshing every 5 s"
    fits(page)
    shot("signed-in")
    assert_accessible(page)

    # only failed jobs
    page.select_option("#state-filter", "failed")
    wait_until(
        page,
        """() => [...document.querySelectorAll('#jobs-body .state')]
                  .every((s) => s.dataset.state === 'failed')""",
    )
    assert page.locator(f"#jobs-body button[data-key='{job_id}']").count() == 1

    # its detail: the request, the timeline, the error and the trace
    page.click(f"#jobs-body button[data-key='{job_id}']")
    wait_until(page, "() => document.getElementById('detail-trace').textContent !== ''")
    assert page.evaluate("document.activeElement.id") == "detail-title"
    assert page.get_attribute(f"#jobs-body button[data-key='{job_id}']", "aria-expanded") == "true"
    assert "Traceback" in text(page, "#detail-trace")
    assert "InjectedFault" in text(page, "#detail-trace")
    assert "injected render fault" in text(page, "#detail-error")
    assert RENDER_FAULT_COLOUR in text(page, "#detail-request")
    assert page.locator("#detail-timeline li").count() >= 3
    assert page.is_visible("#detail-retry") and page.is_hidden("#detail-cancel")
    # the first dead letter, expanded: its payload and trace
    page.click("#letters li:first-child summary")
    assert page.locator("#letters li:first-child details pre").count() >= 1
    fits(page)
    shot("detail-and-trace")
    assert_accessible(page)

    # retry, confirmed in a dialog; the outcome is said in the live region
    page.click("#detail-retry")
    page.wait_for_selector("#confirm[open]")
    assert page.evaluate("document.activeElement.id") == "confirm-cancel"
    shot("confirm-retry")
    page.click("#confirm-ok")
    wait_until(page, "() => document.getElementById('detail-said').textContent.includes('queued')")
    assert text(page, "#detail-said") == f"Job {job_id} is queued again."
    assert page.get_attribute("#detail-said", "aria-live") == "polite"
    # the console follows the job: retried once, and (the fault is still there) failed again
    wait_until(
        page,
        """() => { const t = document.getElementById('detail-facts').textContent;
                   return t.includes('Operator retries1') && t.includes('Statefailed'); }""",
        timeout=90,
    )
    shot("retried")
    assert api(lantern, "GET", f"/api/v1/jobs/{job_id}/detail")["retries"] == 1

    # signing out forgets the token
    page.click("#sign-out")
    assert page.is_visible("#signin") and page.is_hidden("#console")
    assert page.evaluate("sessionStorage.getItem('lantern.admin.token')") is None
    assert errors == []


@pytest.mark.timeout(120)
def test_routes_off_and_a_broker_down_are_said_plainly(lantern: Lantern, page_for: Any) -> None:
    """403 (no token configured) and 503 (the broker), faked at the network layer."""
    page, shot, errors = page_for(DESKTOP)
    off = {"error": {"code": "forbidden", "message": "operator routes are off"}}
    listing = re.compile(r"/api/v1/jobs\?")
    page.route(listing, lambda route: route.fulfill(status=403, json=off))
    page.goto(f"{lantern.base_url}/admin")
    sign_in(page, ADMIN_TOKEN)
    wait_until(page, "() => document.getElementById('signin-msg').textContent !== ''")
    assert text(page, "#signin-msg") == "operator routes are off: set LANTERN_API_ADMIN_TOKEN"
    shot("routes-off")
    page.unroute(listing)

    down = {"error": {"code": "unavailable", "message": "the broker did not answer"}}

    def broker_down(route: Route) -> None:
        route.fulfill(status=503, headers={"Retry-After": "5"}, json=down)

    page.route("**/api/v1/dead-letters*", broker_down)
    page.route("**/api/v1/workers", broker_down)
    sign_in(page, ADMIN_TOKEN)
    page.wait_for_selector("#jobs-body tr")
    wait_until(
        page, "() => document.getElementById('conn').textContent.startsWith('broker unavailable')"
    )
    assert text(page, "#conn") == "broker unavailable, retrying"
    assert text(page, "#letters-status") == "broker unavailable, retrying"
    assert text(page, "#workers-status") == "broker unavailable, retrying"
    shot("broker-down")
    # the broker is back: the next refresh (every 5 s) says so
    page.unroute("**/api/v1/dead-letters*")
    page.unroute("**/api/v1/workers")
    wait_until(
        page, "() => document.getElementById('conn').textContent.startsWith('Live')", timeout=15
    )
    assert text(page, "#workers-status").startswith("Group ")
    assert_accessible(page)
    assert errors == []


@pytest.mark.timeout(120)
def test_bulk_actions_ask_first_and_say_what_they_did(lantern: Lantern, page_for: Any) -> None:
    """Retry all failed and purge, answered at the network layer (the session's stack is shared:
    its jobs stay as they are): nothing is sent unless confirmed, and the answer is said."""
    page, shot, errors = page_for(DESKTOP)
    sent: list[str] = []

    def answer(body: dict[str, Any]) -> Any:
        def fulfil(route: Route) -> None:
            sent.append(route.request.url.removeprefix(lantern.base_url))
            route.fulfill(status=202, json=body)

        return fulfil

    page.route(
        "**/api/v1/jobs/retry-failed", answer({"retried": ["a" * 32], "skipped": ["b" * 32]})
    )
    page.route("**/api/v1/jobs/purge?*", answer({"purged": ["c" * 32, "d" * 32]}))
    page.goto(f"{lantern.base_url}/admin")
    sign_in(page, ADMIN_TOKEN)
    page.wait_for_selector("#console:not([hidden])")

    # asked, and turned down twice (the Cancel button, then Escape): nothing is sent
    page.click("#retry-failed")
    page.wait_for_selector("#confirm[open]")
    assert text(page, "#confirm-title") == "Retry all failed?"
    page.click("#confirm-cancel")
    page.click("#retry-failed")
    page.wait_for_selector("#confirm[open]")
    page.keyboard.press("Escape")
    assert page.is_hidden("#confirm") and sent == []

    page.click("#retry-failed")
    page.click("#confirm-ok")
    wait_until(
        page, "() => document.getElementById('action-result').textContent.startsWith('Retried')"
    )
    assert text(page, "#action-result") == (
        f"Retried 1 job; skipped 1 job without a stored request: {'b' * 32}."
    )

    page.fill("#purge-hours", "-1")
    page.click("#purge")
    assert text(page, "#action-result") == "Purge: give a number of hours, 0 or more."
    assert page.get_attribute("#purge-hours", "aria-invalid") == "true"
    page.fill("#purge-hours", "2")
    page.press("#purge-hours", "Enter")
    page.wait_for_selector("#confirm[open]")
    assert "more than 2 h ago" in text(page, "#confirm-text")
    shot("confirm-purge")
    page.click("#confirm-ok")
    wait_until(
        page, "() => document.getElementById('action-result').textContent.startsWith('Purged')"
    )
    assert text(page, "#action-result") == "Purged 2 jobs."
    assert sent == ["/api/v1/jobs/retry-failed", "/api/v1/jobs/purge?older_than_s=7200"]
    shot("purged")
    assert_accessible(page)
    assert errors == []
