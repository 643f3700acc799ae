"""The on-chain mint, from the API's side: the chain's terms for the page, and a completed job's
unsigned ``mint`` transaction for the wallet that submitted it (the user signs and sends it;
the chain stage sees the mint and moves the job to ``minted``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from eth_utils.address import is_address, to_checksum_address
from web3.exceptions import Web3Exception

from chain.errors import MintRefused
from chain.gen1 import eth
from lantern.settings import ChainSettings

from .chain import ChainAccess
from .errors import ApiError
from .keys import CHAIN, SETTINGS
from .views import find_job

__all__ = ["chain_access", "chain_info", "mint_tx"]

log = logging.getLogger(__name__)

# what the contract refuses, and how the API answers it
_REFUSALS = {"sold_out": 409, "insufficient_funds": 422}


async def chain_access(app: web.Application) -> AsyncIterator[None]:
    """The chain client for the app's life (cleanup context)."""
    app[CHAIN] = ChainAccess(app[SETTINGS].chain)
    yield
    await app[CHAIN].close()


def _public(settings: ChainSettings) -> dict[str, Any]:
    return {
        "chain_id": settings.chain_id,
        "chain_id_hex": hex(settings.chain_id),
        "chain_name": settings.chain_name,
        "rpc_url": settings.public_rpc or settings.rpc,
        "contract": settings.contract,
    }


async def chain_info(request: web.Request) -> web.Response:
    """``GET /api/v1/chain`` → where tokens are minted and at what terms; ``{"enabled":
    false}`` when minting is off (no chain configured)."""
    access = request.app[CHAIN]
    if access.client is None:
        return web.json_response({"enabled": False})
    chain = await access.ready()
    try:
        terms = await chain.terms()
    except (Web3Exception, OSError, TimeoutError) as exc:
        raise _unreachable(exc) from exc
    price = terms["price_wei"]
    body = {
        "enabled": True,
        **_public(access.settings),
        **terms,
        "price_wei": str(price),
        "price": eth(price),
    }
    return web.json_response(body)


async def mint_tx(request: web.Request) -> web.Response:
    """``GET /api/v1/jobs/{id}/mint-tx?from=0x…`` → the unsigned ``mint`` transaction."""
    sender = request.query.get("from", "")
    if not sender:
        raise ApiError(400, "missing", "from (the wallet address that signs) is required",
                       field="from")  # fmt: skip
    if not is_address(sender):
        raise ApiError(422, "invalid", "from is not an address (0x and 40 hex digits)",
                       field="from")  # fmt: skip
    job = find_job(request, request.match_info["job_id"])
    token = job.get("token") or {}
    if job["state"] == "minted":
        raise ApiError(409, "already_minted", f"the job is already minted as token "
                       f"#{token.get('token_id')}")  # fmt: skip
    if job["state"] != "completed":
        raise ApiError(409, "not_completed",
                       f"the job is {job['state']}: it can be minted once completed")  # fmt: skip
    wallet = str(job.get("wallet") or "")
    if wallet.lower() != sender.lower():
        raise ApiError(
            403, "not_your_job", "only the wallet that submitted the job can mint it", field="from"
        )
    access = request.app[CHAIN]
    chain = await access.ready()
    result = job.get("result") or {}
    try:
        tx = await chain.mint_transaction(
            sender, f"ipfs://{result['gif_cid']}", str(result["token_uri"])
        )
    except MintRefused as exc:
        status = _REFUSALS.get(exc.code, 409)
        raise ApiError(status, exc.code, str(exc), field="from" if status == 422 else None) from exc
    except (Web3Exception, OSError, TimeoutError) as exc:
        raise _unreachable(exc) from exc
    quantities = {k: hex(int(tx[k])) for k in ("value", "gas", "chainId")}
    return web.json_response(
        {
            "job_id": job["job_id"],
            # eth_sendTransaction's parameters, as an EIP-1193 wallet takes them
            "transaction": {
                "from": to_checksum_address(sender),
                "to": tx["to"],
                "data": tx["data"],
                **quantities,
            },
            "price_wei": str(tx["value"]),
            "price": eth(int(tx["value"])),
            "token_uri": result["token_uri"],
            "chain": _public(access.settings),
        }
    )


def _unreachable(exc: BaseException) -> ApiError:
    log.warning("chain node unreachable: %s", exc)
    return ApiError(503, "chain_unavailable", "the chain cannot be reached now",
                    headers={"Retry-After": "10"})  # fmt: skip
