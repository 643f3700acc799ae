"""A prototype for bench/guarantee.py, not part of Lantern: faust exactly-once on Lantern.

faust 0.15.3's TransactionManager picks the transactional producer by the *destination*
partition ("{app}-{group}-{partition}"), assuming every output goes to the same partition number
as its input. Lantern fans frame tasks out over all partitions and keys status by job, so a send
to a partition the worker does not own fails ("No transaction producer found"). Here, as Kafka
Streams does, the producer is the one of the partition of the event being processed: its output
and its consumed offset commit in one transaction; sends outside any event (timers) go through
the plain idempotent producer. Appended to streams/app.py of a snapshot for the second
measurement in bench/RESULTS.md ("Exactly-once against at-least-once").
"""

from __future__ import annotations

from typing import Any

from faust.streams import current_event
from faust.transport.consumer import TransactionManager


async def _send_by_source(
    self: Any,
    topic: str,
    key: Any,
    value: Any,
    partition: int | None,
    timestamp: float | None,
    headers: Any,
    *,
    transactional_id: str | None = None,
) -> Any:
    target = self.consumer.key_partition(topic, key, partition)
    tid = None
    event = current_event()
    if event is not None:
        message = event.message
        group = self.app.assignor.group_for_topic(message.topic)
        candidate = f"{self.app.conf.id}-{group}-{message.partition}"
        if candidate in self.producer._transaction_producers:
            tid = candidate
    return await self.producer.send(
        topic, key, value, target, timestamp, headers, transactional_id=tid
    )


TransactionManager.send = _send_by_source  # type: ignore[method-assign]
