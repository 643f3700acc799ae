"""The real thing for integration tests: an Apache Kafka broker, workers and the API as processes.

The session starts its own KRaft broker from the jars `make kafka` fetched (or uses
LANTERN_KAFKA_BOOTSTRAP), creates the topics, and runs `lantern worker` and `lantern api` as
separate processes whose logs land in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.anvil import Anvil
from chain.gen1 import deploy
from lantern.processes import spawn, stop
from lantern.settings import DEV_OWNER_KEY, ChainSettings, Settings
from streams.broker import EmbeddedKafka, free_port
from streams.topics import ensure_topics

from .kubo import kubo_node  # noqa: F401 - a fixture: a real IPFS node (tests/integration/kubo.py)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
ADMIN_TOKEN = "test-operator-token"
RENDER_FAULT_COLOUR = "#badbad"
PIN_FAULT_COLOUR = "#0ddba1"


def create_topics(settings: Settings) -> list[str]:
    """``ensure_topics`` from sync code, even while a test's event loop runs in this thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, ensure_topics(settings)).result()


def lantern_env(bootstrap: str, name: str, port: int, store_root: Path) -> dict[str, str]:
    """The environment of one test stack: its own topics, group, store and port; no rate
    limits (the suite submits many jobs from one address and wallet); fast retries."""
    return {
        **os.environ,
        "LANTERN_KAFKA_BOOTSTRAP": bootstrap,
        "LANTERN_KAFKA_TOPIC_PREFIX": name,
        "LANTERN_KAFKA_SESSION_TIMEOUT_S": "6",
        "LANTERN_KAFKA_HEARTBEAT_INTERVAL_S": "1",
        "LANTERN_WORKER_APP_ID": name,
        "LANTERN_STORE_ROOT": str(store_root),
        "LANTERN_API_PORT": str(port),
        "LANTERN_API_WALLET_RATE_PER_MIN": "0",
        "LANTERN_API_IP_RATE_PER_MIN": "0",
        "LANTERN_RELIABILITY_BACKOFF_S": "0.5",
    }


@dataclasses.dataclass(frozen=True)
class LocalChain:
    """A real EVM node (anvil) for the session; each stack deploys its own Gen1 contract."""

    rpc: str
    owner_key: str = DEV_OWNER_KEY

    def deploy(self, *, price_wei: int = 10**15, max_supply: int = 1111) -> dict[str, str]:
        """A new Gen1 contract: the ``LANTERN_CHAIN_*`` variables that point a stack at it."""
        done = deploy(self.rpc, self.owner_key, price_wei=price_wei, max_supply=max_supply)
        return {
            "LANTERN_CHAIN_RPC": self.rpc,
            "LANTERN_CHAIN_CONTRACT": done.address,
            "LANTERN_CHAIN_FROM_BLOCK": str(done.block),
            "LANTERN_CHAIN_OWNER_KEY": self.owner_key,
            "LANTERN_CHAIN_POLL_S": "0.5",
        }


@dataclasses.dataclass
class Lantern:
    """A running Lantern: its settings, environment and base URL."""

    settings: Settings
    env: dict[str, str]
    base_url: str
    store_root: Path


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real broker for the whole session."""
    given = os.environ.get("LANTERN_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    data = tmp_path_factory.mktemp("kafka")
    broker = EmbeddedKafka(dataclasses.replace(Settings().kafka, data_dir=data))
    bootstrap = broker.start()
    try:
        yield bootstrap
    finally:
        broker.stop()
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "broker.log").write_bytes(broker.log_path.read_bytes())


@pytest.fixture(scope="session")
def local_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    """anvil from `make chain` for the whole session, its state thrown away at the end."""
    data = tmp_path_factory.mktemp("chain")
    with Anvil(ChainSettings(data_dir=data), persist=False) as rpc:
        yield LocalChain(rpc)


@pytest.fixture(scope="session")
def lantern(
    kafka_bootstrap: str, local_chain: LocalChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lantern]:
    """One worker and one API, as separate processes, on a fresh topic prefix and store, minting
    on the session's chain."""
    suffix = f"t{os.getpid()}"
    port = free_port()
    store_root = tmp_path_factory.mktemp("ipfs")
    env = {
        **lantern_env(kafka_bootstrap, f"lantern-{suffix}", port, store_root),
        "LANTERN_API_ADMIN_TOKEN": ADMIN_TOKEN,
        # drills: jobs of these colours fail on purpose (tests/integration/test_reliability.py)
        "LANTERN_FAULTS_RENDER_COLOR": RENDER_FAULT_COLOUR,
        "LANTERN_FAULTS_PIN_COLOR": PIN_FAULT_COLOUR,
        "LANTERN_FAULTS_PIN_FAILURES": "2",
        "LANTERN_WORKER_METRICS_PORT": str(free_port()),
        **local_chain.deploy(),
    }
    settings = Settings.from_env(env)
    with running_stack(env) as base_url:
        yield Lantern(settings=settings, env=env, base_url=base_url, store_root=store_root)


def stack_log(process: str, name: str = "") -> Path:
    """Where a stack's ``process`` (worker, api) logs: test-artifacts/<process>.log for the
    session's stack, test-artifacts/<process>-<name>.log for the stack ``name``."""
    return ARTIFACTS / (f"{process}-{name}.log" if name else f"{process}.log")


@contextlib.contextmanager
def running_stack(env: dict[str, str], name: str = "") -> Iterator[str]:
    """A stack as ``env`` sets it up: its topics created, one worker and one API started as
    processes (logging to ``stack_log(process, name)``). Yields the API's base URL once the worker
    is ready and the API answers /readyz; stops both on the way out, the API first."""
    create_topics(Settings.from_env(env))
    ARTIFACTS.mkdir(exist_ok=True)
    base_url = f"http://127.0.0.1:{env['LANTERN_API_PORT']}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(_spawn(["worker"], env, stack_log("worker", name)))
        processes.append(_spawn(["api"], env, stack_log("api", name)))
        worker, api = processes
        _await_log(worker, stack_log("worker", name), "Ready", timeout=120)
        _await_ready(api, f"{base_url}/readyz", timeout=60)
        yield base_url
    finally:
        for proc in reversed(processes):
            _stop(proc)


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    return spawn(args, env, log_path)


def _await_log(proc: subprocess.Popen[bytes], log_path: Path, needle: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited:\n{log_path.read_text()[-3000:]}")
        if needle in log_path.read_text(errors="replace"):
            return
        time.sleep(0.3)
    raise TimeoutError(f"{proc.args} not ready in {timeout}s:\n{log_path.read_text()[-3000:]}")


def _await_ready(proc: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready in {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    stop([proc])
