"""The Gen1 contract on a real local node (anvil), and Lantern's client of it (chain/gen1.py).

Minting at the exact price, token ids from 1, the supply cap, the owner's calls and who may make
them, the ERC-4906 metadata events and interface, withdrawing the proceeds; then ``Gen1Chain``:
the mint transaction it builds for a wallet is one the wallet can sign and send, it refuses what
the contract would refuse, and ``check`` refuses another chain or an address without the code.

Expected revert data and event topics are built here from the standards' signatures (keccak of
``Name(types)`` and ABI encoding), not read from the compiled ABI under test.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from chain.anvil import Anvil
from chain.artifact import load_artifact
from chain.errors import ChainError, MintRefused
from chain.gen1 import Deployment, Gen1Chain, decode_revert, deploy
from lantern.settings import DEV_OWNER_KEY, ChainSettings

pytestmark = pytest.mark.integration

# anvil's default accounts 1 and 2 (account 0, DEV_OWNER_KEY, owns the contracts)
MINTER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
OTHER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
OWNER = Account.from_key(DEV_OWNER_KEY).address
MINTER = Account.from_key(MINTER_KEY).address
OTHER = Account.from_key(OTHER_KEY).address
PRICE = 10**15  # wei: 0.001 ETH
PRICE_IN_ETH = "0.001 ETH"
CHAIN_ID = 31337  # anvil's default, and ChainSettings'
ZERO_ADDRESS = "0x" + "00" * 20


@dataclasses.dataclass(frozen=True)
class Node:
    """The module's anvil, a client of it, and one contract deployed at the start (price PRICE,
    no cap) for the tests that change nothing."""

    rpc: str
    w3: Web3
    shared: Contract
    deployment: Deployment


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    data_dir = tmp_path_factory.mktemp("anvil")
    with Anvil(ChainSettings(data_dir=data_dir), persist=False) as rpc:
        w3 = Web3(Web3.HTTPProvider(rpc))
        deployment = deploy(rpc, DEV_OWNER_KEY, price_wei=PRICE, max_supply=0)
        yield Node(rpc, w3, gen1(w3, deployment.address), deployment)


def gen1(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact()["abi"])


def fresh(node: Node, *, price: int = PRICE, cap: int = 0) -> Contract:
    """A new contract of its own, for a test that changes state."""
    return gen1(node.w3, deploy(node.rpc, DEV_OWNER_KEY, price_wei=price, max_supply=cap).address)


def send(w3: Web3, key: str, call: Any, *, value: int = 0, gas: int | None = None) -> Any:
    """Sign ``call`` with ``key``, send it and return the receipt (any status). Without ``gas``
    the node estimates it, so a call the contract refuses raises instead of being sent."""
    sender = Account.from_key(key)
    params: dict[str, Any] = {
        "from": sender.address,
        "value": value,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
    }
    if gas is not None:
        params["gas"] = gas
    signed = sender.sign_transaction(call.build_transaction(params))
    return w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))


def transact(w3: Web3, key: str, call: Any, *, value: int = 0) -> Any:
    receipt = send(w3, key, call, value=value)
    assert receipt["status"] == 1
    return receipt


def mint(w3: Web3, contract: Contract, key: str, uri: str, image: str = "ipfs://image") -> Any:
    return transact(w3, key, contract.functions.mint(image, uri), value=PRICE)


def error_data(signature: str, *values: Any) -> str:
    """A custom error's revert data: the selector of ``signature``, then its encoded values."""
    types = [t for t in signature[signature.index("(") + 1 : -1].split(",") if t]
    return "0x" + (keccak(text=signature)[:4] + abi_encode(types, list(values))).hex()


def refusal(call: Any, sender: str, value: int = 0) -> str:
    """The revert data of ``call`` made by ``sender`` (it must revert with a custom error)."""
    with pytest.raises(ContractCustomError) as refused:
        call.call({"from": sender, "value": value})
    return str(refused.value.data)


def logs_with(receipt: Any, signature: str) -> list[Any]:
    """The receipt's logs whose first topic is the event ``signature``'s."""
    return [log for log in receipt["logs"] if bytes(log["topics"][0]) == keccak(text=signature)]


