"""What `lantern replay` chooses and how it names its jobs: minted tokens from the jobs that
minted them (never from replays), overrides merged over the original settings and checked,
ids that repeat for the same replay and differ for another, times in both spellings."""

from __future__ import annotations

from typing import Any

import pytest

from lantern.replay import Target, parse_time, replay_id, select
from render.errors import LanternError


def job(job_id: str, state: str = "minted", token: int | None = None, **request: Any) -> dict:
    found: dict[str, Any] = {
        "job_id": job_id, "state": state, "wallet": "0x" + "1" * 40,
        "request": {"settings": {"flowField": {"color1": "#112233", "color2": "#445566"}},
                    "options": {"size": 64, "frames": 4}, "wallet": "0x" + "1" * 40, **request},
    }  # fmt: skip
    if token is not None:
        found["token"] = {"token_id": token}
    return found


JOBS = {
    "a": job("a", token=2),
    "b": job("b", token=1),
    "c": job("c", state="completed"),
    "r": job("r", token=1, replay_of="b"),  # a replay of token 1: never a target itself
}


def test_all_minted_tokens_come_from_the_jobs_that_minted_them_in_token_order() -> None:
    assert [t.job_id for t in select(JOBS, all_minted=True)] == ["b", "a"]


def test_named_tokens_and_unknown_ones() -> None:
    assert [t.token_id for t in select(JOBS, tokens=[2])] == [2]
    with pytest.raises(LanternError, match="no minted job for token"):
        select(JOBS, tokens=[2, 9])


def test_overrides_merge_over_the_original_settings_and_are_checked() -> None:
    (target,) = select(
        JOBS, overrides=[{"token_id": 2, "settings": {"flowField": {"color1": "#000000"}}}]
    )
    assert target.settings["flowField"] == {"color1": "#000000", "color2": "#445566"}
    with pytest.raises(LanternError, match="invalid"):
        select(JOBS, overrides=[{"token_id": 2, "settings": {"flowField": {"color1": "red"}}}])


def test_jobs_of_a_time_range_include_unminted_ones_but_no_replays() -> None:
    assert {t.job_id for t in select(JOBS, job_ids=["c", "r", "zz"])} == {"c"}


def test_the_same_replay_gives_the_same_ids_and_another_other_ones() -> None:
    target = Target(JOBS["a"], JOBS["a"]["request"]["settings"], {"size": 64, "frames": 4})
    assert replay_id(target, "v2") == replay_id(target, "v2")
    assert replay_id(target, "v2") != replay_id(target, "v3")
    other = Target(JOBS["a"], {"flowField": {"color1": "#000000"}}, target.options)
    assert replay_id(other, "v2") != replay_id(target, "v2")


def test_times_in_iso_8601_or_seconds() -> None:
    assert parse_time("1700000000") == 1_700_000_000
    assert parse_time("2023-11-14T22:13:20+00:00") == 1_700_000_000
    with pytest.raises(LanternError, match="is not a time"):
        parse_time("yesterday")


def test_options_such_as_the_browser_raster_apply_to_every_target() -> None:
    (target,) = select(JOBS, tokens=[2], options={"raster": "browser", "timing": "legacy"})
    assert target.options == {"size": 64, "frames": 4, "raster": "browser", "timing": "legacy"}
    plain = select(JOBS, tokens=[2])[0]
    assert replay_id(target, "v") != replay_id(plain, "v")
    with pytest.raises(LanternError, match="options are invalid"):
        select(JOBS, tokens=[2], options={"raster": "skia"})
