"""Choosing a backend from the settings (LANTERN_PIN_*), and keeping the token secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lantern.settings import PinSettings, Settings
from pinning import LocalStore, PinConfigError, create_backend
from pinning.backends import KuboBackend, LocalBackend, PinataBackend, PsaBackend


def settings(**env: str) -> PinSettings:
    return Settings.from_env(
        {f"LANTERN_PIN_{key.upper()}": value for key, value in env.items()}
    ).pin


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path)


def test_local_is_the_default(store: LocalStore) -> None:
    assert isinstance(create_backend(PinSettings(), store), LocalBackend)


def test_each_backend(store: LocalStore) -> None:
    pinata = create_backend(settings(backend="pinata", token="jwt", cid_version="1"), store)
    assert isinstance(pinata, PinataBackend) and pinata.cid_version == 1
    assert pinata.service.base_url == "https://api.pinata.cloud"
    kubo = create_backend(settings(backend="kubo"), store)
    assert isinstance(kubo, KuboBackend) and kubo.service.base_url == "http://127.0.0.1:5001"
    psa = create_backend(
        settings(
            backend="psa",
            url="https://pins.example",
            token="t",
            origins="/dnsaddr/a.example, /dnsaddr/b.example",
            provider_url="http://127.0.0.1:5001",
            attempts="2",
            timeout_s="3.5",
        ),
        store,
    )
    assert isinstance(psa, PsaBackend)
    assert psa.origins == ["/dnsaddr/a.example", "/dnsaddr/b.example"]
    assert psa.provider is not None and psa.provider.service.token == ""  # not the PSA's token
    assert (psa.service.retry.attempts, psa.service.timeout_s) == (2, 3.5)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"backend": "ipfs"}, "unknown pin backend 'ipfs'; choose one of local, pinata"),
        ({"backend": "pinata"}, "needs LANTERN_PIN_TOKEN"),
        ({"backend": "psa", "token": "t"}, "needs LANTERN_PIN_URL"),
        ({"backend": "psa", "url": "https://x"}, "needs LANTERN_PIN_TOKEN"),
        ({"cid_version": "2"}, "cid_version must be 0 or 1"),
        ({"attempts": "0"}, "attempts must be at least 1"),
    ],
)
def test_misconfiguration_is_refused(store: LocalStore, env: dict[str, str], message: str) -> None:
    with pytest.raises(PinConfigError, match=message):
        create_backend(settings(**env), store)


def test_token_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    pin = settings(backend="pinata", token="eyJhbGciOiJIUzI1NiJ9.secret")
    assert "secret" not in repr(pin) and "token=***" in repr(pin)
    assert "secret" not in repr(Settings(pin=pin))
    assert "token=''" in repr(PinSettings())  # unset is shown as unset
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings %s", pin)
    assert "secret" not in caplog.text
