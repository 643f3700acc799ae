"""Chain watcher: read the Gen1 contract's mints block by block onto ``chain-events``.

One worker watches at a time (the group's leader). Each look it reads the blocks after its
place up to ``confirmations`` behind the head (at most ``max_blocks`` at once), publishes every
``Gen1Minted`` log as a ``TokenMinted`` (keyed by the token's metadata URI, for the chain stage),
and only then saves its new place — the block and its hash — on the compacted ``chain-cursor``
topic. So a watcher stopped anywhere, or a new leader, resumes from the last place saved and
misses nothing; what it reads twice the chain stage counts once.

A reorg: when the block at the saved place no longer has the saved hash, the watcher reads the
last ``reorg_depth`` blocks again (a mint re-included elsewhere updates where the token lies).
Reorgs shallower than ``confirmations`` never reach it at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from web3.exceptions import Web3Exception

from chain.gen1 import Gen1Chain, Mint
from lantern.contract import ChainCursor, TokenMinted
from lantern.settings import Settings

from .kafka_security import kafka_client_options
from .pipeline import Pipeline

__all__ = ["CursorLog", "Watcher", "attach", "next_range"]

log = logging.getLogger(__name__)


def next_range(
    saved: ChainCursor | None,
    still_there: bool,
    head: int,
    *,
    from_block: int,
    confirmations: int,
    reorg_depth: int,
    max_blocks: int,
) -> tuple[int, int] | None:
    """The blocks to read next (first, last), or None when there is nothing new.

    ``still_there``: the saved block still has the saved hash (else a reorg replaced it)."""
    if saved is None:
        first = from_block
    elif still_there:
        first = saved.block_number + 1
    else:
        first = max(from_block, saved.block_number - reorg_depth + 1)
    last = min(head - confirmations, first + max_blocks - 1)
    return (first, last) if last >= first else None


class CursorLog:
    """The watcher's place on ``chain-cursor``: the newest record under its key."""

    def __init__(self, settings: Settings, topic: str, key: str) -> None:
        self.settings, self.key = settings, key.encode()
        self.tp = TopicPartition(topic, 0)
        self.latest: ChainCursor | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def load(self) -> ChainCursor | None:
        """The newest place saved by any worker (read up to the topic's end)."""
        if self._consumer is None:
            k = self.settings.kafka
            consumer = AIOKafkaConsumer(
                bootstrap_servers=k.bootstrap,
                enable_auto_commit=False,
                request_timeout_ms=int(k.request_timeout_s * 1000) + 5000,
                **kafka_client_options(k),
            )
            await consumer.start()
            consumer.assign([self.tp])
            await consumer.seek_to_beginning(self.tp)
            self._consumer = consumer
        consumer = self._consumer
        end = (await consumer.end_offsets([self.tp]))[self.tp]
        while await consumer.position(self.tp) < end:
            batch = await consumer.getmany(self.tp, timeout_ms=1000)
            for record in batch.get(self.tp, []):
                if record.key == self.key and record.value:
                    self.latest = ChainCursor.from_data(json.loads(record.value))
        return self.latest

    async def close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None


class Watcher:
    """One look at a time: read the next blocks, publish their mints, save the place."""

    def __init__(self, pipe: Pipeline, events: faust.TopicT, cursors: faust.TopicT) -> None:
        self.pipe, self.events, self.cursors = pipe, events, cursors
        self.chain_settings = pipe.settings.chain
        self.chain = Gen1Chain(self.chain_settings)
        key = f"{self.chain_settings.chain_id}:{self.chain.address.lower()}"
        self.key = key
        self.cursor = CursorLog(pipe.settings, pipe.names.chain_cursor, key)

    async def look(self) -> int:
        """Read what is new; the number of mints published."""
        c = self.chain_settings
        saved = await self.cursor.load()
        still_there = True
        if saved is not None:
            still_there = await self.chain.block_hash(saved.block_number) == saved.block_hash
            if not still_there:
                log.warning("chain reorg: block %d is no longer %s; reading the last %d "
                            "blocks again", saved.block_number, saved.block_hash,
                            c.reorg_depth)  # fmt: skip
        head = await self.chain.head()
        self.pipe.metrics.chain_block.labels("head").set(head)
        span = next_range(
            saved, still_there, head,
            from_block=c.from_block, confirmations=c.confirmations,
            reorg_depth=c.reorg_depth, max_blocks=c.max_blocks,
        )  # fmt: skip
        if span is None:
            return 0
        first, last = span
        last_hash = await self.chain.block_hash(last)
        mints = await self.chain.mints(first, last)
        for mint in mints:
            await self.pipe.publish(self.events, mint.metadata_uri, self._record(mint))
        if last_hash is None:
            return len(mints)  # the node lost the block meanwhile: read it again next look
        self.pipe.enter("chain.cursor", len(mints))  # (fault drills only)
        place = ChainCursor(
            chain_id=c.chain_id, contract=self.chain.address, block_number=last,
            block_hash=last_hash, at=time.time(),
        )  # fmt: skip
        await self.pipe.publish(self.cursors, self.key, place)
        self.cursor.latest = place  # ours is the newest (the next load reads it back too)
        self.pipe.metrics.chain_block.labels("read").set(last)
        if mints:
            log.info("chain: %d mints in blocks %d–%d", len(mints), first, last)
        return len(mints)

    def _record(self, mint: Mint) -> TokenMinted:
        return TokenMinted(
            metadata_uri=mint.metadata_uri,
            token_id=mint.token_id,
            owner=mint.to,
            image_url=mint.image_url,
            tx_hash=mint.tx_hash,
            block_number=mint.block_number,
            block_hash=mint.block_hash,
            log_index=mint.log_index,
            chain_id=self.chain_settings.chain_id,
            contract=self.chain.address,
        )

    async def close(self) -> None:
        await self.cursor.close()
        await self.chain.close()


def attach(app: faust.App, pipe: Pipeline, events: faust.TopicT) -> Watcher | None:
    """Watch the contract from the group's leader, if a chain is configured."""
    if not pipe.settings.chain.active:
        return None
    name = pipe.names.chain_cursor
    partitions = pipe.names.partitions(name, pipe.settings)
    cursors = app.topic(name, key_type=str, value_type=ChainCursor, partitions=partitions)
    watcher = Watcher(pipe, events, cursors)
    errors: dict[str, Any] = {"last": ""}

    @app.timer(pipe.settings.chain.poll_s, on_leader=True, name="lantern.chain.watch")  # type: ignore[untyped-decorator]
    async def watch() -> None:
        try:
            await watcher.look()
        except (Web3Exception, OSError, TimeoutError, KafkaError) as exc:
            # the node or the broker is away: the place is unchanged, the next look retries
            message = f"{type(exc).__name__}: {exc}"
            if message != errors["last"]:
                log.warning("chain watcher: %s", message)
            errors["last"] = message
            await watcher.cursor.close()  # reconnect next time
        else:
            errors["last"] = ""

    async def close(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await watcher.close()

    app.on_before_shutdown.connect(close)
    return watcher