def word(value: int | str) -> bytes:
    """One 32-byte ABI word: an integer or an address, as a topic or a log's data holds it."""
    return abi_encode(["address" if isinstance(value, str) else "uint256"], [value])


def test_a_mint_at_the_exact_price_gives_token_ids_from_1_to_each_minter(node: Node) -> None:
    c = fresh(node)
    assert (
        c.functions.mint("ipfs://a.gif", "ipfs://meta-1").call({"from": MINTER, "value": PRICE})
        == 1
    )
    mint(node.w3, c, MINTER_KEY, "ipfs://meta-1")
    mint(node.w3, c, OTHER_KEY, "ipfs://meta-2")
    f = c.functions
    assert f.totalSupply().call() == 2
    assert (f.ownerOf(1).call(), f.ownerOf(2).call()) == (MINTER, OTHER)
    assert (f.tokenURI(1).call(), f.tokenURI(2).call()) == ("ipfs://meta-1", "ipfs://meta-2")
    assert (f.name().call(), f.symbol().call()) == ("Gen1", "G1")
    assert node.w3.eth.get_balance(c.address) == 2 * PRICE
    assert refusal(f.tokenURI(3), MINTER) == error_data("ERC721NonexistentToken(uint256)", 3)


@pytest.mark.parametrize("sent", [PRICE - 1, PRICE + 1, 0], ids=["short", "over", "nothing"])
def test_a_mint_at_the_wrong_price_is_refused_with_the_price(node: Node, sent: int) -> None:
    data = refusal(node.shared.functions.mint("ipfs://a.gif", "ipfs://m"), MINTER, sent)
    assert data == error_data("WrongPrice(uint256,uint256)", sent, PRICE)
    code, message = decode_revert(data)
    assert code == "price_changed"
    assert PRICE_IN_ETH in message


def test_a_wrong_price_mint_sent_anyway_reverts_and_mints_nothing(node: Node) -> None:
    c = fresh(node)
    before = node.w3.eth.get_balance(MINTER)
    receipt = send(node.w3, MINTER_KEY, c.functions.mint("i", "m"), value=PRICE + 1, gas=300_000)
    assert receipt["status"] == 0
    assert c.functions.totalSupply().call() == 0
    assert node.w3.eth.get_balance(c.address) == 0
    gas_paid = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert node.w3.eth.get_balance(MINTER) == before - gas_paid  # the value came back


def test_the_supply_cap_is_enforced(node: Node) -> None:
    c = fresh(node, cap=2)
    assert c.functions.maxSupply().call() == 2
    mint(node.w3, c, MINTER_KEY, "ipfs://1")
    mint(node.w3, c, OTHER_KEY, "ipfs://2")
    data = refusal(c.functions.mint("i", "ipfs://3"), MINTER, PRICE)
    assert data == error_data("SoldOut(uint256)", 2)
    code, message = decode_revert(data)
    assert code == "sold_out"
    assert "2" in message
    assert c.functions.totalSupply().call() == 2


def test_a_cap_of_0_means_no_cap(node: Node) -> None:
    c = fresh(node, cap=0)
    for n in range(3):
        mint(node.w3, c, MINTER_KEY, f"ipfs://{n}")
    assert (c.functions.maxSupply().call(), c.functions.totalSupply().call()) == (0, 3)


def test_an_empty_metadata_uri_is_refused_on_mint_and_on_update(node: Node) -> None:
    c = fresh(node)
    empty = error_data("EmptyMetadataURI()")
    assert refusal(c.functions.mint("ipfs://a.gif", ""), MINTER, PRICE) == empty
    assert decode_revert(empty)[0] == "no_metadata"
    mint(node.w3, c, MINTER_KEY, "ipfs://1")
    assert refusal(c.functions.updateMetadata(1, ""), OWNER) == empty
    assert refusal(c.functions.batchUpdateMetadata(1, [""]), OWNER) == empty
    assert c.functions.tokenURI(1).call() == "ipfs://1"


OWNER_CALLS = {
    "setMintPrice": lambda f: f.setMintPrice(1),
    "updateMetadata": lambda f: f.updateMetadata(1, "ipfs://new"),
    "batchUpdateMetadata": lambda f: f.batchUpdateMetadata(1, ["ipfs://new"]),
    "withdraw": lambda f: f.withdraw(MINTER),
}


