"""Settings from LANTERN_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from lantern.settings import Settings, SettingsEnvError, env_help


def test_defaults_run_on_a_laptop() -> None:
    settings = Settings.from_env({})
    assert settings.kafka.bootstrap == ""  # the embedded broker
    assert settings.api.base_url == "http://127.0.0.1:8080"


def test_every_group_is_overridable() -> None:
    settings = Settings.from_env(
        {
            "LANTERN_KAFKA_BOOTSTRAP": "kafka:9092",
            "LANTERN_KAFKA_PARTITIONS": "12",
            "LANTERN_KAFKA_SESSION_TIMEOUT_S": "3.5",
            "LANTERN_STORE_ROOT": "/data/ipfs",
            "LANTERN_WORKER_PROCESSES": "3",
            "LANTERN_API_PUBLIC_URL": "https://lantern.example/",
        }
    )
    assert settings.kafka.bootstrap == "kafka:9092"
    assert settings.kafka.partitions == 12
    assert settings.kafka.session_timeout_s == 3.5
    assert settings.store.root == Path("/data/ipfs")
    assert settings.worker.processes == 3
    assert settings.api.base_url == "https://lantern.example"


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsEnvError, match="LANTERN_API_PORT='eighty'"):
        Settings.from_env({"LANTERN_API_PORT": "eighty"})


def test_help_lists_every_variable() -> None:
    text = env_help()
    assert "LANTERN_KAFKA_BOOTSTRAP" in text
    assert "LANTERN_API_PORT (default: 8080)" in text


SCRAM_ENV = {
    "LANTERN_KAFKA_BOOTSTRAP": "kafka-1.example:9096,kafka-2.example:9096",
    "LANTERN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "LANTERN_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
    "LANTERN_KAFKA_SASL_USERNAME": "lantern",
    "LANTERN_KAFKA_SASL_PASSWORD": "s3cret-pass",
    "LANTERN_KAFKA_SSL_CAFILE": "/etc/lantern/ca.pem",
}


def test_kafka_security_defaults_to_plaintext() -> None:
    kafka = Settings.from_env({}).kafka
    assert kafka.security_protocol == "PLAINTEXT"
    assert kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert (kafka.sasl_username, kafka.sasl_password) == ("", "")
    assert (kafka.ssl_cafile, kafka.ssl_certfile, kafka.ssl_keyfile) == ("", "", "")


def test_kafka_security_from_the_environment() -> None:
    kafka = Settings.from_env(SCRAM_ENV).kafka
    assert kafka.security_protocol == "SASL_SSL"
    assert kafka.sasl_mechanism == "SCRAM-SHA-256"
    assert (kafka.sasl_username, kafka.sasl_password) == ("lantern", "s3cret-pass")
    assert kafka.ssl_cafile == "/etc/lantern/ca.pem"


def test_kafka_security_names_are_case_insensitive() -> None:
    kafka = Settings.from_env(
        {
            **SCRAM_ENV,
            "LANTERN_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
            "LANTERN_KAFKA_SASL_MECHANISM": "plain",
            "LANTERN_KAFKA_SSL_CAFILE": "",
        }
    ).kafka
    assert (kafka.security_protocol, kafka.sasl_mechanism) == ("SASL_PLAINTEXT", "PLAIN")


def test_the_sasl_password_is_masked() -> None:
    settings = Settings.from_env(SCRAM_ENV)
    for text in (repr(settings.kafka), repr(settings), str(settings)):
        assert "s3cret-pass" not in text
        assert "sasl_password=***" in text
        assert "sasl_username='lantern'" in text
    assert "s3cret-pass" not in env_help()
    assert "sasl_password=''" in repr(Settings().kafka)  # nothing to hide: shown as empty


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"LANTERN_KAFKA_SECURITY_PROTOCOL": "SASL"},
            r"LANTERN_KAFKA_SECURITY_PROTOCOL='SASL' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT",
        ),
        (
            {"LANTERN_KAFKA_SASL_MECHANISM": "GSSAPI"},
            r"LANTERN_KAFKA_SASL_MECHANISM='GSSAPI' is not one of SCRAM-SHA-512, SCRAM-SHA-256",
        ),
        (
            {"LANTERN_KAFKA_SASL_PASSWORD": ""},
            "SASL_SSL needs LANTERN_KAFKA_SASL_USERNAME and LANTERN_KAFKA_SASL_PASSWORD",
        ),
        (
            {"LANTERN_KAFKA_SASL_USERNAME": ""},
            "SASL_SSL needs LANTERN_KAFKA_SASL_USERNAME and LANTERN_KAFKA_SASL_PASSWORD",
        ),
        (
            {"LANTERN_KAFKA_SECURITY_PROTOCOL": "SSL"},
            "LANTERN_KAFKA_SASL_USERNAME/PASSWORD are set but "
            "LANTERN_KAFKA_SECURITY_PROTOCOL=SSL does not use SASL",
        ),
        (
            {"LANTERN_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"},
            "LANTERN_KAFKA_SSL_CAFILE given but LANTERN_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT "
            "does not use TLS",
        ),
        (
            {"LANTERN_KAFKA_SSL_KEYFILE": "/etc/lantern/client.key"},
            "LANTERN_KAFKA_SSL_KEYFILE needs LANTERN_KAFKA_SSL_CERTFILE",
        ),
        (
            {"LANTERN_KAFKA_BOOTSTRAP": ""},
            "SASL_SSL needs LANTERN_KAFKA_BOOTSTRAP: the embedded broker speaks PLAINTEXT only",
        ),
    ],
)
def test_bad_kafka_security_names_the_variable(changes: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsEnvError, match=message):
        Settings.from_env({**SCRAM_ENV, **changes})


def test_plaintext_refuses_stray_credentials() -> None:
    with pytest.raises(SettingsEnvError, match="does not use SASL"):
        Settings.from_env({"LANTERN_KAFKA_BOOTSTRAP": "k:9092", "LANTERN_KAFKA_SASL_USERNAME": "u"})
    with pytest.raises(SettingsEnvError, match="LANTERN_KAFKA_SSL_CERTFILE given"):
        Settings.from_env({"LANTERN_KAFKA_BOOTSTRAP": "k:9092", "LANTERN_KAFKA_SSL_CERTFILE": "c"})


def test_frame_blocks_travel_through_kafka_unless_told_otherwise() -> None:
    assert Settings.from_env({}).store.blocks_via == "kafka"  # works wherever workers run
    disk = Settings.from_env({"LANTERN_STORE_BLOCKS_VIA": "Disk"}).store
    assert disk.blocks_via == "disk"
    with pytest.raises(SettingsEnvError, match=r"LANTERN_STORE_BLOCKS_VIA='nfs'.*kafka, disk"):
        Settings.from_env({"LANTERN_STORE_BLOCKS_VIA": "nfs"})


def test_standby_table_copies_are_a_setting_and_never_negative() -> None:
    from streams.app import create_app

    assert Settings.from_env({}).worker.standby_replicas == 1
    settings = Settings.from_env({"LANTERN_WORKER_STANDBY_REPLICAS": "0"})
    assert create_app(settings).conf.table_standby_replicas == 0
    with pytest.raises(SettingsEnvError, match="LANTERN_WORKER_STANDBY_REPLICAS=-1"):
        Settings.from_env({"LANTERN_WORKER_STANDBY_REPLICAS": "-1"})


def test_standby_catch_up_defaults_to_two_seconds_and_refuses_a_negative() -> None:
    assert Settings.from_env({}).worker.standby_catchup_s == 2.0
    settings = Settings.from_env({"LANTERN_WORKER_STANDBY_CATCHUP_S": "0"})
    assert settings.worker.standby_catchup_s == 0  # record by record, as faust reads them
    with pytest.raises(SettingsEnvError, match=r"LANTERN_WORKER_STANDBY_CATCHUP_S=-0\.5"):
        Settings.from_env({"LANTERN_WORKER_STANDBY_CATCHUP_S": "-0.5"})


def test_quiet_topics_catch_up_defaults_to_one_second_and_refuses_a_negative() -> None:
    assert Settings.from_env({}).worker.quiet_catchup_s == 1.0
    settings = Settings.from_env({"LANTERN_WORKER_QUIET_CATCHUP_S": "0"})
    assert settings.worker.quiet_catchup_s == 0
    with pytest.raises(SettingsEnvError, match=r"LANTERN_WORKER_QUIET_CATCHUP_S=-1\.0"):
        Settings.from_env({"LANTERN_WORKER_QUIET_CATCHUP_S": "-1"})
