"""Lantern's own processes: start ``python -m lantern <command>`` and stop them cleanly.

``lantern up`` starts its workers and API this way; the tests and benchmarks do too, so every
child runs the same entry point with the same signal handling.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["Service", "free_port", "spawn", "stop"]

ROOT = Path(__file__).resolve().parent.parent


def spawn(
    args: Sequence[str],
    env: Mapping[str, str],
    log_path: Path | None = None,
    cwd: Path = ROOT,
) -> subprocess.Popen[bytes]:
    """``lantern *args`` in a session of its own, its output to ``log_path`` (else inherited),
    working in ``cwd`` (the checkout, unless a drill gives each process a folder of its own)."""
    command = [sys.executable, "-m", "lantern", *args]
    if log_path is None:
        return subprocess.Popen(command, env=dict(env), cwd=cwd, start_new_session=True)
    with log_path.open("wb") as out:
        return subprocess.Popen(
            command,
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    """SIGTERM each (the last first: start the API after the workers, it stops first), then
    wait for all of them together; SIGKILL whatever is still running after ``timeout``."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in reversed(procs):
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port(preferred: int = 0, host: str = "127.0.0.1") -> int:
    """``preferred`` when it can be bound, else a port the OS picks."""
    for candidate in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free TCP port")  # pragma: no cover - the OS always has one


class Service(contextlib.AbstractContextManager[str]):
    """A server Lantern runs as a child (the Kafka broker or cluster, the local chain):
    ``with service as address:`` starts it and stops it."""

    @abstractmethod
    def start(self, timeout: float = 90.0) -> str:
        """Start and wait until clients can connect; the address they use."""

    @abstractmethod
    def stop(self) -> None:
        """Stop, losing nothing written."""

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
