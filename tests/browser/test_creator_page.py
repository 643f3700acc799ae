"""The creator page in a real browser against a real Lantern (broker, worker, API processes).

Desktop 1280×800 and phone 390×844 with touch: tune two settings and see the preview change,
render & pin, watch the bar reach 100 % (reloading mid-render on the way), decode the GIF, and
see invalid input explained next to its control. axe-core finds nothing serious or critical.
"""

from __future__ import annotations

import io
import json
import re
import time
import urllib.request
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, Route

from tests.integration.conftest import RENDER_FAULT_COLOUR, Lantern

from .conftest import DESKTOP, PHONE, SMALL_PHONE, Device, axe_violations

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# Every change of the progress bar, recorded in the page itself (survives nothing: per load).
RECORD_PROGRESS = """
window.__seen = [];
document.addEventListener('DOMContentLoaded', () => {
  const bar = document.getElementById('bar');
  new MutationObserver(() => window.__seen.push(
    [bar.dataset.state, Number(bar.getAttribute('aria-valuenow'))]
  )).observe(bar, {attributes: true, attributeFilter: ['aria-valuenow', 'data-state']});
});
"""
BAD_CHECKSUM = "0x52908400098527886e0F7030069857D2E4169EE7"  # one letter's case flipped


def wait_until(page: Page, js: str, arg: Any = None, timeout: float = 30) -> Any:
    """Poll a JS function until it returns something truthy.

    Playwright's wait_for_function evaluates its predicate with eval(), which the page's CSP
    (script-src 'self') rightly forbids; page.evaluate goes over the DevTools protocol instead.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(js, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout}s: {js}")
        page.wait_for_timeout(100)


def press(page: Page, device: Device, selector: str) -> None:
    """Tap on a touch device, click elsewhere."""
    if device.touch:
        page.tap(selector)
    else:
        page.click(selector)


def preview_key(page: Page) -> str:
    return str(page.get_attribute("#preview", "data-key") or "")


def wait_preview_settled(page: Page, not_key: str = "") -> str:
    wait_until(
        page,
        """k => { const img = document.getElementById('preview');
                  return img.dataset.key && img.dataset.key !== k && img.complete
                      && !img.closest('.frame').classList.contains('busy'); }""",
        arg=not_key,
    )
    return preview_key(page)


def no_horizontal_scroll(page: Page) -> None:
    """Nothing is wider than the viewport (body's overflow-x: hidden must not be hiding any)."""
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"horizontal scroll: {width}"
    sticking_out = page.evaluate(
        """() => [...document.body.querySelectorAll('*')]
            .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5 && !e.closest('pre'))
            .map(e => `${e.tagName}#${e.id}.${e.className}`)"""
    )
    assert sticking_out == []


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert violations == [], json.dumps(violations, indent=1)


def job_status(lantern: Lantern, job_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{lantern.base_url}/api/v1/jobs/{job_id}", timeout=5) as r:
        result: dict[str, Any] = json.load(r)
        return result


@pytest.mark.timeout(300)
@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=lambda d: d.name)
def test_tune_render_and_get_the_gif(lantern: Lantern, page_for: Any, device: Device) -> None:
    page, shot, errors = page_for(device)
    page.add_init_script(RECORD_PROGRESS)
    page.goto(f"{lantern.base_url}/")
    first_key = wait_preview_settled(page)
    no_horizontal_scroll(page)
    shot("loaded")
    assert_accessible(page)
    before = page.locator("#preview").screenshot()
    # prefers-reduced-motion (the phone's setting): a still preview unless the user asks
    reduced = device.context.get("reduced_motion") == "reduce"
    assert page.get_attribute("#animate", "aria-pressed") == str(not reduced).lower()

    # two settings: the line density slider and the contour layer's toggle
    density = "#flowFields-lineDensity"
    if device.touch:
        box = page.locator(density).bounding_box()
        assert box is not None
        page.locator(density).scroll_into_view_if_needed()
        page.tap(density, position={"x": box["width"] * 0.6, "y": box["height"] / 2})
    else:
        page.focus(density)
        for _ in range(10):
            page.keyboard.press("ArrowRight")
    assert page.input_value(density) != "0.1"
    assert (
        page.text_content("#flowFields-lineDensity-out")
        == f"{float(page.input_value(density)):.2f}"
    )
    press(page, device, "label[for=contour-enabled]")
    assert not page.is_checked("#contour-enabled")

    changed_key = wait_preview_settled(page, first_key)
    assert changed_key != first_key
    assert page.locator("#preview").screenshot() != before
    shot("settings-changed")

    # render & pin
    press(page, device, "#submit")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    job_id = page.url.rsplit("/", 1)[1]
    assert page.text_content("#job-id") == job_id

    # mid-render: the bar shows frames, then a reload resumes from where the job is
    wait_until(
        page,
        """() => { const b = document.getElementById('bar');
                   return b.dataset.state !== 'queued'
                       && Number(b.getAttribute('aria-valuenow')) > 1; }""",
    )
    progress_before = int(page.get_attribute("#bar", "aria-valuenow") or 0)
    stage_before = page.text_content("#stage") or ""
    shot("rendering")
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith(job_id) else None)
    if device.touch:
        # the phone also loses its event stream for good (a buffering proxy, a flaky network):
        # the page must carry on by polling every 2 s
        page.route("**/events", lambda route: route.abort())
    page.reload()
    wait_until(
        page,
        """p => { const b = document.getElementById('bar');
                  return b.dataset.state !== 'queued'
                      && Number(b.getAttribute('aria-valuenow')) >= p; }""",
        arg=progress_before,
    )
    assert page.url.endswith(f"/jobs/{job_id}")
    assert page.text_content("#job-id") == job_id
    shot("resumed-after-reload")
    assert progress_before < 100, "the job finished before the page could watch it"
    assert stage_before.startswith(("Rendering", "Encoding", "Pinning")), stage_before

    wait_until(
        page,
        "() => document.getElementById('bar').getAttribute('aria-valuenow') === '100'",
        timeout=180,
    )
    wait_until(
        page,
        "() => { const g = document.getElementById('gif');"
        " return g.complete && g.naturalWidth > 0; }",
    )
    wait_until(page, "() => document.getElementById('meta').textContent.includes('ipfs://')")
    assert page.text_content("#stage") == "Done — pinned"
    if device.touch:
        assert len(polls) >= 2, polls  # followed by polling alone
    seen = page.evaluate("window.__seen")
    assert seen[-1] == ["completed", 100]
    assert any(0 < value < 100 for _, value in seen), seen  # a real bar, not a jump to 100
    no_horizontal_scroll(page)
    page.wait_for_timeout(500)  # the bar's width transition
    shot("done")

    # the result: the page's CIDs are the job's, and the GIF decodes to 100 frames
    result = job_status(lantern, job_id)["result"]
    cids = page.text_content("#cids") or ""
    assert result["gif_cid"] in cids and result["metadata_cid"] in cids
    assert page.locator("#cids button.copy").count() == 3
    meta = json.loads(page.text_content("#meta") or "{}")
    assert meta["image"] == f"ipfs://{result['gif_cid']}"
    src = page.get_attribute("#gif", "src")
    assert src == f"/ipfs/{result['gif_cid']}"
    with urllib.request.urlopen(f"{lantern.base_url}{src}", timeout=10) as r:
        gif = Image.open(io.BytesIO(r.read()))
    assert gif.format == "GIF"
    assert gif.n_frames == 100
    assert gif.size == (512, 512)
    assert_accessible(page)
    assert errors == []


