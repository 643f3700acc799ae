"""What a user is told when a job fails: a plain reason, never the exception's own text."""

from __future__ import annotations

from typing import Any

from api.views import public_job
from lantern.contract import StatusEvent
from pinning.errors import PinServiceError, PinTooLarge
from render.errors import FieldError, RenderError, SettingsError
from streams.errors import public_reason
from streams.status import fold


def test_a_gif_over_the_pin_limit_says_what_to_change() -> None:
    reason = public_reason("pin", PinTooLarge("QmX", 150 * 1024 * 1024, 100 * 1024 * 1024))
    assert reason == (
        "the GIF is 150 MB, over the 100 MB this service can pin: use fewer frames or a "
        "smaller size"
    )


def test_invalid_settings_name_the_users_own_field() -> None:
    exc = SettingsError([FieldError("flowFields.lineDensity", "must be at most 0.5")])
    assert "flowFields.lineDensity" in public_reason("split", exc)


def test_anything_else_says_only_which_step_failed() -> None:
    secret = "/srv/lantern/render/art.py line 12: token=abc123"
    for stage, exc in (
        ("render", RenderError(secret)),
        ("pin", PinServiceError("pinata", secret, 401)),
        ("assemble", OSError(secret)),
    ):
        reason = public_reason(stage, exc)
        assert secret not in reason and "abc123" not in reason
        assert reason.endswith("the operators have the details")
    assert public_reason("render", RenderError(secret)).startswith("the artwork could not")


def _failed(**extra: Any) -> dict[str, Any]:
    queued = StatusEvent(job_id="a" * 32, state="queued", progress=0)
    failed = StatusEvent(
        job_id="a" * 32, state="failed", progress=0, stage="pin",
        error="PinServiceError: HTTP 401 from https://pin.example: Invalid credentials", **extra,
    )  # fmt: skip
    status = fold(fold(None, queued), failed)
    assert status is not None
    return dict(status.asdict())


def test_the_public_job_shows_the_plain_reason_and_operators_keep_the_full_one() -> None:
    job = _failed(reason="the artwork could not be stored on IPFS; the operators have the details")
    assert "HTTP 401" in job["error"]  # kept in the status table for the operator routes
    shown = public_job(job)
    assert shown["error"] == job["reason"]
    assert "401" not in str(shown) and "pin.example" not in str(shown)


def test_a_failure_without_a_plain_reason_shows_nothing_of_the_full_one() -> None:
    shown = public_job(_failed())  # an event written before reasons existed
    assert shown["error"] == "the job failed"
