"""Hostile input: the OpenAPI document fuzzed with schemathesis; oversized bodies refused early.

The API runs with no worker on topics of its own, so accepted fuzz jobs only queue. Every
operation of the document is fuzzed, the page, the preview and the event stream included:

- an event stream of a queued job never ends (no worker moves it): the run reads one event and
  closes it (``max-stream-events``), while a random job id is 404 at once;
- the preview's per-client render rate is off, or its 429s would stand in for the answers the
  checks are about; renders stay bounded by the preview's slots and queue (429 documented).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lantern.settings import Settings
from streams.broker import free_port

from .conftest import (
    ARTIFACTS,
    LocalChain,
    _await_ready,
    _spawn,
    _stop,
    create_topics,
    lantern_env,
)

pytestmark = pytest.mark.integration
TOKEN = "fuzz-operator-token"


# schemathesis.toml of the run: an event stream is read up to its first event (the job as it
# stands); the per-request timeout stays the backstop for anything else that hangs
SCHEMATHESIS_CONFIG = """
[[operations]]
include-path = "/api/v1/jobs/{job_id}/events"
max-stream-events = 1
"""


@pytest.fixture(scope="module")
def fuzz_api(
    kafka_bootstrap: str, local_chain: LocalChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    port = free_port()
    env = {
        **lantern_env(kafka_bootstrap, f"fuzz{os.getpid()}", port, tmp_path_factory.mktemp("f")),
        "LANTERN_API_ADMIN_TOKEN": TOKEN,
        # one client makes every request: no per-client cap may answer for the checks
        "LANTERN_API_PREVIEW_RATE_PER_MIN": "0",
        "LANTERN_API_EVENT_STREAMS_PER_CLIENT": "1000",
        "LANTERN_API_TARPIT_AFTER": "0",
        **local_chain.deploy(),  # the mint routes answer from a real chain
    }
    create_topics(Settings.from_env(env))
    ARTIFACTS.mkdir(exist_ok=True)
    api = _spawn(["api"], env, ARTIFACTS / "fuzz-api.log")
    try:
        _await_ready(api, f"http://127.0.0.1:{port}/readyz", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(api)


def operations(base_url: str) -> int:
    """How many operations the served document has."""
    with urllib.request.urlopen(f"{base_url}/api/v1/openapi.json", timeout=10) as response:
        paths = json.load(response)["paths"]
    return sum(len(item) for item in paths.values())


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_5xx_and_no_accepted_invalid_request(
    fuzz_api: str, tmp_path: Path
) -> None:
    report = ARTIFACTS / "schemathesis.txt"
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    total = operations(fuzz_api)
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run",
            f"{fuzz_api}/api/v1/openapi.json",
            # the route serving the document is left out unless a filter names it
            "--include-path-regex", "^/",
            "--checks", "not_a_server_error,negative_data_rejection,status_code_conformance,"
            "ignored_auth",
            "--max-examples", "60",
            "--seed", "20261128",
            "--header", f"Authorization: Bearer {TOKEN}",
            "--request-timeout", "20",
        ],
        capture_output=True, text=True, timeout=540, check=False,
    )  # fmt: skip
    report.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-6000:]
    # every operation of the document was reached, the page, preview and event stream included
    assert f"Selected: {total}/{total}" in done.stdout, done.stdout[-3000:]
    assert f"Tested: {total}" in done.stdout, done.stdout[-3000:]


def test_an_oversized_body_gets_413_without_being_sent_whole(fuzz_api: str) -> None:
    host, port = fuzz_api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # announce 50 MB, send a few bytes: the answer must come without waiting for the rest
        sock.sendall(
            b"POST /api/v1/mints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 50000000\r\n\r\n{"settings": '
        )
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413"), answer


def test_a_chunked_oversized_body_gets_413(fuzz_api: str) -> None:
    host, port = fuzz_api.removeprefix("http://").split(":")
    chunk = b"x" * 70_000
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/mints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        )
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413"), answer