@pytest.mark.timeout(120)
@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=lambda d: d.name)
def test_invalid_input_is_explained_next_to_its_control(
    lantern: Lantern, page_for: Any, device: Device
) -> None:
    page, shot, errors = page_for(device)
    page.goto(f"{lantern.base_url}/")
    wait_preview_settled(page)

    # a wallet with a broken checksum: caught in the page, nothing is sent
    page.fill("#wallet", BAD_CHECKSUM)
    assert "checksum" in (page.text_content("#wallet-err") or "")
    assert page.get_attribute("#wallet", "aria-invalid") == "true"
    press(page, device, "#submit")
    page.wait_for_selector("#summary:not([hidden])")
    assert "/jobs/" not in page.url
    shot("bad-wallet")
    page.fill("#wallet", BAD_CHECKSUM.lower())  # all lower case is fine: it gets checksummed
    assert (page.text_content("#wallet-err") or "") == ""
    assert "0x52908400098527886E0F7030069857D2E4169EE7" in (page.text_content("#wallet-hint") or "")

    # imported settings (the original's dialect) with a value out of range: the server says
    # which, and the page says it beside the slider
    press(page, device, "details:has(#json) > summary")
    page.fill("#json", json.dumps({"flowFields": {"lineDensity": 0.9, "baseFreq": 0.02}}))
    press(page, device, "#apply-json")
    wait_until(
        page,
        "() => document.getElementById('flowFields-lineDensity-err')"
        ".textContent.includes('between')",
    )
    assert "Line density must be between 0.01 and 0.5" in (
        page.text_content("#flowFields-lineDensity-err") or ""
    )
    assert page.input_value("#flowFields-baseFrequency") == "0.02"

    # and a frame count the server refuses, sent for real
    press(page, device, "details:has(#options-frames) > summary")
    page.fill("#options-frames", "5000")
    page.press("#options-frames", "Enter")  # "Go" on a phone's keyboard submits the form
    wait_until(page, "() => document.getElementById('options-frames-err').textContent !== ''")
    assert "between 1 and 1000" in (page.text_content("#options-frames-err") or "")
    summary = page.text_content("#summary") or ""
    assert "2 fields need attention" in summary and "Line density" in summary
    assert "/jobs/" not in page.url
    no_horizontal_scroll(page)
    page.locator("#flowFields-lineDensity-err").scroll_into_view_if_needed()
    shot("server-says-why")
    assert_accessible(page)
    assert errors == []


