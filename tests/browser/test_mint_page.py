"""Minting from the creator page in a real browser, on a real chain (the session's anvil).

The page talks to the chain only through an EIP-1193 provider (``window.ethereum``), as it would
to a wallet extension. The test injects one before the page loads: accounts and the chain id
from the test itself, every read forwarded to anvil through an exposed Python function (the
page's CSP allows no other origin), and ``eth_sendTransaction`` signed in Python with anvil's
funded dev account 1 (nonce and fees added, as a wallet does) and sent raw to anvil.

One job is rendered from the page and minted with the keyboard: the page says the token id the
chain gave, then follows the job to ``minted`` and its named metadata; opened afresh, the minted
job shows its token with no Mint button. Another job meets the refusals: the wrong account, a
cancel in the wallet, a price changed under it, no wallet at all, no chain on the server.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from playwright.sync_api import Page, Route
from web3 import HTTPProvider, Web3
from web3.logs import DISCARD

from chain.artifact import load_artifact
from tests.integration.conftest import Lantern, LocalChain

from .conftest import DESKTOP, PHONE, Device
from .test_creator_page import (
    assert_accessible,
    job_status,
    no_horizontal_scroll,
    press,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# anvil's funded development accounts 1 and 2 (account 0 owns the contract)
USER = Account.from_key("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
OTHER = Account.from_key("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a")
SMALL = {"size": 64, "frames": 4}
# what a wallet may forward to the node for the page; anything that signs is the wallet's own
READS = {
    "eth_blockNumber",
    "eth_call",
    "eth_estimateGas",
    "eth_gasPrice",
    "eth_getBalance",
    "eth_getBlockByNumber",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
}
# the wallet's side of window.ethereum: answers of its own, the rest through the bindings
PROVIDER = """
(config) => {
  const wallet = window.__wallet = { ...config, calls: [], fail: {} };
  const failure = ({ code, message, data }) => Object.assign(new Error(message), { code, data });
  const answer = (reply) => { if (reply.error) throw failure(reply.error); return reply.result; };
  window.ethereum = {
    async request({ method, params = [] }) {
      wallet.calls.push(method);
      if (wallet.fail[method]) throw failure(wallet.fail[method]);
      switch (method) {
        case 'eth_requestAccounts': case 'eth_accounts': return [wallet.account];
        case 'eth_chainId': return wallet.chainId;
        case 'wallet_switchEthereumChain': wallet.chainId = params[0].chainId; return null;
        case 'eth_sendTransaction': return answer(await window.signAndSend(params[0]));
        default: return answer(await window.anvilRpc(method, params));
      }
    },
    on() {},
    removeListener() {},
  };
}
"""
STATUS = "() => document.getElementById('mint-status').textContent"


class Wallet:
    """The Python half of the injected provider: reads go to anvil, transactions are signed with
    ``account``'s key (what a wallet extension does with eth_sendTransaction)."""

    def __init__(self, rpc: str, account: Any = USER) -> None:
        self.url, self.account = rpc, account
        self.w3 = Web3(HTTPProvider(rpc))
        self.sent: list[str] = []

    def rpc(self, method: str, params: list[Any] | None) -> dict[str, Any]:
        if method not in READS:
            return {"error": {"code": 4200, "message": f"{method} is not supported"}}
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
        request = urllib.request.Request(
            self.url, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
        return {key: answer[key] for key in ("result", "error") if key in answer}

    def sign_and_send(self, tx: dict[str, str]) -> dict[str, Any]:
        if tx["from"].lower() != self.account.address.lower():
            return {"error": {"code": 4100, "message": "the wallet does not hold that account"}}
        base_fee = self.w3.eth.get_block("latest")["baseFeePerGas"]
        full = {
            "from": self.account.address,
            "to": Web3.to_checksum_address(tx["to"]),
            "data": tx["data"],
            "value": int(tx["value"], 16),
            "gas": int(tx["gas"], 16),
            "chainId": int(tx["chainId"], 16),
            "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
            "maxFeePerGas": 2 * base_fee + 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        raw = self.account.sign_transaction(full).raw_transaction
        tx_hash = self.w3.eth.send_raw_transaction(raw).to_0x_hex()
        self.sent.append(tx_hash)
        return {"result": tx_hash}

    def install(self, page: Page, *, chain_id: str, account: str | None = None) -> None:
        """Give ``page`` this wallet as window.ethereum, before any of its scripts run."""
        page.expose_function("anvilRpc", self.rpc)
        page.expose_function("signAndSend", self.sign_and_send)
        # what MetaMask gives: the address in lower case
        config = {"account": (account or self.account.address).lower(), "chainId": chain_id}
        page.add_init_script(f"({PROVIDER})({json.dumps(config)})")

    def minted_token_id(self, tx_hash: str) -> int:
        receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        contract = self.w3.eth.contract(abi=load_artifact()["abi"])
        (event,) = contract.events.Gen1Minted().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["tokenId"])


def status(page: Page) -> str:
    return str(page.evaluate(STATUS))


def wait_status(page: Page, words: str, timeout: float = 30) -> str:
    """Wait for the mint panel to say ``words``; what it says."""
    try:
        wait_until(page, f"() => ({STATUS})().includes({json.dumps(words)})", timeout=timeout)
    except TimeoutError as exc:
        calls = page.evaluate("window.__wallet?.calls")
        raise AssertionError(
            f"the page says {status(page)!r}, not {words!r}; calls {calls}"
        ) from exc
    return status(page)


def submit_small(lantern: Lantern, wallet: str) -> str:
    """A small job for ``wallet`` through the API (not the page: no record in its session)."""
    body = json.dumps({"settings": {}, "options": SMALL, "wallet": wallet}).encode()
    request = urllib.request.Request(
        f"{lantern.base_url}/api/v1/mints", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        return str(json.load(response)["job_id"])


def assert_mintable(lantern: Lantern, job_id: str) -> None:
    """The server builds the job's transaction for its own wallet (checked from Python, so that
    a job that lost its wallet fails here, plainly, rather than as a page that refuses)."""
    url = f"{lantern.base_url}/api/v1/jobs/{job_id}/mint-tx?from={USER.address}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
    except urllib.error.HTTPError as exc:
        raise AssertionError(
            f"mint-tx refused the job's own wallet: {exc.code} {exc.read().decode()} "
            "(the job's status has no wallet: its split stage's first status reached the fold "
            "before the API's queued one, which carries the wallet)"
        ) from exc


def wait_job(lantern: Lantern, job_id: str, state: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (job := job_status(lantern, job_id))["state"] != state:
        assert job["state"] != "failed", job
        assert time.monotonic() < deadline, f"job {job_id} not {state} in {timeout}s: {job}"
        time.sleep(0.25)
    return job


@pytest.mark.timeout(300)
def test_render_then_mint_from_the_page(
    lantern: Lantern, local_chain: LocalChain, page_for: Any
) -> None:
    page, shot, errors = page_for(DESKTOP)
    wallet = Wallet(local_chain.rpc)
    wallet.install(page, chain_id="0x1")  # on another chain: the page has the wallet switch
    page.goto(f"{lantern.base_url}/")

    # a small render from the page, to the test account's wallet
    page.fill("#wallet", USER.address)
    page.click("details:has(#options-frames) > summary")
    page.select_option("#options-size", "256")
    page.fill("#options-frames", "4")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    job_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#mint-button", state="visible", timeout=120_000)
    assert page.text_content("#stage") == "Done — pinned"
    terms = page.text_content("#mint-terms") or ""
    assert "0.001 ETH" in terms and "chain 31337" in terms, terms
    assert page.is_enabled("#mint-button")
    assert_mintable(lantern, job_id)
    shot("ready-to-mint")
    assert_accessible(page)

    # the keyboard presses Mint; the wallet connects, switches chain, signs and sends
    page.focus("#mint-button")
    page.keyboard.press("Enter")
    said = wait_status(page, "token #", timeout=60)
    tx_hash = re.search(r"0x[0-9a-f]{64}", said)
    assert tx_hash, said
    assert wallet.sent == [tx_hash.group()]
    token_id = wallet.minted_token_id(tx_hash.group())
    assert said.startswith(f"Minted — token #{token_id}."), said
    calls = page.evaluate("window.__wallet.calls")
    assert calls[:3] == ["eth_requestAccounts", "eth_chainId", "wallet_switchEthereumChain"]
    assert "eth_getTransactionReceipt" in calls
    assert page.is_hidden("#mint-button")  # no second transaction for the same job
    shot("mined")

    # the chain watcher moves the job to minted, then the token is named: the page follows
    wait_until(
        page,
        "t => document.getElementById('stage').textContent === `Minted — token #${t}`",
        arg=token_id,
        timeout=60,
    )
    wait_until(
        page,
        "t => document.getElementById('token').textContent.includes(`Gen1 #${t} metadata`)",
        arg=token_id,
        timeout=90,
    )
    token = job_status(lantern, job_id)["token"]
    assert token["token_id"] == token_id and token["tx_hash"] == tx_hash.group()
    shown = page.text_content("#token") or ""
    assert token["owner"] in shown and token["token_uri"] in shown
    href = page.get_attribute("#token a", "href")
    assert href == f"/ipfs/{token['metadata_cid']}"
    assert page.evaluate("document.title") == "Minted · Lantern Gen1"
    page.wait_for_timeout(500)  # the bar's width transition
    shot("minted")
    assert_accessible(page)

    # the job's own link, opened afresh: the token at once, no Mint button
    again, shot_again, errors_again = page_for(DESKTOP)
    again.goto(f"{lantern.base_url}/jobs/{job_id}")
    again.wait_for_selector("#token", state="visible")
    assert again.text_content("#stage") == f"Minted — token #{token_id}"
    assert f"#{token_id}" in (again.text_content("#token") or "")
    assert again.is_hidden("#mint-button")
    again.wait_for_timeout(500)
    shot_again("opened-minted")
    assert errors == errors_again == []


@pytest.mark.timeout(240)
@pytest.mark.parametrize("device", [PHONE], ids=lambda d: d.name)
def test_mint_refusals_are_said_and_the_button_works_again(
    lantern: Lantern, local_chain: LocalChain, page_for: Any, device: Device
) -> None:
    job_id = submit_small(lantern, USER.address)
    wait_job(lantern, job_id, "completed")
    assert_mintable(lantern, job_id)
    page, shot, errors = page_for(device)
    wallet = Wallet(local_chain.rpc)
    wallet.install(page, chain_id="0x7a69", account=OTHER.address)
    page.goto(f"{lantern.base_url}/jobs/{job_id}")
    page.wait_for_selector("#mint-button", state="visible", timeout=60_000)
    no_horizontal_scroll(page)

    # another account than the job's: the server says not_your_job, the page says which to use
    press(page, device, "#mint-button")
    said = wait_status(page, "Connect the wallet that submitted this job")
    assert OTHER.address.lower() in said
    assert page.is_enabled("#mint-button") and page.is_visible("#mint-button")
    shot("wrong-account")

    # the right account, then a cancel in the wallet
    page.evaluate(
        """a => { window.__wallet.account = a;
                  window.__wallet.fail.eth_sendTransaction =
                      { code: 4001, message: 'User rejected the request.' }; }""",
        USER.address.lower(),
    )
    press(page, device, "#mint-button")
    said = wait_status(page, "cancelled")
    assert said.startswith("You cancelled in your wallet"), said
    assert page.evaluate("document.getElementById('live').textContent") == said
    assert page.is_enabled("#mint-button")
    no_horizontal_scroll(page)
    shot("cancelled")

    # the price went up between building and sending: the wallet's revert data says so
    wrong_price = Web3.keccak(text="WrongPrice(uint256,uint256)")[:4] + abi_encode(
        ["uint256", "uint256"], [10**15, 2 * 10**15]
    )
    page.evaluate(
        """d => { window.__wallet.fail.eth_sendTransaction = { code: -32603,
                  message: 'execution reverted', data: { originalError: { data: d } } }; }""",
        "0x" + wrong_price.hex(),
    )
    press(page, device, "#mint-button")
    said = wait_status(page, "price changed")
    assert said == "The price changed to 0.002 ETH; press Mint again.", said
    assert page.is_enabled("#mint-button")
    shot("price-changed")
    assert_accessible(page)
    assert wallet.sent == []
    assert job_status(lantern, job_id)["state"] == "completed"

    # no wallet in the browser at all
    bare, _, bare_errors = page_for(device)
    bare.goto(f"{lantern.base_url}/jobs/{job_id}")
    bare.wait_for_selector("#mint-button", state="visible", timeout=60_000)
    press(bare, device, "#mint-button")
    said = wait_status(bare, "wallet extension")
    assert said.startswith("Minting needs a wallet extension"), said
    assert bare.is_enabled("#mint-button")

    # a server with no chain: no button, a short note
    off, off_shot, off_errors = page_for(device)

    def no_chain(route: Route) -> None:
        error = {"code": "chain_unavailable", "message": "minting is off: no chain is configured"}
        route.fulfill(status=503, json={"error": error})

    off.route("**/api/v1/chain", no_chain)
    off.goto(f"{lantern.base_url}/jobs/{job_id}")
    said = wait_status(off, "not available", timeout=60)
    assert "no chain is configured" in said
    assert off.is_hidden("#mint-button")
    off_shot("no-chain")
    assert errors == bare_errors == off_errors == []