@pytest.mark.parametrize("name", OWNER_CALLS)
def test_the_owners_calls_refuse_anyone_else(node: Node, name: str) -> None:
    c = fresh(node)
    mint(node.w3, c, MINTER_KEY, "ipfs://1")  # a token and proceeds: only ownership is missing
    call = OWNER_CALLS[name](c.functions)
    assert refusal(call, MINTER) == error_data("OwnableUnauthorizedAccount(address)", MINTER)
    assert decode_revert(error_data("OwnableUnauthorizedAccount(address)", MINTER))[0] == (
        "OwnableUnauthorizedAccount"
    )
    call.call({"from": OWNER})  # the same call from the owner goes through


def test_the_owner_sets_the_price_and_mints_follow_it(node: Node) -> None:
    c = fresh(node)
    receipt = transact(node.w3, DEV_OWNER_KEY, c.functions.setMintPrice(2 * PRICE))
    [changed] = logs_with(receipt, "MintPriceChanged(uint256)")
    assert bytes(changed["data"]) == word(2 * PRICE)
    assert c.functions.mintPrice().call() == 2 * PRICE
    data = refusal(c.functions.mint("i", "ipfs://1"), MINTER, PRICE)
    assert data == error_data("WrongPrice(uint256,uint256)", PRICE, 2 * PRICE)
    transact(node.w3, MINTER_KEY, c.functions.mint("i", "ipfs://1"), value=2 * PRICE)
    assert c.functions.ownerOf(1).call() == MINTER


def test_update_metadata_changes_the_token_uri_and_emits_metadata_update(node: Node) -> None:
    c = fresh(node)
    mint(node.w3, c, MINTER_KEY, "ipfs://v1")
    receipt = transact(node.w3, DEV_OWNER_KEY, c.functions.updateMetadata(1, "ipfs://v2"))
    [update] = logs_with(receipt, "MetadataUpdate(uint256)")
    assert update["address"] == c.address
    assert bytes(update["data"]) == word(1)
    assert c.functions.tokenURI(1).call() == "ipfs://v2"
    assert c.functions.ownerOf(1).call() == MINTER  # the owner changes metadata, not holders
    missing = refusal(c.functions.updateMetadata(2, "ipfs://v2"), OWNER)
    assert missing == error_data("ERC721NonexistentToken(uint256)", 2)


def test_a_batch_update_changes_a_contiguous_range_with_one_event(node: Node) -> None:
    c = fresh(node)
    for n in range(1, 5):
        mint(node.w3, c, MINTER_KEY, f"ipfs://v1/{n}")
    call = c.functions.batchUpdateMetadata(2, ["ipfs://v2/2", "ipfs://v2/3"])
    receipt = transact(node.w3, DEV_OWNER_KEY, call)
    assert [c.functions.tokenURI(n).call() for n in range(1, 5)] == [
        "ipfs://v1/1",
        "ipfs://v2/2",
        "ipfs://v2/3",
        "ipfs://v1/4",
    ]
    [batch] = logs_with(receipt, "BatchMetadataUpdate(uint256,uint256)")
    assert bytes(batch["data"]) == word(2) + word(3)
    assert logs_with(receipt, "MetadataUpdate(uint256)") == []
    # a range that ends at the last token
    receipt = transact(node.w3, DEV_OWNER_KEY, c.functions.batchUpdateMetadata(4, ["ipfs://v3"]))
    [batch] = logs_with(receipt, "BatchMetadataUpdate(uint256,uint256)")
    assert bytes(batch["data"]) == word(4) + word(4)
    assert c.functions.tokenURI(4).call() == "ipfs://v3"


@pytest.mark.parametrize(
    ("from_id", "count"),
    [(1, 0), (0, 1), (0, 2), (1, 3), (2, 2), (3, 1), (2**256 - 1, 1)],
    ids=[
        "empty",
        "token-0",
        "from-0",
        "past-the-end",
        "overlapping-the-end",
        "after-the-end",
        "would-overflow",
    ],
)
def test_a_batch_update_refuses_a_bad_range(node: Node, from_id: int, count: int) -> None:
    c = fresh(node)
    mint(node.w3, c, MINTER_KEY, "ipfs://1")
    mint(node.w3, c, MINTER_KEY, "ipfs://2")
    uris = [f"ipfs://new/{n}" for n in range(count)]
    data = refusal(c.functions.batchUpdateMetadata(from_id, uris), OWNER)
    assert data == error_data("BadBatch(uint256,uint256)", from_id, count)
    assert c.functions.batchUpdateMetadata(1, ["a", "b"]).call({"from": OWNER}) == []


