"""The committed Gen1 artifact and the reading of the contract's reverts.

``chain/artifacts/Gen1.json`` must be what ``node chain/build.mjs`` makes from the source
today (the contract is reproducible from it), by the solc and OpenZeppelin that chain/'s
lockfile pins. ``decode_revert`` turns each of the contract's custom errors into a code and a
message a user can act on, and anything else into ``reverted``; the revert data here is built
from the errors' signatures, not from the ABI it reads.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from chain.artifact import load_artifact
from chain.gen1 import decode_revert

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ROOT / "chain"
COMMITTED = CHAIN / "artifacts" / "Gen1.json"
HINT = "install chain/'s tools with `make chain` (needs node >= 20)"
WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def locked_version(package: str) -> str:
    lock = json.loads((CHAIN / "package-lock.json").read_text())
    version: str = lock["packages"][f"node_modules/{package}"]["version"]
    return version


def test_the_committed_artifact_is_what_the_source_compiles_to(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node not found on PATH; {HINT}")
    if not (CHAIN / "node_modules" / "solc").is_dir():
        pytest.fail(f"chain/node_modules is missing; {HINT}")
    out = tmp_path / "Gen1.json"
    done = subprocess.run(
        [node, str(CHAIN / "build.mjs"), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    built = json.loads(out.read_text())
    committed = json.loads(COMMITTED.read_text())
    for key in ("abi", "bytecode", "deployedBytecode", "compiler", "openzeppelin", "settings"):
        assert built[key] == committed[key], f"{key} differs: run `make contract`"
    assert committed["deployedBytecode"] != "0x"
    assert load_artifact() == committed  # and the package loads the committed file


def test_the_artifact_names_the_locked_solc_0_8_and_openzeppelin() -> None:
    committed = json.loads(COMMITTED.read_text())
    compiler = re.fullmatch(r"solc-js (0\.8\.\d+)\+commit\.[0-9a-f]{8}\..*", committed["compiler"])
    assert compiler, committed["compiler"]
    assert compiler[1] == locked_version("solc")
    pragma = re.search(r"pragma solidity ([^;]+);", (CHAIN / "contracts" / "Gen1.sol").read_text())
    assert pragma and pragma[1] == compiler[1]
    assert committed["openzeppelin"] == locked_version("@openzeppelin/contracts")
    assert committed["openzeppelin"].startswith("5.")


def revert(signature: str, *values: Any) -> str:
    """A custom error's revert data, built from its signature."""
    types = [t for t in signature[signature.index("(") + 1 : -1].split(",") if t]
    return "0x" + (keccak(text=signature)[:4] + abi_encode(types, list(values))).hex()


def test_a_wrong_price_names_the_price_and_the_amount_sent_in_eth() -> None:
    code, message = decode_revert(revert("WrongPrice(uint256,uint256)", 5 * 10**14, 10**15))
    assert code == "price_changed"
    assert "the mint price is 0.001 ETH, not the 0.0005 ETH sent" in message


def test_a_sold_out_mint_names_the_cap() -> None:
    assert decode_revert(revert("SoldOut(uint256)", 1111)) == (
        "sold_out",
        "all 1111 Gen1 tokens are minted",
    )


def test_a_mint_without_metadata_says_so() -> None:
    assert decode_revert(revert("EmptyMetadataURI()"))[0] == "no_metadata"


@pytest.mark.parametrize(
    ("signature", "values", "shown"),
    [
        ("BadBatch(uint256,uint256)", (3, 2), "BadBatch(3, 2)"),
        ("OwnableUnauthorizedAccount(address)", (WALLET,), f"({WALLET.lower()})"),
        ("ERC721NonexistentToken(uint256)", (9,), "ERC721NonexistentToken(9)"),
        ("InsufficientBalance(uint256,uint256)", (1, 2), "InsufficientBalance(1, 2)"),
        ("FailedCall()", (), "FailedCall()"),
    ],
)
def test_other_errors_of_the_contract_are_named_with_their_values(
    signature: str, values: tuple[Any, ...], shown: str
) -> None:
    code, message = decode_revert(revert(signature, *values))
    assert code == signature[: signature.index("(")]
    assert shown in message


def test_every_error_in_the_abi_is_recognised() -> None:
    samples = {"uint256": 7, "address": WALLET}
    for error in (item for item in load_artifact()["abi"] if item["type"] == "error"):
        types = [i["type"] for i in error["inputs"]]
        data = revert(f"{error['name']}({','.join(types)})", *(samples[t] for t in types))
        assert decode_revert(data)[0] != "reverted", error["name"]


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "0x",
        b"",
        "0x1234",  # shorter than a selector
        "0xdeadbeef",  # no error of the contract
        revert("Error(string)", "nope"),  # a plain require message
        revert("Panic(uint256)", 0x11),  # arithmetic overflow
        revert("SoldOut(uint256)", 2)[:10],  # a known selector without its value
        revert("WrongPrice(uint256,uint256)", 1, 2)[:-64],  # one value of two
        "0xnot hex",
    ],
    ids=[
        *("none", "empty", "0x", "no-bytes", "short", "unknown", "Error", "Panic"),
        *("selector-alone", "truncated", "not-hex"),
    ],
)
def test_anything_else_is_reported_as_reverted(data: str | bytes | None) -> None:
    assert decode_revert(data) == ("reverted", "the contract refused the transaction")


def test_revert_data_reads_as_hex_with_or_without_0x_or_as_bytes() -> None:
    data = revert("SoldOut(uint256)", 2)
    assert decode_revert(data) == decode_revert(data[2:]) == decode_revert(bytes.fromhex(data[2:]))
    assert decode_revert(data)[0] == "sold_out"
