"""``lantern deploy`` against a real node: a contract that works, the variables to use it, and
plain errors (no traceback) when the node or the key is missing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from web3 import Web3

from chain.artifact import load_artifact
from lantern.processes import ROOT, free_port
from lantern.settings import DEV_OWNER_KEY

from .conftest import LocalChain

pytestmark = pytest.mark.integration


def lantern(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LANTERN_")}
    return subprocess.run(
        [sys.executable, "-m", "lantern", *args],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_deploy_prints_the_variables_of_a_working_contract(local_chain: LocalChain) -> None:
    done = lantern(
        "deploy",
        LANTERN_CHAIN_RPC=local_chain.rpc,
        LANTERN_CHAIN_OWNER_KEY=DEV_OWNER_KEY,
        LANTERN_CHAIN_MINT_PRICE_WEI="7",
        LANTERN_CHAIN_MAX_SUPPLY="3",
    )
    assert done.returncode == 0, done.stderr
    printed = dict(line.split("=", 1) for line in done.stdout.split())
    w3 = Web3(Web3.HTTPProvider(local_chain.rpc))
    gen1 = w3.eth.contract(address=printed["LANTERN_CHAIN_CONTRACT"], abi=load_artifact()["abi"])
    assert gen1.functions.mintPrice().call() == 7
    assert gen1.functions.maxSupply().call() == 3
    assert printed["LANTERN_CHAIN_CHAIN_ID"] == "31337"
    assert int(printed["LANTERN_CHAIN_FROM_BLOCK"]) <= w3.eth.block_number


def test_deploy_says_what_is_missing_or_unreachable() -> None:
    missing = lantern("deploy")
    assert missing.returncode == 1
    assert "LANTERN_CHAIN_RPC and LANTERN_CHAIN_OWNER_KEY" in missing.stderr
    nowhere = f"http://127.0.0.1:{free_port()}"
    away = lantern("deploy", LANTERN_CHAIN_RPC=nowhere, LANTERN_CHAIN_OWNER_KEY=DEV_OWNER_KEY)
    assert away.returncode == 1
    assert f"deploy to {nowhere} failed" in away.stderr and "Traceback" not in away.stderr