@pytest.mark.timeout(120)
def test_busy_unavailable_and_failed_are_said_plainly(lantern: Lantern, page_for: Any) -> None:
    """429 and 503 (faked at the network layer), then a job that really fails in the worker."""
    page, shot, errors = page_for(DESKTOP)
    page.goto(f"{lantern.base_url}/")
    wait_preview_settled(page)
    # the session's workers fail every frame of a job with this colour (tests/integration)
    page.fill("#flowField-color1", RENDER_FAULT_COLOUR)
    wait_preview_settled(page, preview_key(page))
    busy = "too many submissions for this wallet; retry in 3s"
    answers: list[tuple[int, dict[str, str], dict[str, Any]]] = [
        (429, {"Retry-After": "3"}, {"error": {"code": "rate_limited", "message": busy}}),
        (503, {"Retry-After": "1"}, {"error": {"code": "unavailable", "message": "queue down"}}),
    ]

    def mint(route: Route) -> None:
        if answers:
            status, headers, body = answers.pop(0)
            route.fulfill(status=status, headers=headers, json=body)
        else:
            route.continue_()  # the real API from here on

    page.route("**/api/v1/mints", mint)
    page.click("#submit")
    wait_until(
        page, "() => document.getElementById('submit-msg').textContent.includes('Try again in')"
    )
    said = page.text_content("#submit-msg") or ""
    assert said.startswith("Not now: too many submissions for this wallet. Try again in"), said
    assert page.is_disabled("#submit")
    shot("too-many-requests")
    page.wait_for_selector("#submit-msg button", timeout=10_000)  # after the wait: retry
    page.click("#submit-msg button")
    wait_until(
        page, "() => document.getElementById('submit-msg').textContent.includes('queue down')"
    )
    shot("unavailable")
    page.click("#submit-msg button")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    job_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#job-error:not([hidden])", timeout=90_000)
    reason = job_status(lantern, job_id)["error"]
    assert reason and reason in (page.text_content("#job-error") or "")
    assert page.get_attribute("#bar", "data-state") == "failed"
    assert page.text_content("#stage") == "Failed"
    assert page.locator("#job-error button", has_text="Retry").count() == 1
    shot("failed-job")
    assert_accessible(page)
    assert errors == []


def test_one_handed_at_360_by_640(lantern: Lantern, page_for: Any) -> None:
    page, shot, errors = page_for(SMALL_PHONE)
    page.goto(f"{lantern.base_url}/")
    wait_preview_settled(page)
    no_horizontal_scroll(page)
    # the main button is on screen from the start, at the bottom, full width
    box = page.locator("#submit").bounding_box()
    assert box is not None and box["y"] + box["height"] <= 640 and box["height"] >= 44
    # every control is at least 44 px tall; a checkbox's target is its whole labelled row
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, input, select, summary, .button')]
            .filter(e => e.offsetParent && !e.classList.contains('vh'))
            .map(e => [e.id || e.textContent.trim(),
                       (e.type === 'checkbox' ? e.closest('.check') : e)
                           .getBoundingClientRect().height])
            .filter(([, h]) => h < 44)"""
    )
    assert small == [], small
    shot("360x640")
    assert errors == []


def test_keyboard_only(lantern: Lantern, page_for: Any) -> None:
    page, _, errors = page_for(DESKTOP)
    page.goto(f"{lantern.base_url}/")
    wait_preview_settled(page)
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "flowFields-lineLength":
            break
    else:
        pytest.fail("Tab never reached the line length slider")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("ArrowRight")
    assert page.text_content("#flowFields-lineLength-out") == "21 px"
    # a layer toggle with the space bar, the randomise button with Enter
    page.focus("#contour-enabled")
    page.keyboard.press("Space")
    assert not page.is_checked("#contour-enabled")
    key = preview_key(page)
    page.focus("#randomise")
    page.keyboard.press("Enter")
    wait_preview_settled(page, key)
    assert errors == []
