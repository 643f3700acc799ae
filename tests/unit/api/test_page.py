"""The creator page: ``/``, ``/jobs/{id}``, its static assets, their weight and their wiring."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from api.page import STATIC

ClientFactory = Any
BUDGET = 150 * 1024  # the page and every asset it loads (the limit)


def assets_of(html: str) -> list[str]:
    """Every same-origin asset the page loads, following the JS module imports."""
    found = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    queue = [name for name in found if name.endswith(".js")]
    while queue:
        script = (STATIC / queue.pop()[len("/static/") :]).read_text()
        for rel in re.findall(r"from '\./([a-z0-9_-]+\.js)'", script):
            name = f"/static/{rel}"
            if name not in found:
                found.append(name)
                queue.append(name)
    return found


async def test_index_is_the_creator_page(client: TestClient) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    assert '<html lang="en">' in html
    assert 'name="viewport"' in html
    assert "Render &amp; pin" in html
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_job_page_serves_the_same_document(client: TestClient) -> None:
    index = await (await client.get("/")).text()
    response = await client.get(f"/jobs/{'ab' * 16}")
    assert response.status == 200
    assert await response.text() == index


@pytest.mark.parametrize("job_id", ["nope", "AB" * 16, "ab" * 17])
async def test_job_page_for_a_malformed_id_is_404(client: TestClient, job_id: str) -> None:
    response = await client.get(f"/jobs/{job_id}")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_the_page_and_its_assets_stay_under_150_kb(client: TestClient) -> None:
    html = await (await client.get("/")).read()
    assets = assets_of(html.decode())
    assert {"/static/app.css", "/static/app.js", "/static/schema.js"} <= set(assets)
    total = len(html)
    for url in assets:
        response = await client.get(url)
        assert response.status == 200, url
        total += len(await response.read())
    assert total < BUDGET, f"page weight {total} bytes"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.js", "text/javascript"), ("app.css", "text/css"), ("icon.svg", "image/svg+xml")],
)
async def test_static_files_have_their_content_type(
    client: TestClient, name: str, content_type: str
) -> None:
    response = await client.get(f"/static/{name}")
    assert response.status == 200
    assert response.content_type == content_type
    assert response.headers["Cache-Control"] == "no-cache"
    etag = response.headers["ETag"]
    again = await client.get(f"/static/{name}", headers={"If-None-Match": etag})
    assert again.status == 304


@pytest.mark.parametrize("name", ["missing.js", "..%2Fpage.py", ".hidden.js", "page.py"])
async def test_unknown_or_unsafe_static_names_are_404(client: TestClient, name: str) -> None:
    response = await client.get(f"/static/{name}")
    assert response.status == 404


def test_no_third_party_or_inline_code() -> None:
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", html), "inline script"
    assert " style=" not in html
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path.name


def test_every_element_the_script_looks_up_exists() -> None:
    """``$('id')`` in the scripts names an element of index.html (controls are built by id)."""
    html = (STATIC / "index.html").read_text()
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    used: set[str] = set()
    for script in STATIC.glob("*.js"):
        used |= set(re.findall(r"\$\('([a-z0-9-]+)'\)", script.read_text()))
    assert used - ids == set()


def test_every_label_points_at_a_control() -> None:
    html = (STATIC / "index.html").read_text()
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    for target in re.findall(r'<label for="([^"]+)"', html):
        assert target in ids
