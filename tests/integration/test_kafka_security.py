"""A secured cluster: Lantern's Kafka clients over SASL (SCRAM, PLAIN) and TLS, on a real broker.

The module starts its own KRaft broker. Beside its PLAINTEXT listener (inter-broker, the
controller's) it serves:

* ``SASL``    SASL_PLAINTEXT with SCRAM-SHA-512, SCRAM-SHA-256 (credentials made by
  ``kafka-storage format --add-scram``) and PLAIN;
* ``SASLSSL`` SASL_SSL, the same mechanisms, behind a certificate for 127.0.0.1 from a test CA;
* ``MTLS``    SSL that requires a client certificate from that CA.

The TLS listeners need the ``openssl`` command for their certificates; without it only the
SASL_PLAINTEXT tests run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from lantern.settings import KafkaSettings, Settings
from streams.broker import EmbeddedKafka, free_port
from streams.kafka_security import kafka_client_options
from streams.topics import TopicNames, ensure_topics
from streams.watch import CommittedOffsets
from tests.certs import TestCerts, have_openssl, make_certs

from .conftest import ARTIFACTS, _await_log, _await_ready, _spawn, _stop, lantern_env

pytestmark = pytest.mark.integration

USER = "lantern"
PASSWORD = f"pw-{uuid.uuid4().hex}"  # no ',' '[' ']' '=': --add-scram's syntax
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
PLAIN = (
    f'org.apache.kafka.common.security.plain.PlainLoginModule required user_{USER}="{PASSWORD}";'
)
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"  # an EIP-55 test vector


@dataclasses.dataclass(frozen=True)
class SecureBroker:
    sasl: str  # bootstrap of the SASL_PLAINTEXT listener
    sasl_ssl: str  # "" without openssl
    mtls: str
    certs: TestCerts | None


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    root = tmp_path_factory.mktemp("secure-kafka")
    certs = make_certs(root / "certs") if have_openssl() else None
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    sasl_port, sasl_ssl_port, mtls_port = sorted(ports)
    listeners = {"SASL": ("SASL_PLAINTEXT", sasl_port)}
    properties = {"sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN"}
    sasl_listeners = ["sasl"]
    if certs is not None:
        listeners |= {"SASLSSL": ("SASL_SSL", sasl_ssl_port), "MTLS": ("SSL", mtls_port)}
        sasl_listeners.append("saslssl")
        properties |= {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(certs.server_keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(certs.ca),
            "listener.name.mtls.ssl.client.auth": "required",
        }
    for listener in sasl_listeners:
        properties |= {
            f"listener.name.{listener}.scram-sha-512.sasl.jaas.config": SCRAM,
            f"listener.name.{listener}.scram-sha-256.sasl.jaas.config": SCRAM,
            f"listener.name.{listener}.plain.sasl.jaas.config": PLAIN,
        }
    scram = [
        arg
        for mechanism in ("SCRAM-SHA-512", "SCRAM-SHA-256")
        for arg in ("--add-scram", f"{mechanism}=[name={USER},password={PASSWORD}]")
    ]
    broker = EmbeddedKafka(
        dataclasses.replace(KafkaSettings(), data_dir=root / "kafka", partitions=2),
        extra_listeners=listeners,
        extra_properties=properties,
        format_args=scram,
    )
    broker.start()
    try:
        yield SecureBroker(
            sasl=f"127.0.0.1:{sasl_port}",
            sasl_ssl=f"127.0.0.1:{sasl_ssl_port}" if certs else "",
            mtls=f"127.0.0.1:{mtls_port}" if certs else "",
            certs=certs,
        )
    finally:
        broker.stop()
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "secure-broker.log").write_bytes(broker.log_path.read_bytes())


def secured(bootstrap: str, protocol: str, **changes: Any) -> Settings:
    """Settings of a client of the secured broker, on topics of its own."""
    sasl = {"sasl_username": USER, "sasl_password": PASSWORD} if "SASL" in protocol else {}
    kafka = KafkaSettings(
        bootstrap=bootstrap,
        topic_prefix=f"sec-{uuid.uuid4().hex[:8]}",
        partitions=2,
        request_timeout_s=5.0,
        security_protocol=protocol,
        **{**sasl, **changes},
    )
    return dataclasses.replace(Settings(), kafka=kafka)


async def round_trip(k: KafkaSettings, topic: str, value: bytes) -> list[bytes]:
    """Produce ``value`` with a client built from ``kafka_client_options``, read it back."""
    producer = AIOKafkaProducer(
        bootstrap_servers=k.bootstrap, acks="all", **kafka_client_options(k)
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=k.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        **kafka_client_options(k),
    )
    await consumer.start()
    try:
        seen: list[bytes] = []
        deadline = time.monotonic() + 10
        while value not in seen and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            seen += [r.value for rs in batches.values() for r in rs if r.value is not None]
        return seen
    finally:
        await consumer.stop()


async def created_and_carried(settings: Settings) -> None:
    """Lantern's topics created through ``ensure_topics``; a record there and back."""
    names = TopicNames.from_settings(settings)
    created = await asyncio.wait_for(ensure_topics(settings, timeout=20), 30)
    assert names.mint_requests in created
    assert await round_trip(settings.kafka, names.status, b"secured") == [b"secured"]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
