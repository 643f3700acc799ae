"""Chain stage: match the contract's mints to jobs, mark them ``minted``, name their tokens.

Two records meet on ``chain-events``, keyed by a metadata URI (``ipfs://<cid>``):

- ``MintLink`` from the pin stage, once a job is completed: this URI is that job's metadata;
- ``TokenMinted`` from the chain watcher (``chain_watch.py``): a token was minted with it.

The ``mint-links`` table keeps both per URI, so they match whichever comes first. Once both are
known, the job's status moves to ``minted`` with its token id, owner, transaction and block.
With the owner key set, the stage then names the token: it pins the job's metadata again as
``Gen1 #<id>`` and points the token at it (``updateMetadata``, ERC-4906 ``MetadataUpdate``).

A log read twice (a watcher restarting between publishing mints and saving its place, a reorg
re-read) changes nothing: the token is the URI's first, and the status fold ignores a repeated
``minted``. A second token minted with a URI already minted is logged, not counted.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import faust
from faust.types import TableT

from chain.gen1 import Gen1Chain
from lantern.contract import MintLink, TokenMinted
from pinning.metadata import RENDERER_VERSION, build_metadata, canonical_json
from pinning.pinner import Pinner

from .pipeline import Pipeline
from .schema import RecordSchema
from .topics import MINT_LINKS_TABLE, STATUS_CHANGELOG_CONFIG

__all__ = ["MintMatch", "attach", "attach_updates", "contiguous", "match"]

log = logging.getLogger(__name__)


class MintMatch(faust.Record, serializer="json", namespace="lantern.MintMatch"):
    """What is known of one metadata URI: its job, its token, the name given to the token."""

    link: MintLink | None = None
    mint: TokenMinted | None = None
    named_uri: str = ""  # the ``Gen1 #<id>`` metadata the token points at, once it does


def match(current: MintMatch | None, event: MintLink | TokenMinted) -> MintMatch:
    """The URI's record after ``event``: a link fills in the job, a mint the token (the
    first token stays; the same token read again in another block, after a reorg, replaces
    where it lies)."""
    state = current or MintMatch()
    if isinstance(event, MintLink):
        return state.derive(link=event)
    if state.mint is not None and state.mint.token_id != event.token_id:
        return state  # minted again under another token id: the job keeps its first
    return state.derive(mint=event)


def minted_token(mint: TokenMinted) -> dict[str, Any]:
    """The ``token`` a minted status carries (never the names: a repeat must not undo them)."""
    return {
        "token_id": mint.token_id,
        "owner": mint.owner,
        "tx_hash": mint.tx_hash,
        "block_number": mint.block_number,
        "chain_id": mint.chain_id,
        "contract": mint.contract,
    }


def attach(app: faust.App, pipe: Pipeline, pinner: Pinner) -> faust.TopicT:
    """Declare ``chain-events``, the ``mint-links`` table and the agent matching them."""
    partitions = pipe.settings.kafka.partitions
    name = pipe.names.chain_events
    schema = RecordSchema(key_type=str, value_type=None)  # links and mints, by namespace
    topic = app.topic(name, schema=schema, partitions=partitions)
    table: TableT[str, MintMatch] = app.Table(
        MINT_LINKS_TABLE,
        key_type=str,
        value_type=MintMatch,
        partitions=partitions,
        default=None,
        extra_topic_configs=STATUS_CHANGELOG_CONFIG,
    )
    chain = Gen1Chain(pipe.settings.chain) if pipe.settings.chain.active else None

    @app.agent(topic, name="lantern.chain", concurrency=1)  # only concurrency 1 may write
    async def chain_events(values: faust.StreamT[Any]) -> None:
        try:
            async for value in values:
                if not isinstance(value, MintLink | TokenMinted):
                    log.warning("chain-events: skipped a value that is no MintLink or "
                                "TokenMinted: %.200r", value)  # fmt: skip
                    continue
                uri = value.metadata_uri
                before = table.get(uri)
                after = match(before, value)
                if after is not before:
                    table[uri] = after
                _log_event(value, before, after)
                if after.link is None or after.mint is None:
                    continue  # the other half has not come yet
                if before is None or before.link is None or before.mint is None:
                    pipe.metrics.tokens_minted.inc()  # the first time the two meet
                work = partial(_minted, pipe, pinner, chain, table, uri, after)
                job_id = after.link.job_id
                await pipe.guard("chain", value, work, job_id=job_id, topic=name, key=uri)
        finally:
            if chain is not None:
                await chain.close()

    return topic


BATCH_MAX = 50  # tokens in one batchUpdateMetadata (bounds its gas: ~25k gas a URI)
BATCH_WITHIN_S = 2.0  # how long updates wait for others to batch with


def attach_updates(app: faust.App, pipe: Pipeline) -> faust.TopicT:
    """Declare ``token-updates`` and the agent that points replayed tokens at their new
    metadata, batching contiguous tokens into one ``batchUpdateMetadata``."""
    name = pipe.names.token_updates
    partitions = pipe.names.partitions(name, pipe.settings)
    topic = app.topic(name, key_type=str, value_type=MintLink, partitions=partitions)
    chain = Gen1Chain(pipe.settings.chain) if pipe.settings.chain.active else None

    @app.agent(topic, name="lantern.chain.update", concurrency=1)
    async def update_tokens(links: faust.StreamT[MintLink]) -> None:
        try:
            async for batch in links.take(BATCH_MAX, within=BATCH_WITHIN_S):
                try:
                    await _update_tokens(pipe, chain, batch)
                except Exception as exc:  # one at a time instead, each retried on its own
                    log.warning("token batch of %d failed (%s): updating one by one",
                                len(batch), exc)  # fmt: skip
                    for link in batch:
                        work = partial(_update_tokens, pipe, chain, [link])
                        await pipe.guard("chain", link, work, job_id=link.job_id, topic=name,
                                         key=link.metadata_uri)  # fmt: skip
        finally:
            if chain is not None:
                await chain.close()

    return topic


def contiguous(token_ids: list[int]) -> list[list[int]]:
    """Sorted token ids in runs of consecutive ids: [1, 2, 3, 7, 8] → [[1, 2, 3], [7, 8]]."""
    runs: list[list[int]] = []
    for token_id in sorted(token_ids):
        if runs and token_id == runs[-1][-1] + 1:
            runs[-1].append(token_id)
        else:
            runs.append([token_id])
    return runs


async def _update_tokens(pipe: Pipeline, chain: Gen1Chain | None, links: list[MintLink]) -> None:
    """Point each replayed token at its new metadata: tokens already pointing there get no
    transaction, contiguous ones one ``batchUpdateMetadata``, a lone one ``updateMetadata``;
    then say so on the replay job and on the job that minted the token."""
    latest = {link.token_id: link for link in links if link.token_id is not None}
    if chain is None or chain.owner is None:
        log.warning("%d replayed tokens not updated: no chain or no owner key", len(latest))
        return
    stale = {}
    for token_id, link in latest.items():
        if await chain.token_uri(token_id) != link.metadata_uri:
            stale[token_id] = link
    sent: dict[int, str] = {}
    for run in contiguous(list(stale)):
        if len(run) == 1:
            tx_hash = await chain.update_metadata(run[0], stale[run[0]].metadata_uri)
        else:
            tx_hash = await chain.batch_update_metadata(
                run[0], [stale[t].metadata_uri for t in run]
            )
        sent |= dict.fromkeys(run, tx_hash or "")
    for token_id, link in latest.items():
        await _report_update(pipe, chain, link, token_id, sent.get(token_id, ""))
    if stale:
        log.info("updated %d tokens in %d transactions", len(stale), len(set(sent.values())))


async def _report_update(
    pipe: Pipeline, chain: Gen1Chain, link: MintLink, token_id: int, tx_hash: str
) -> None:
    cid = link.metadata_uri.removeprefix("ipfs://")
    token: dict[str, Any] = {
        "token_id": token_id,
        "token_uri": link.metadata_uri,
        "metadata_cid": cid,
        "metadata_url": pipe.gateway_url(cid),
        "contract": chain.address,
        "chain_id": pipe.settings.chain.chain_id,
    }
    if tx_hash:
        token["update_tx"] = tx_hash
    detail = f"token #{token_id} updated" if tx_hash else f"token #{token_id} already current"
    await pipe.report(link.job_id, "minted", 100, stage="chain", detail=detail, token=token)
    if link.replay_of:  # the token's own job follows its metadata
        await pipe.report(link.replay_of, "minted", 100, stage="chain",
                          detail=f"re-rendered by {link.job_id}", token=token)  # fmt: skip


def _log_event(event: MintLink | TokenMinted, before: MintMatch | None, after: MintMatch) -> None:
    if isinstance(event, TokenMinted):
        if before is not None and before.mint and before.mint.token_id != event.token_id:
            log.warning("token %d minted with %s, already minted as token %d: not counted",
                        event.token_id, event.metadata_uri, before.mint.token_id)  # fmt: skip
        elif after.link is None:
            log.info("token %d minted with %s: no job known for it (yet)",
                     event.token_id, event.metadata_uri)  # fmt: skip


async def _minted(
    pipe: Pipeline,
    pinner: Pinner,
    chain: Gen1Chain | None,
    table: TableT[str, MintMatch],
    uri: str,
    state: MintMatch,
) -> None:
    """Report the job minted; then, with the owner key, name its token."""
    link, mint = state.link, state.mint
    assert link is not None and mint is not None
    await pipe.report(
        link.job_id, "minted", 100, stage="chain",
        detail=f"minted as token #{mint.token_id}", token=minted_token(mint),
    )  # fmt: skip
    log.info("minted job=%s token=%d tx=%s", link.job_id, mint.token_id, mint.tx_hash)
    if chain is None or chain.owner is None or state.named_uri:
        return
    named = await _name_token(pipe, pinner, chain, link, mint)
    table[uri] = state.derive(named_uri=named)


async def _name_token(
    pipe: Pipeline, pinner: Pinner, chain: Gen1Chain, link: MintLink, mint: TokenMinted
) -> str:
    """Pin the job's metadata named ``Gen1 #<id>``, point the token at it, report it."""
    metadata = build_metadata(
        job_id=link.job_id,
        settings=link.settings,
        options=link.options,
        gif_cid=link.gif_cid,
        gif_size=link.gif_size,
        external_url=f"{pipe.settings.api.base_url}/jobs/{link.job_id}",
        token_id=mint.token_id,
        renderer_version=link.renderer_version or RENDERER_VERSION,
    )
    pinned = await pinner.pin_bytes(
        canonical_json(metadata),
        content_type="application/json",
        name=f"gen1-{mint.token_id}.json",
        keyvalues={"job_id": link.job_id, "token_id": str(mint.token_id), "kind": "metadata"},
    )
    named = f"ipfs://{pinned.cid}"
    tx_hash = await chain.update_metadata(mint.token_id, named)
    token = {
        "token_id": mint.token_id,
        "token_uri": named,
        "metadata_cid": pinned.cid,
        "metadata_url": pipe.gateway_url(pinned.cid),
    }
    if tx_hash:
        token["named_tx"] = tx_hash
    await pipe.report(link.job_id, "minted", 100, stage="chain",
                      detail=f"token #{mint.token_id} named", token=token)  # fmt: skip
    log.info("named token=%d job=%s metadata=%s", mint.token_id, link.job_id, pinned.cid)
    return named
