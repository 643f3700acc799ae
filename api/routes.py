"""The route table."""

from __future__ import annotations

from aiohttp import web

from . import admin, events, mint, page, views
from .observe import metrics
from .openapi import openapi
from .preview import Previews

__all__ = ["setup_routes"]


def setup_routes(app: web.Application) -> None:
    """Every route the API serves."""
    app.router.add_get("/", page.index)
    app.router.add_get("/jobs/{job_id}", page.job_page)
    app.router.add_get("/admin", page.admin_page)
    app.router.add_get("/static/{name}", page.static_file)
    app.router.add_get("/api/v1/preview.png", Previews().get)
    app.router.add_get("/api/v1/jobs/{job_id}/events", events.job_events)
    app.router.add_post("/api/v1/mints", views.submit_mint)
    app.router.add_get("/api/v1/jobs/{job_id}", views.get_job)
    app.router.add_get("/api/v1/jobs/{job_id}/mint-tx", mint.mint_tx)
    app.router.add_get("/api/v1/chain", mint.chain_info)
    app.router.add_post("/api/gen1/queue-mint", views.legacy_queue_mint)
    app.router.add_get("/api/gen1/job-status", views.legacy_job_status)
    app.router.add_get("/ipfs/{cid}", views.get_content)
    app.router.add_get("/healthz", views.healthz)
    app.router.add_get("/readyz", views.readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/jobs", admin.list_jobs)
    app.router.add_post("/api/v1/jobs/retry-failed", admin.retry_failed)
    app.router.add_post("/api/v1/jobs/purge", admin.purge_jobs)
    app.router.add_get("/api/v1/jobs/{job_id}/detail", admin.job_detail)
    app.router.add_post("/api/v1/jobs/{job_id}/retry", admin.retry_job)
    app.router.add_post("/api/v1/jobs/{job_id}/cancel", admin.cancel_job)
    app.router.add_get("/api/v1/workers", admin.workers)
    app.router.add_get("/api/v1/dead-letters", admin.dead_letters)