async def test_sasl_clients_create_topics_produce_and_consume(
    secure_broker: SecureBroker, mechanism: str
) -> None:
    settings = secured(secure_broker.sasl, "SASL_PLAINTEXT", sasl_mechanism=mechanism)
    await created_and_carried(settings)
    # the watcher's admin client (streams/watch.py) answers too: no group yet, no offsets
    # (None, "unavailable", while a fresh broker still creates its offsets topic)
    offsets = CommittedOffsets(
        settings.kafka.bootstrap,
        settings.worker.app_id,
        TopicNames.from_settings(settings).mint_requests,
        kafka_client_options(settings.kafka),
    )
    try:
        deadline = time.monotonic() + 15
        while (found := await asyncio.wait_for(offsets.fetch(), 10)) is None:
            assert time.monotonic() < deadline, "committed offsets never answered"
            await asyncio.sleep(0.5)
        assert found == {}
    finally:
        await offsets.close()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
async def test_a_wrong_password_is_refused_at_once(
    secure_broker: SecureBroker, mechanism: str, caplog: pytest.LogCaptureFixture
) -> None:
    k = secured(
        secure_broker.sasl, "SASL_PLAINTEXT", sasl_mechanism=mechanism, sasl_password="wrong"
    ).kafka
    await refused(k, caplog, "SaslAuthenticationFailed")


async def refused(k: KafkaSettings, caplog: pytest.LogCaptureFixture, why: str) -> None:
    """A client of ``k`` fails to start within seconds (no hang) and aiokafka logs ``why``:
    it reports every bootstrap failure as KafkaConnectionError, the cause in its log."""
    producer = AIOKafkaProducer(bootstrap_servers=k.bootstrap, **kafka_client_options(k))
    started = time.monotonic()
    try:
        with (
            caplog.at_level(logging.ERROR, logger="aiokafka"),
            pytest.raises(KafkaConnectionError),
        ):
            await asyncio.wait_for(producer.start(), 20)  # a hang: TimeoutError
    finally:
        await producer.stop()
    assert time.monotonic() - started < 10
    assert why in caplog.text


async def test_sasl_ssl_checks_the_broker_certificate(
    secure_broker: SecureBroker, caplog: pytest.LogCaptureFixture
) -> None:
    if secure_broker.certs is None:
        pytest.skip("no openssl: no TLS listener")
    settings = secured(secure_broker.sasl_ssl, "SASL_SSL", ssl_cafile=str(secure_broker.certs.ca))
    await created_and_carried(settings)
    # without the test CA the broker's certificate is not trusted: refused, not hung
    await refused(secured(secure_broker.sasl_ssl, "SASL_SSL").kafka, caplog, "CERTIFICATE_VERIFY")


