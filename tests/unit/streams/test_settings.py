"""Settings from LANTERN_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings, SettingsEnvError, env_help


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
