"""Lantern's side of the Gen1 contract: deploy it, build a user's mint transaction, read mints,
update a token's metadata with the owner key. web3.py throughout; nothing here knows Kafka.

``Gen1Chain`` is the asynchronous client the API and the workers hold; ``deploy`` and
``ensure_deployed`` are synchronous, for ``lantern up`` and the tests.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_utils.abi import function_abi_to_4byte_selector
from eth_utils.address import is_address, to_checksum_address
from web3 import AsyncHTTPProvider, AsyncWeb3, HTTPProvider, Web3
from web3.exceptions import ContractCustomError, ContractLogicError, Web3Exception

from lantern.settings import DEV_OWNER_KEY, ChainSettings

from .artifact import load_artifact
from .errors import ChainError, MintRefused

__all__ = [
    "Deployment",
    "Gen1Chain",
    "Mint",
    "decode_revert",
    "deploy",
    "ensure_deployed",
    "eth",
]

log = logging.getLogger(__name__)
RPC_TIMEOUT_S = 10.0


def eth(wei: int) -> str:
    """``wei`` in ETH, without trailing zeros: ``0.001 ETH``."""
    return f"{(Decimal(wei) / 10**18).normalize():f} ETH"


@dataclass(frozen=True)
class Deployment:
    """Where the contract lives: its address and the block that created it."""

    address: str
    block: int
    chain_id: int


@dataclass(frozen=True)
class Mint:
    """One ``Gen1Minted`` log: who minted which token with what metadata, and where it lies."""

    token_id: int
    to: str
    image_url: str
    metadata_uri: str
    tx_hash: str
    block_number: int
    block_hash: str
    log_index: int


def _errors() -> dict[bytes, dict[str, Any]]:
    """The contract's custom errors (OpenZeppelin's included) by their 4-byte selector."""
    return {
        function_abi_to_4byte_selector(item): item
        for item in load_artifact()["abi"]
        if item["type"] == "error"
    }


def decode_revert(data: str | bytes | None) -> tuple[str, str]:
    """``(code, message)`` for a revert's data: the contract's custom errors in words a user
    can act on; anything else as ``("reverted", …)``."""
    unknown = "reverted", "the contract refused the transaction"
    try:
        raw = (
            bytes.fromhex(data[2:] if data.startswith("0x") else data)
            if isinstance(data, str)
            else (data or b"")
        )
    except ValueError:  # not hex: nothing to decode
        return unknown
    error = _errors().get(raw[:4])
    if error is None:
        return unknown
    try:
        values = abi_decode([i["type"] for i in error["inputs"]], raw[4:])
    except DecodingError:  # a known selector without its values: not one of ours after all
        return unknown
    name = error["name"]
    if name == "WrongPrice":
        sent, price = values
        return "price_changed", (
            f"the mint price is {eth(price)}, not the {eth(sent)} sent: it may have changed "
            "since the transaction was built; build it again"
        )
    if name == "SoldOut":
        return "sold_out", f"all {values[0]} Gen1 tokens are minted"
    if name == "EmptyMetadataURI":
        return "no_metadata", "a token needs its metadata URI"
    args = ", ".join(str(v) for v in values)
    return name, f"the contract refused it: {name}({args})"


class Gen1Chain:
    """The contract at ``settings.contract`` on ``settings.rpc``, asynchronously."""

    def __init__(self, settings: ChainSettings) -> None:
        if not settings.active:
            raise ChainError("LANTERN_CHAIN_RPC and LANTERN_CHAIN_CONTRACT are not both set")
        if not is_address(settings.contract):
            raise ChainError(f"LANTERN_CHAIN_CONTRACT={settings.contract!r} is not an address")
        self.settings = settings
        self.w3 = AsyncWeb3(
            AsyncHTTPProvider(settings.rpc, request_kwargs={"timeout": RPC_TIMEOUT_S})
        )
        self.address = to_checksum_address(settings.contract)
        self.contract = self.w3.eth.contract(address=self.address, abi=load_artifact()["abi"])
        self.owner = Account.from_key(settings.owner_key) if settings.owner_key else None

    async def close(self) -> None:
        await self.w3.provider.disconnect()

    async def check(self) -> None:
        """Refuse a node of another chain, or an address without the contract's code."""
        try:
            chain_id = await self.w3.eth.chain_id
            code = await self.w3.eth.get_code(self.address)
        except (OSError, Web3Exception) as exc:
            raise ChainError(
                f"the chain node at {self.settings.rpc} does not answer: {exc}"
            ) from exc
        if chain_id != self.settings.chain_id:
            raise ChainError(
                f"the node at {self.settings.rpc} is chain {chain_id}, "
                f"not LANTERN_CHAIN_CHAIN_ID={self.settings.chain_id}"
            )
        if bytes(code) != bytes.fromhex(load_artifact()["deployedBytecode"][2:]):
            raise ChainError(f"no Gen1 contract of this version at {self.address}")

    async def terms(self) -> dict[str, int]:
        """The price, the cap (0: none) and how many are minted."""
        f = self.contract.functions
        return {
            "price_wei": int(await f.mintPrice().call()),
            "max_supply": int(await f.maxSupply().call()),
            "total_supply": int(await f.totalSupply().call()),
        }

    async def mint_transaction(
        self, sender: str, image_url: str, metadata_uri: str
    ) -> dict[str, Any]:
        """The unsigned ``mint`` transaction for ``sender``'s wallet: ``to``, ``data``,
        ``value`` (the current price), ``chainId`` and an estimated ``gas``. Raises
        ``MintRefused`` when the contract would refuse it (sold out, funds short)."""
        sender = to_checksum_address(sender)
        terms = await self.terms()
        price = terms["price_wei"]
        if terms["max_supply"] and terms["total_supply"] >= terms["max_supply"]:
            raise MintRefused("sold_out", f"all {terms['max_supply']} Gen1 tokens are minted")
        balance = int(await self.w3.eth.get_balance(sender))
        if balance < price:
            raise MintRefused(
                "insufficient_funds",
                f"the wallet holds {eth(balance)}; minting costs {eth(price)} plus gas",
            )
        data = self.contract.encode_abi("mint", args=[image_url, metadata_uri])
        tx: dict[str, Any] = {
            "from": sender,
            "to": self.address,
            "data": data,
            "value": price,
            "chainId": self.settings.chain_id,
        }
        try:
            gas = int(await self.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        except ContractCustomError as exc:
            raise MintRefused(*decode_revert(_revert_data(exc))) from exc
        except ContractLogicError as exc:
            raise MintRefused("reverted", f"the contract refused the mint: {exc}") from exc
        except Web3Exception as exc:
            if "insufficient funds" in str(exc).lower():
                raise MintRefused(
                    "insufficient_funds",
                    f"the wallet holds {eth(balance)}: not enough for {eth(price)} plus gas",
                ) from exc
            raise
        return tx | {"gas": gas + gas // 5}  # a fifth over the estimate

    async def head(self) -> int:
        return int(await self.w3.eth.block_number)

    async def block_hash(self, number: int) -> str | None:
        """The hash of block ``number`` on the node's chain now (None: not there)."""
        try:
            block = await self.w3.eth.get_block(number)
        except Web3Exception:
            return None
        return _hex(block["hash"])

    async def mints(self, from_block: int, to_block: int) -> list[Mint]:
        """Every ``Gen1Minted`` log of blocks ``from_block``…``to_block``, in chain order, each
        with the metadata URI the token had in its block."""
        logs = await self.contract.events.Gen1Minted.get_logs(
            from_block=from_block, to_block=to_block
        )
        found = []
        for entry in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"])):
            token_id = int(entry["args"]["tokenId"])
            uri = await self.contract.functions.tokenURI(token_id).call(
                block_identifier=entry["blockNumber"]
            )
            found.append(
                Mint(
                    token_id=token_id,
                    to=str(entry["args"]["to"]),
                    image_url=str(entry["args"]["imageUrl"]),
                    metadata_uri=str(uri),
                    tx_hash=_hex(entry["transactionHash"]),
                    block_number=int(entry["blockNumber"]),
                    block_hash=_hex(entry["blockHash"]),
                    log_index=int(entry["logIndex"]),
                )
            )
        return found

    async def token_uri(self, token_id: int) -> str:
        return str(await self.contract.functions.tokenURI(token_id).call())

    async def batch_update_metadata(self, first: int, uris: list[str]) -> str:
        """Point tokens ``first``, ``first`` + 1, … at ``uris`` in one transaction (one ERC-4906
        ``BatchMetadataUpdate``); its hash once mined."""
        return await self._send_owner(self.contract.functions.batchUpdateMetadata(first, uris))

    async def update_metadata(self, token_id: int, metadata_uri: str) -> str | None:
        """Point ``token_id`` at ``metadata_uri`` with the owner key and wait for the receipt;
        the transaction hash, or None when the token already points there (nothing sent)."""
        if self.owner is None:
            raise ChainError("LANTERN_CHAIN_OWNER_KEY is not set: owner calls are off")
        if await self.token_uri(token_id) == metadata_uri:
            return None
        return await self._send_owner(
            self.contract.functions.updateMetadata(token_id, metadata_uri)
        )

    async def _send_owner(self, call: Any) -> str:
        """Sign ``call`` with the owner key, send it, wait for its receipt; its hash."""
        if self.owner is None:
            raise ChainError("LANTERN_CHAIN_OWNER_KEY is not set: owner calls are off")
        tx = await call.build_transaction(
            {
                "from": self.owner.address,
                "chainId": self.settings.chain_id,
                # the pending count: a transaction of ours still in the pool is not reused
                "nonce": await self.w3.eth.get_transaction_count(self.owner.address, "pending"),
            }
        )
        signed = self.owner.sign_transaction(tx)
        tx_hash = await self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = await self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise ChainError(f"{call.fn_name} reverted in {_hex(tx_hash)}")
        return _hex(tx_hash)


def _revert_data(exc: ContractCustomError) -> str:
    data = exc.data if isinstance(exc.data, str) else str(exc.args[0] if exc.args else "")
    return data


def _hex(value: Any) -> str:
    text = value.hex() if isinstance(value, bytes | bytearray) else str(value)
    return text if text.startswith("0x") else f"0x{text}"


def deploy(rpc: str, key: str, *, price_wei: int, max_supply: int) -> Deployment:
    """Deploy a new Gen1 contract owned by ``key``'s account; wait until it is mined."""
    w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": RPC_TIMEOUT_S}))
    account = Account.from_key(key)
    artifact = load_artifact()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor(account.address, price_wei, max_supply).build_transaction(
        {
            "from": account.address,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    )
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise ChainError(f"the Gen1 deployment reverted: {_hex(tx_hash)}")
    return Deployment(str(receipt["contractAddress"]), int(receipt["blockNumber"]), w3.eth.chain_id)


def ensure_deployed(chain: ChainSettings, rpc: str) -> Deployment:
    """The embedded chain's contract: the one recorded in ``<data_dir>/deployment.json`` if the
    node still has its code (a restart), else a new one deployed with the owner key (the
    development key unless one is set) and recorded."""
    record = Path(chain.data_dir) / "deployment.json"
    w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": RPC_TIMEOUT_S}))
    runtime = bytes.fromhex(load_artifact()["deployedBytecode"][2:])
    if record.exists():
        known = Deployment(**json.loads(record.read_text()))
        code = w3.eth.get_code(to_checksum_address(known.address))
        if known.chain_id == w3.eth.chain_id and bytes(code) == runtime:
            return known
        log.warning("recorded Gen1 contract %s is gone or outdated: deploying anew", known.address)
    deployment = deploy(
        rpc,
        chain.owner_key or DEV_OWNER_KEY,
        price_wei=chain.mint_price_wei,
        max_supply=chain.max_supply,
    )
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(deployment.__dict__))
    log.info("Gen1 deployed address=%s block=%d", deployment.address, deployment.block)
    return deployment
