"""Hostile input: the OpenAPI document fuzzed with schemathesis; oversized bodies refused early.

The API runs with no worker on topics of its own, so accepted fuzz jobs only queue.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker import free_port
from streams.settings import Settings

from .conftest import ARTIFACTS, _await_ready, _spawn, _stop, create_topics, lantern_env

pytestmark = pytest.mark.integration
TOKEN = "fuzz-operator-token"


@pytest.fixture(scope="module")
def fuzz_api(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        **lantern_env(kafka_bootstrap, f"fuzz{os.getpid()}", port, tmp_path_factory.mktemp("f")),
        "LANTERN_API_ADMIN_TOKEN": TOKEN,
    }
    create_topics(Settings.from_env(env))
    ARTIFACTS.mkdir(exist_ok=True)
    api = _spawn(["api"], env, ARTIFACTS / "fuzz-api.log")
    try:
        _await_ready(api, f"http://127.0.0.1:{port}/readyz", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(api)


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_5xx_and_no_accepted_invalid_request(fuzz_api: str) -> None:
    report = ARTIFACTS / "schemathesis.txt"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"), "run",
            f"{fuzz_api}/api/v1/openapi.json",
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
