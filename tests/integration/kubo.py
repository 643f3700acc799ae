"""A real IPFS node for the integration tests: Kubo, as `make kubo` builds it into .lantern/kubo/.

The node has a repo of its own (``ipfs init --profile=test``: no bootstrap peers, no mDNS), its
RPC API and HTTP gateway on free 127.0.0.1 ports, and runs ``ipfs daemon --offline``: no swarm,
no network, nothing fetched or announced. Its log lands in test-artifacts/kubo.log.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lantern.processes import stop
from streams.broker import free_port

__all__ = ["KUBO_BIN", "KuboNode", "kubo_node", "start_kubo"]

ROOT = Path(__file__).resolve().parents[2]
KUBO_BIN = ROOT / ".lantern/kubo/ipfs"


@dataclasses.dataclass(frozen=True)
class KuboNode:
    """A running node: where its repo is and where it answers."""

    repo: Path
    rpc_url: str  # http://127.0.0.1:<port>, the RPC API (LANTERN_PIN_URL)
    gateway_url: str  # http://127.0.0.1:<port>, the HTTP gateway (/ipfs/<cid>)
    log_path: Path

    def rpc(self, command: str, **params: str) -> object:
        """``POST /api/v0/<command>``; its JSON answer."""
        query = urllib.parse.urlencode(params)
        url = f"{self.rpc_url}/api/v0/{command}" + (f"?{query}" if query else "")
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10) as r:
            return json.loads(r.read() or b"null")


def _ipfs(repo: Path, *args: str) -> str:
    """One ``ipfs`` command on ``repo`` (not through a daemon); its output."""
    done = subprocess.run(
        [str(KUBO_BIN), *args], env=_env(repo), capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"ipfs {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def _env(repo: Path) -> dict[str, str]:
    return {**os.environ, "IPFS_PATH": str(repo), "IPFS_TELEMETRY": "off"}


def start_kubo(repo: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], KuboNode]:
    """Initialise ``repo`` and start its daemon; returns once the RPC answers."""
    if not KUBO_BIN.is_file():
        raise RuntimeError(f"Kubo missing at {KUBO_BIN}: run `make kubo`")
    _ipfs(repo, "init", "--profile=test", "--empty-repo")
    _ipfs(repo, "config", "--json", "Addresses.Swarm", "[]")
    for attempt in range(3):  # a free port may be taken before the daemon binds it
        api, gateway = free_port(), free_port()
        _ipfs(repo, "config", "Addresses.API", f"/ip4/127.0.0.1/tcp/{api}")
        _ipfs(repo, "config", "Addresses.Gateway", f"/ip4/127.0.0.1/tcp/{gateway}")
        node = KuboNode(repo, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{gateway}", log_path)
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                [str(KUBO_BIN), "daemon", "--offline"],
                env=_env(repo),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _await_rpc(proc, node, timeout=30)
        except RuntimeError:
            if attempt == 2:
                raise
            continue
        except BaseException:
            stop([proc])
            raise
        return proc, node
    raise AssertionError("unreachable")


def _await_rpc(proc: subprocess.Popen[bytes], node: KuboNode, timeout: float) -> None:
    """Until ``POST /api/v0/id`` answers; RuntimeError if the daemon exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = node.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"ipfs daemon exited with {proc.returncode}:\n{log}")
        try:
            node.rpc("id")
            return
        except OSError:  # URLError included: not listening yet
            time.sleep(0.1)
    raise TimeoutError(f"ipfs daemon not answering in {timeout}s; see {node.log_path}")


@pytest.fixture(scope="session")
def kubo_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KuboNode]:
    """One node for the session, stopped (SIGTERM, its own clean shutdown) at the end."""
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    log_path = artifacts / "kubo.log"
    log_path.write_bytes(b"")
    proc, node = start_kubo(tmp_path_factory.mktemp("kubo-repo"), log_path)
    try:
        yield node
    finally:
        stop([proc])
