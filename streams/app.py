"""The faust application: only its configuration (stages attach themselves in worker.py)."""

from __future__ import annotations

import faust

from lantern.settings import Settings

from .kafka_security import faust_credentials
from .resume import LanternApp, LanternTableManager

__all__ = ["create_app"]


def create_app(settings: Settings) -> faust.App:
    """A faust App configured from ``settings`` (broker, partitions, timeouts, message sizes)."""
    k, w = settings.kafka, settings.worker
    return LanternApp(
        w.app_id,
        # resume partitions only after seeking them; commit only processed events (resume.py)
        TableManager=LanternTableManager,
        broker=f"kafka://{k.bootstrap}",
        broker_credentials=faust_credentials(k),  # TLS / SASL of a secured cluster
        store="memory://",  # tables are rebuilt from their changelog topics on start
        # faust's own folder beside the store's, not "<app id>-data" in the working directory
        datadir=str(settings.store.root.with_name("faust")),
        topic_partitions=k.partitions,
        topic_replication_factor=k.replication,
        topic_allow_declare=True,
        # a standby copy of every table on another worker by default: a takeover after a
        # crash starts from it at once (settings.py)
        table_standby_replicas=w.standby_replicas,
        # failover in seconds, not the default minute (NOTES_KAFKA_FAUST: measured ~5 s / ~11 s)
        broker_session_timeout=k.session_timeout_s,
        broker_heartbeat_interval=k.heartbeat_interval_s,
        broker_request_timeout=max(k.request_timeout_s, k.session_timeout_s + 5),
        broker_commit_interval=1.0,
        producer_max_request_size=k.max_message_bytes,
        consumer_max_fetch_size=k.max_message_bytes,
        processing_guarantee=k.processing_guarantee,
        producer_acks=-1,  # every event is on the broker's log before we move on
        stream_processing_timeout=300.0,
        web_enabled=w.web_port > 0,
        web_port=w.web_port or 6066,
        autodiscover=False,
    )