def test_gen1_minted_carries_minter_token_and_image_beside_a_transfer_from_zero(
    node: Node,
) -> None:
    c = fresh(node)
    mint(node.w3, c, MINTER_KEY, "ipfs://1")
    receipt = mint(node.w3, c, OTHER_KEY, "ipfs://2", image="https://example.test/2.gif")
    [minted] = c.events.Gen1Minted().process_receipt(receipt, errors=DISCARD)
    assert dict(minted["args"]) == {
        "to": OTHER,
        "tokenId": 2,
        "imageUrl": "https://example.test/2.gif",
    }
    [raw] = logs_with(receipt, "Gen1Minted(address,uint256,string)")
    assert [bytes(t) for t in raw["topics"][1:]] == [word(OTHER), word(2)]
    [transfer] = logs_with(receipt, "Transfer(address,address,uint256)")
    assert transfer["address"] == c.address
    assert [bytes(t) for t in transfer["topics"][1:]] == [word(ZERO_ADDRESS), word(OTHER), word(2)]


def interface_id(*signatures: str) -> int:
    """ERC-165: an interface's id is the XOR of its functions' selectors."""
    result = 0
    for signature in signatures:
        result ^= int.from_bytes(keccak(text=signature)[:4], "big")
    return result


# (the id each EIP states, the functions it is derived from; ERC-4906 states its id outright)
INTERFACES = {
    "ERC-165": (0x01FFC9A7, ("supportsInterface(bytes4)",)),
    "ERC-721": (
        0x80AC58CD,
        (
            "balanceOf(address)",
            "ownerOf(uint256)",
            "safeTransferFrom(address,address,uint256,bytes)",
            "safeTransferFrom(address,address,uint256)",
            "transferFrom(address,address,uint256)",
            "approve(address,uint256)",
            "setApprovalForAll(address,bool)",
            "getApproved(uint256)",
            "isApprovedForAll(address,address)",
        ),
    ),
    "ERC-721 Metadata": (0x5B5E139F, ("name()", "symbol()", "tokenURI(uint256)")),
    "ERC-4906": (0x49064906, ()),
}


@pytest.mark.parametrize("standard", INTERFACES)
def test_it_reports_the_interfaces_it_implements(node: Node, standard: str) -> None:
    stated, functions = INTERFACES[standard]
    if functions:
        assert interface_id(*functions) == stated
    assert node.shared.functions.supportsInterface(stated.to_bytes(4, "big")).call() is True


def test_it_reports_no_interface_for_the_invalid_id(node: Node) -> None:
    assert node.shared.functions.supportsInterface(b"\xff\xff\xff\xff").call() is False


def test_withdraw_moves_the_proceeds_to_the_address_given(node: Node) -> None:
    c = fresh(node)
    mint(node.w3, c, MINTER_KEY, "ipfs://1")
    mint(node.w3, c, OTHER_KEY, "ipfs://2")
    payee = Account.create().address  # a new address: its balance is the proceeds alone
    transact(node.w3, DEV_OWNER_KEY, c.functions.withdraw(payee))
    assert node.w3.eth.get_balance(payee) == 2 * PRICE
    assert node.w3.eth.get_balance(c.address) == 0


@contextlib.asynccontextmanager
async def client(node: Node, address: str, **settings: Any) -> AsyncIterator[Gen1Chain]:
    chain = Gen1Chain(ChainSettings(rpc=node.rpc, contract=address, **settings))
    try:
        yield chain
    finally:
        await chain.close()


