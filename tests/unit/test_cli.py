"""The `lantern` command as a user runs it: help, render to a file, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]


def lantern(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lantern", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", ["up", "worker", "api", "render"])
def test_every_command_has_help(command: str) -> None:
    done = lantern(command, "--help")
    assert done.returncode == 0
    assert f"usage: lantern {command}" in done.stdout


def test_top_level_help_lists_commands_and_variables() -> None:
    done = lantern("--help")
    assert done.returncode == 0
    for word in ("up", "worker", "api", "render", "LANTERN_KAFKA_BOOTSTRAP"):
        assert word in done.stdout


def test_render_writes_a_gif_with_progress(tmp_path: Path) -> None:
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({"flowField": {"color1": "#ff0000"}}))
    out = tmp_path / "art.gif"
    done = lantern(
        "render", "--settings", str(settings), "--out", str(out), "--size", "64", "--frames", "6"
    )
    assert done.returncode == 0, done.stderr
    assert "rendering 6/6 frames" in done.stderr
    with Image.open(out) as image:
        assert (image.n_frames, image.size, image.info["duration"]) == (6, (64, 64), 30)


def test_render_refuses_bad_settings_without_a_traceback(tmp_path: Path) -> None:
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({"contour": {"levels": 99}}))
    done = lantern("render", "--settings", str(settings), "--out", str(tmp_path / "x.gif"))
    assert done.returncode == 2
    assert "contour.levels" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.gif").exists()


def test_worker_without_a_broker_address_says_so() -> None:
    env = {"PATH": "/usr/bin:/bin", "LANTERN_KAFKA_BOOTSTRAP": ""}
    done = lantern("worker", env=env)
    assert done.returncode == 1
    assert "LANTERN_KAFKA_BOOTSTRAP is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_environment_value_is_named() -> None:
    done = lantern("api", env={"PATH": "/usr/bin:/bin", "LANTERN_API_PORT": "http"})
    assert done.returncode == 2
    assert "LANTERN_API_PORT='http'" in done.stderr
