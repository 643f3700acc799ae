"""Throw-away TLS material for tests: a CA, a server certificate for 127.0.0.1, a client one.

Made with the ``openssl`` command (EC P-256 keys, unencrypted PKCS#8 PEM, valid two days).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

__all__ = ["TestCerts", "have_openssl", "make_certs"]


@dataclasses.dataclass(frozen=True)
class TestCerts:
    """PEM files: ``ca`` signed ``server`` (SAN IP:127.0.0.1) and ``client``."""

    __test__ = False  # not a test class, whatever its name

    ca: Path
    server_cert: Path
    server_key: Path
    server_keystore: Path  # the key, then the certificate: a Kafka PEM keystore
    client_cert: Path
    client_key: Path


def have_openssl() -> bool:
    return shutil.which("openssl") is not None


def make_certs(directory: Path) -> TestCerts:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "req.cnf"
    config.write_text("[req]\ndistinguished_name = dn\n[dn]\n")  # no default extensions
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    common = ["openssl", "req", "-x509", *key, "-days", "2", "-config", str(config)]

    def issue(name: str, subject: str, *extra: str) -> tuple[Path, Path]:
        cert, private = directory / f"{name}.pem", directory / f"{name}.key"
        subprocess.run(
            [*common, "-keyout", str(private), "-out", str(cert), "-subj", subject, *extra],
            check=True,
            capture_output=True,
        )
        return cert, private

    ca, ca_key = issue(
        "ca",
        "/CN=lantern-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    )
    signed = ["-CA", str(ca), "-CAkey", str(ca_key)]
    server_cert, server_key = issue(
        "server", "/CN=127.0.0.1", *signed, "-addext", "subjectAltName=IP:127.0.0.1"
    )
    client_cert, client_key = issue("client", "/CN=lantern", *signed)
    keystore = directory / "server-keystore.pem"
    keystore.write_text(server_key.read_text() + server_cert.read_text())
    return TestCerts(ca, server_cert, server_key, keystore, client_cert, client_key)
