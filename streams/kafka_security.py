"""How Lantern's Kafka clients authenticate: TLS and SASL (SCRAM-SHA-256/512, PLAIN).

Every client Lantern creates takes its security from ``KafkaSettings`` through these two
functions, so an API, a worker and the admin clients all speak the same protocol::

    AIOKafkaProducer(bootstrap_servers=k.bootstrap, **kafka_client_options(k))
    faust.App(..., broker_credentials=faust_credentials(k))

The password goes to the clients only; nothing here logs it.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
from aiokafka.helpers import create_ssl_context

from lantern.settings import PREFIX, KafkaSettings, SettingsEnvError

__all__ = ["faust_credentials", "kafka_client_options", "ssl_context"]


def kafka_client_options(k: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
    options: dict[str, Any] = {"security_protocol": k.security_protocol}
    if k.security_protocol in {"SSL", "SASL_SSL"}:
        options["ssl_context"] = ssl_context(k)
    if k.security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = k.sasl_mechanism
        options["sasl_plain_username"] = k.sasl_username
        options["sasl_plain_password"] = k.sasl_password
    return options


def faust_credentials(k: KafkaSettings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """faust's ``broker_credentials``: its aiokafka transport maps them to the same options."""
    if k.security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=k.sasl_username,
            password=k.sasl_password,
            mechanism=k.sasl_mechanism,
            # with a context faust speaks SASL_SSL, without SASL_PLAINTEXT
            ssl_context=ssl_context(k) if k.security_protocol == "SASL_SSL" else None,
        )
    if k.security_protocol == "SSL":
        return faust.SSLCredentials(ssl_context(k))
    return None


def ssl_context(k: KafkaSettings) -> ssl.SSLContext:
    """A client TLS context: brokers verified (hostname included) against ``ssl_cafile`` or the
    system CAs, and the client certificate when one is configured."""
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(k, name)
        if path and not Path(path).is_file():
            raise SettingsEnvError(f"{PREFIX}KAFKA_{name.upper()}={path!r}: no such file")
    context: ssl.SSLContext = create_ssl_context(
        cafile=k.ssl_cafile or None,
        certfile=k.ssl_certfile or None,
        keyfile=k.ssl_keyfile or None,
    )
    return context