async def test_mutual_tls_with_a_client_certificate(secure_broker: SecureBroker) -> None:
    certs = secure_broker.certs
    if certs is None:
        pytest.skip("no openssl: no TLS listener")
    settings = secured(
        secure_broker.mtls,
        "SSL",
        ssl_cafile=str(certs.ca),
        ssl_certfile=str(certs.client_cert),
        ssl_keyfile=str(certs.client_key),
    )
    await created_and_carried(settings)


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [("SASL_PLAINTEXT", "SCRAM-SHA-512"), ("SASL_SSL", "SCRAM-SHA-256"), ("SSL", "")],
)
async def test_worker_and_api_on_a_secured_cluster(
    secure_broker: SecureBroker, tmp_path: Path, protocol: str, mechanism: str
) -> None:
    """``lantern worker`` (faust) and ``lantern api``, configured by ``LANTERN_KAFKA_*`` only,
    authenticate, and a small job goes all the way through them."""
    certs = secure_broker.certs
    bootstrap = {
        "SASL_PLAINTEXT": secure_broker.sasl,
        "SASL_SSL": secure_broker.sasl_ssl,
        "SSL": secure_broker.mtls,
    }
    if protocol != "SASL_PLAINTEXT" and certs is None:
        pytest.skip("no openssl: no TLS listener")
    name = f"lantern-{protocol.lower()}-{os.getpid()}"
    port = free_port()
    env = {
        **lantern_env(bootstrap[protocol], name, port, tmp_path / "ipfs"),
        "LANTERN_KAFKA_PARTITIONS": "2",
        "LANTERN_KAFKA_SECURITY_PROTOCOL": protocol,
        "LANTERN_WORKER_PROCESSES": "1",
    }
    if mechanism:
        env["LANTERN_KAFKA_SASL_MECHANISM"] = mechanism
        env["LANTERN_KAFKA_SASL_USERNAME"] = USER
        env["LANTERN_KAFKA_SASL_PASSWORD"] = PASSWORD
    if certs is not None and protocol != "SASL_PLAINTEXT":
        env["LANTERN_KAFKA_SSL_CAFILE"] = str(certs.ca)
    if certs is not None and protocol == "SSL":
        env["LANTERN_KAFKA_SSL_CERTFILE"] = str(certs.client_cert)
        env["LANTERN_KAFKA_SSL_KEYFILE"] = str(certs.client_key)
    settings = Settings.from_env(env)
    await asyncio.wait_for(ensure_topics(settings, timeout=20), 30)
    ARTIFACTS.mkdir(exist_ok=True)
    worker_log, api_log = ARTIFACTS / f"{name}-worker.log", ARTIFACTS / f"{name}-api.log"
    worker = _spawn(["worker"], env, worker_log)
    api = _spawn(["api"], env, api_log)
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(_await_log, worker, worker_log, "Ready", 45)
        await asyncio.to_thread(_await_ready, api, f"{base}/readyz", 30)
        async with aiohttp.ClientSession() as http:
            body = {"settings": {}, "options": {"size": 64, "frames": 2}, "wallet": WALLET}
            async with http.post(f"{base}/api/v1/mints", json=body) as response:
                assert response.status == 202, await response.text()
                job_id = (await response.json())["job_id"]
            deadline = time.monotonic() + 40
            job: dict[str, Any] = {}
            while time.monotonic() < deadline:
                async with http.get(f"{base}/api/v1/jobs/{job_id}") as response:
                    job = await response.json()
                if job["state"] in {"completed", "failed"}:
                    break
                await asyncio.sleep(0.25)
        assert job.get("state") == "completed", job
    finally:
        for proc in (api, worker):
            await asyncio.to_thread(_stop, proc)
    for log_path in (worker_log, api_log):
        assert PASSWORD not in log_path.read_text(errors="replace"), f"{log_path} shows it"