async def test_a_mint_transaction_is_one_the_wallet_can_sign_and_send(node: Node) -> None:
    c = fresh(node)
    async with client(node, c.address) as chain:
        tx = await chain.mint_transaction(MINTER, "ipfs://a.gif", "ipfs://meta-1")
        assert (tx["to"], tx["value"], tx["chainId"]) == (c.address, PRICE, CHAIN_ID)
        w3 = chain.w3
        base_fee = (await w3.eth.get_block("latest"))["baseFeePerGas"]
        tip = 10**9
        tx |= {
            "nonce": await w3.eth.get_transaction_count(MINTER, "pending"),
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": 2 * base_fee + tip,
        }
        signed = Account.from_key(MINTER_KEY).sign_transaction(tx)
        tx_hash = await w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        assert receipt["gasUsed"] <= tx["gas"]
        [found] = await chain.mints(receipt["blockNumber"], receipt["blockNumber"])
        assert (found.token_id, found.to, found.image_url, found.metadata_uri) == (
            1,
            MINTER,
            "ipfs://a.gif",
            "ipfs://meta-1",
        )
    assert c.functions.ownerOf(1).call() == MINTER
    assert c.functions.tokenURI(1).call() == "ipfs://meta-1"


async def test_a_mint_transaction_for_a_wallet_without_funds_is_refused(node: Node) -> None:
    async with client(node, node.shared.address) as chain:
        with pytest.raises(MintRefused) as refused:
            await chain.mint_transaction(Account.create().address, "i", "ipfs://m")
    assert refused.value.code == "insufficient_funds"
    assert PRICE_IN_ETH in str(refused.value)


async def test_a_mint_transaction_once_sold_out_is_refused(node: Node) -> None:
    c = fresh(node, cap=1)
    async with client(node, c.address) as chain:
        await chain.mint_transaction(MINTER, "i", "ipfs://1")  # one left: built
        mint(node.w3, c, OTHER_KEY, "ipfs://1")
        with pytest.raises(MintRefused) as refused:
            await chain.mint_transaction(MINTER, "i", "ipfs://2")
    assert refused.value.code == "sold_out"


async def test_a_mint_transaction_without_metadata_is_refused_as_the_contract_would(
    node: Node,
) -> None:
    async with client(node, node.shared.address) as chain:
        with pytest.raises(MintRefused) as refused:
            await chain.mint_transaction(MINTER, "i", "")
    assert refused.value.code == "no_metadata"


async def test_the_client_updates_a_tokens_metadata_once_with_the_owner_key(node: Node) -> None:
    c = fresh(node)
    receipt = mint(node.w3, c, MINTER_KEY, "ipfs://v1")
    async with client(node, c.address, owner_key=DEV_OWNER_KEY) as chain:
        assert await chain.update_metadata(1, "ipfs://v2") is not None
        assert await chain.update_metadata(1, "ipfs://v2") is None  # already there: not sent
        assert await chain.token_uri(1) == "ipfs://v2"
        # a mint read later still carries the URI it was minted with
        [found] = await chain.mints(receipt["blockNumber"], receipt["blockNumber"])
        assert found.metadata_uri == "ipfs://v1"
    assert c.functions.tokenURI(1).call() == "ipfs://v2"


async def test_check_accepts_the_deployed_contract(node: Node) -> None:
    async with client(node, node.shared.address) as chain:
        await chain.check()


async def test_check_refuses_a_node_of_another_chain(node: Node) -> None:
    async with client(node, node.shared.address, chain_id=1) as chain:
        with pytest.raises(ChainError, match=str(CHAIN_ID)):
            await chain.check()


@pytest.mark.parametrize("holder", ["nobody", "a wallet"])
async def test_check_refuses_an_address_without_the_contracts_code(node: Node, holder: str) -> None:
    address = Account.create().address if holder == "nobody" else MINTER
    async with client(node, address) as chain:
        with pytest.raises(ChainError, match="no Gen1 contract"):
            await chain.check()


def test_deploy_reports_the_contract_and_the_block_that_created_it(node: Node) -> None:
    assert node.deployment.chain_id == CHAIN_ID
    block = node.w3.eth.get_block(node.deployment.block)
    receipts = [node.w3.eth.get_transaction_receipt(h) for h in block["transactions"]]
    assert node.deployment.address in [r["contractAddress"] for r in receipts]
    assert node.shared.functions.owner().call() == OWNER
    assert node.shared.functions.mintPrice().call() == PRICE
