"""Validation of CID strings that come from outside (a gateway's request path)."""

from __future__ import annotations

import base64
import pickle

import pytest

from pinning import InvalidCid, PinError, validate_cid
from pinning.cid import DAG_PB, RAW, cid_bytes, cid_string

V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
V1_RAW = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
V1_DAG_PB = "bafybeieokmdfvaadv3exbsk5z6mi5vzp2ictv6tgrrqqrqntc6cyfks36i"


@pytest.mark.parametrize("cid", [V0, V1_RAW, V1_DAG_PB])
def test_accepts_canonical_cids(cid: str) -> None:
    assert validate_cid(cid) == cid


def _b32(binary: bytes) -> str:
    return "b" + base64.b32encode(binary).decode().rstrip("=").lower()


@pytest.mark.parametrize(
    "cid",
    [
        "",
        "../etc/passwd",
        "Qm../../../../etc/passwd",
        f"{V0}/../x",
        f"../{V0}",
        V0 + "\0",
        V0 + "\n",
        " " + V0,
        V0[:-1],  # too short
        V0 + "a",  # too long
        V0[:-1] + "0",  # "0", "O", "I", "l" are not base58
        V0[:-1] + "l",
        "Qm" + "z" * 44,  # base58 but more than 34 bytes
        "Qm" + "1" * 44,  # base58 but not a sha2-256 multihash
        V0.lower(),
        V1_RAW.upper(),  # base32upper is valid multibase, but not canonical here
        "B" + V1_RAW[1:],
        "z" + V1_RAW[1:],
        V1_RAW + "=",
        V1_RAW[:-1],
        V1_RAW[:-1] + "1",  # not base32
        V1_RAW[:-1] + "5",  # trailing bits set: decodes to the same bytes, not canonical
        _b32(bytes((1, 0x71, 0x12, 0x20)) + bytes(32)),  # dag-cbor
        _b32(bytes((1, RAW, 0x1E, 0x20)) + bytes(32)),  # blake3
        _b32(bytes((2, RAW, 0x12, 0x20)) + bytes(32)),  # version 2
        "bafkrei" + "a" * 52 + "/..",
    ],
)
def test_rejects_malformed(cid: str) -> None:
    with pytest.raises(InvalidCid) as caught:
        validate_cid(cid)
    assert caught.value.cid == cid
    assert isinstance(caught.value, PinError)


def test_error_message_is_bounded() -> None:
    with pytest.raises(InvalidCid, match=r"invalid cid 'x{77}\.\.\.'"):
        validate_cid("x" * 10_000)


def test_invalid_cid_pickles() -> None:
    error = InvalidCid("../x", "bad")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.cid, copy.reason, str(copy)) == (error.cid, error.reason, str(error))


@pytest.mark.parametrize(("version", "codec"), [(0, DAG_PB), (1, DAG_PB), (1, RAW)])
def test_cid_bytes_round_trip(version: int, codec: int) -> None:
    text = cid_string(cid_bytes(bytes(range(32)), version=version, codec=codec))
    assert validate_cid(text) == text
