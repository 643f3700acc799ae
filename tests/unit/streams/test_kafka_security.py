"""The aiokafka options and faust credentials built from KafkaSettings (no broker here: the
integration tests connect them to a real one)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from lantern.settings import KafkaSettings, SettingsEnvError
from streams.kafka_security import faust_credentials, kafka_client_options
from tests.certs import TestCerts, have_openssl, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TestCerts:
    if not have_openssl():
        pytest.skip("no openssl command")
    return make_certs(tmp_path_factory.mktemp("certs"))


def kafka(**changes: Any) -> KafkaSettings:
    return KafkaSettings(bootstrap="kafka.example:9093", **changes)


SASL = {"sasl_username": "lantern", "sasl_password": "s3cret"}


def test_plaintext_adds_nothing_but_the_protocol() -> None:
    assert kafka_client_options(kafka()) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(kafka()) is None


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_sasl_plaintext(mechanism: str) -> None:
    k = kafka(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism, **SASL)
    expected = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "lantern",
        "sasl_plain_password": "s3cret",
    }
    assert kafka_client_options(k) == expected
    credentials = faust_credentials(k)
    assert isinstance(credentials, faust.SASLCredentials)
    # what faust's aiokafka transport makes of them: the same options, no TLS
    assert credentials_to_aiokafka_auth(credentials) == {**expected, "ssl_context": None}
    assert "s3cret" not in repr(credentials)


def test_sasl_ssl_uses_the_system_cas_without_a_cafile() -> None:
    k = kafka(security_protocol="SASL_SSL", **SASL)
    options = kafka_client_options(k)
    context = options.pop("ssl_context")
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "lantern",
        "sasl_plain_password": "s3cret",
    }
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    auth = credentials_to_aiokafka_auth(faust_credentials(k))
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert isinstance(auth["ssl_context"], ssl.SSLContext)


def test_ssl_context_from_the_given_files(certs: TestCerts) -> None:
    k = kafka(
        security_protocol="SSL",
        ssl_cafile=str(certs.ca),
        ssl_certfile=str(certs.client_cert),
        ssl_keyfile=str(certs.client_key),
    )
    options = kafka_client_options(k)
    assert set(options) == {"security_protocol", "ssl_context"}
    assert options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    # the test CA, and only it, is trusted
    trusted = [dict(x[0] for x in ca["subject"]) for ca in context.get_ca_certs()]
    assert trusted == [{"commonName": "lantern-test-ca"}]
    auth = credentials_to_aiokafka_auth(faust_credentials(k))
    assert auth["security_protocol"] == "SSL"
    assert [c["subject"] for c in auth["ssl_context"].get_ca_certs()] == [
        c["subject"] for c in context.get_ca_certs()
    ]


def test_a_key_that_does_not_match_its_certificate_is_refused(certs: TestCerts) -> None:
    k = kafka(
        security_protocol="SSL",
        ssl_certfile=str(certs.client_cert),
        ssl_keyfile=str(certs.server_key),
    )
    with pytest.raises(ssl.SSLError):
        kafka_client_options(k)


def test_a_missing_file_names_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    k = kafka(security_protocol="SASL_SSL", ssl_cafile=str(missing), **SASL)
    with pytest.raises(SettingsEnvError, match=r"LANTERN_KAFKA_SSL_CAFILE='.*nowhere.pem'"):
        kafka_client_options(k)
    with pytest.raises(SettingsEnvError, match="LANTERN_KAFKA_SSL_CAFILE"):
        faust_credentials(k)
