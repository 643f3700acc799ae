"""A local EVM node: anvil, from npm's ``@foundry-rs/anvil`` (``make chain``).

``lantern up`` and the tests start it; nothing else does. Its state is dumped to
``<data_dir>/anvil.json`` (every ``STATE_INTERVAL_S`` seconds and on exit) and loaded again on
the next start, so tokens minted before a restart are still there, at the port it had::

    with Anvil(settings.chain) as rpc:
        ...  # "http://127.0.0.1:<port>"
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from lantern.processes import Service, free_port
from lantern.settings import ChainSettings

from .errors import ChainError

__all__ = ["ANVIL", "Anvil"]

log = logging.getLogger(__name__)

# npm's launcher execs the binary of this platform's package (@foundry-rs/anvil-<os>-<arch>)
ANVIL = Path(__file__).parent / "node_modules" / ".bin" / "anvil"
STATE_INTERVAL_S = 5


class Anvil(Service):
    """One anvil node on 127.0.0.1 with ``chain.chain_id``; ``start`` returns its RPC URL."""

    def __init__(self, chain: ChainSettings, *, persist: bool = True) -> None:
        self.chain = chain
        self.persist = persist  # False: a throwaway chain (tests), nothing written
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def state_file(self) -> Path:
        return self.chain.data_dir / "anvil.json"

    def start(self, timeout: float = 30.0) -> str:
        if not ANVIL.exists():
            raise ChainError(f"anvil is not installed ({ANVIL}): run `make chain`")
        data = self.chain.data_dir
        data.mkdir(parents=True, exist_ok=True)
        port_file = data / "port"
        last = int(port_file.read_text()) if self.persist and port_file.exists() else 0
        port = free_port(self.chain.node_port or last)
        args = [str(ANVIL), "--host", "127.0.0.1", "--port", str(port),
                "--chain-id", str(self.chain.chain_id)]  # fmt: skip
        if self.persist:
            port_file.write_text(str(port))
            args += ["--state", str(self.state_file), "--state-interval", str(STATE_INTERVAL_S)]
        with (data / "anvil.log").open("ab") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChainError(
                    f"anvil exited with code {self.proc.returncode}: see {data}/anvil.log"
                )
            if _chain_id(self.url) == self.chain.chain_id:
                log.info("anvil up url=%s chain_id=%d", self.url, self.chain.chain_id)
                return self.url
            time.sleep(0.1)
        self.stop()
        raise ChainError(f"anvil did not answer on {self.url} within {timeout:.0f}s")

    def stop(self) -> None:
        """SIGINT (anvil dumps its state as it exits), then wait; SIGKILL after 10 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _chain_id(url: str) -> int | None:
    """The node's chain id, or None while it does not answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return int(json.load(response)["result"], 16)
    except (TimeoutError, OSError, urllib.error.URLError, ValueError, KeyError):
        return None
