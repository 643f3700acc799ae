"""Pinning backends behind one interface, chosen by ``LANTERN_PIN_BACKEND``.

==========  ====================================================  =========================
backend     what it does                                          needs
==========  ====================================================  =========================
``local``   the embedded content store is the pin (default)       nothing
``pinata``  uploads to Pinata (``pinFileToIPFS``)                 ``token`` (a JWT)
``kubo``    ``add`` + ``pin/add`` on your Kubo node's RPC API      ``url`` (default :5001)
``psa``     any IPFS Pinning Service API provider, pins by CID    ``url``, ``token``,
                                                                  ``provider_url``/``origins``
==========  ====================================================  =========================
"""

from __future__ import annotations

from typing import Protocol

from pinning.backends import kubo, pinata
from pinning.backends.base import Content, PinBackend, Pinned
from pinning.backends.http import RetryPolicy, Service, Upload
from pinning.backends.kubo import KuboBackend
from pinning.backends.local import LocalBackend
from pinning.backends.pinata import PinataBackend, PinataPin
from pinning.backends.psa import PsaBackend
from pinning.errors import PinConfigError
from pinning.store import LocalStore

__all__ = [
    "BACKENDS",
    "Content",
    "KuboBackend",
    "LocalBackend",
    "PinBackend",
    "PinConfig",
    "PinataBackend",
    "PinataPin",
    "Pinned",
    "PsaBackend",
    "RetryPolicy",
    "Service",
    "Upload",
    "create_backend",
]

BACKENDS = ("local", "pinata", "kubo", "psa")


class PinConfig(Protocol):
    """What the backends read from the settings (``lantern.settings.PinSettings``)."""

    @property
    def backend(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def token(self) -> str: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def cid_version(self) -> int: ...
    @property
    def attempts(self) -> int: ...
    @property
    def backoff_s(self) -> float: ...
    @property
    def backoff_max_s(self) -> float: ...
    @property
    def poll_s(self) -> float: ...
    @property
    def origins(self) -> str: ...
    @property
    def provider_url(self) -> str: ...


def create_backend(config: PinConfig, store: LocalStore) -> PinBackend:
    """The configured backend; raises PinConfigError when it cannot work as configured.

    No connection is opened here: sessions open on first use, inside the event loop.
    """
    if config.cid_version not in (0, 1):
        raise PinConfigError(f"cid_version must be 0 or 1, not {config.cid_version}")
    if config.attempts < 1:
        raise PinConfigError(f"attempts must be at least 1, not {config.attempts}")
    retry = RetryPolicy(config.attempts, config.backoff_s, config.backoff_max_s)

    def service(provider: str, url: str, token: str = "") -> Service:
        return Service(provider, url, token=token, timeout_s=config.timeout_s, retry=retry)

    if config.backend == "local":
        return LocalBackend(store)
    if config.backend == "pinata":
        if not config.token:
            raise PinConfigError("the pinata backend needs LANTERN_PIN_TOKEN (a Pinata JWT)")
        url = config.url or pinata.DEFAULT_URL
        return PinataBackend(service("pinata", url, config.token), cid_version=config.cid_version)
    if config.backend == "kubo":
        url = config.url or kubo.DEFAULT_URL
        return KuboBackend(service("kubo", url, config.token), cid_version=config.cid_version)
    if config.backend == "psa":
        if not config.url:
            raise PinConfigError("the psa backend needs LANTERN_PIN_URL (the service's endpoint)")
        if not config.token:
            raise PinConfigError("the psa backend needs LANTERN_PIN_TOKEN (an access token)")
        origins = [origin.strip() for origin in config.origins.split(",") if origin.strip()]
        provider = None
        if config.provider_url:
            provider_service = service("kubo", config.provider_url)
            provider = KuboBackend(provider_service, cid_version=config.cid_version)
        return PsaBackend(
            service("psa", config.url, config.token),
            origins=origins,
            provider=provider,
            poll_s=config.poll_s,
        )
    raise PinConfigError(
        f"unknown pin backend {config.backend!r}; choose one of {', '.join(BACKENDS)}"
    )
