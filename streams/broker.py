"""The embedded Apache Kafka broker: one KRaft node from the official jars, data on disk.

``lantern up`` and the test session run it; nothing else does. The jars come from Maven Central
through ``make kafka`` (``streams/kafka/pom.xml``). The node keeps its log dirs, its chosen ports
and its own log file under ``KafkaSettings.data_dir``, so a restart loses nothing::

    with EmbeddedKafka(settings.kafka) as bootstrap:
        ...  # "127.0.0.1:<port>"
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from lantern.settings import KafkaSettings

from .errors import BrokerError

__all__ = ["BrokerError", "EmbeddedKafka", "free_port"]

log = logging.getLogger(__name__)
_KAFKA_DIR = Path(__file__).parent / "kafka"


def free_port(preferred: int = 0, host: str = "127.0.0.1") -> int:
    """``preferred`` when it can be bound, else a port the OS picks."""
    for candidate in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise BrokerError("no free TCP port")  # pragma: no cover - the OS always has one


class EmbeddedKafka:
    """A single-node Apache Kafka in KRaft mode, run as a child process.

    Lantern runs it as it is. Tests of secured clients add listeners (name → security
    protocol and port, beside the PLAINTEXT one), broker properties (SASL, TLS) and arguments
    of the first ``kafka-storage format`` (``--add-scram`` credentials).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        host: str = "127.0.0.1",
        *,
        extra_listeners: Mapping[str, tuple[str, int]] | None = None,
        extra_properties: Mapping[str, str] | None = None,
        format_args: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.host = host
        self.extra_listeners = dict(extra_listeners or {})
        self.extra_properties = dict(extra_properties or {})
        self.format_args = list(format_args)
        self.data_dir = settings.data_dir.resolve()
        self.log_path = self.data_dir / "broker.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_start = 0
        self.port = 0

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 90.0) -> str:
        """Format the log dir on first use, start the node and wait until it answers."""
        java = shutil.which("java")
        if java is None:
            raise BrokerError("java not found: the embedded broker needs Java 17 on PATH")
        libs = self.settings.libs_dir.resolve()
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"Kafka jars missing in {libs}: run `make kafka`")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        broker_port, controller_port = self._ports()
        self.port = broker_port
        config = self._write_config(broker_port, controller_port)
        classpath = f"{libs}/*"
        if not (self.data_dir / "logs" / "meta.properties").exists():
            self._format(java, classpath, config)
        log.info("kafka starting port=%d data=%s", broker_port, self.data_dir)
        with self.log_path.open("ab") as out:
            self._log_start = out.tell()  # readiness is read from this run's lines only
            self._process = subprocess.Popen(
                [
                    java,
                    f"-Xmx{self.settings.broker_heap_mb}m",
                    *shlex.split(self.settings.broker_jvm_opts),
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={_KAFKA_DIR / 'log4j2.properties'}",
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(config),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us; we stop the broker in order
            )
        self._await_ready(timeout)
        log.info("kafka ready bootstrap=%s", self.bootstrap)
        return self.bootstrap

    def stop(self, timeout: float = 30.0) -> None:
        """Controlled shutdown (SIGTERM), then SIGKILL if it hangs."""
        proc, self._process = self._process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("kafka did not stop in %.0fs; killing it", timeout)
            proc.kill()
            proc.wait()
        log.info("kafka stopped")

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _ports(self) -> tuple[int, int]:
        """The ports of the last run when still free (stable URLs), else fresh ones."""
        saved_path = self.data_dir / "ports.json"
        saved: dict[str, int] = {}
        if saved_path.exists():
            saved = json.loads(saved_path.read_text())
        broker = free_port(self.settings.broker_port or saved.get("broker", 0), self.host)
        controller = free_port(saved.get("controller", 0), self.host)
        if controller == broker:
            controller = free_port(0, self.host)
        saved_path.write_text(json.dumps({"broker": broker, "controller": controller}))
        return broker, controller

    def _write_config(self, broker_port: int, controller_port: int) -> Path:
        host, max_bytes = self.host, self.settings.max_message_bytes
        served = [f"PLAINTEXT://{host}:{broker_port}"]
        served += [f"{name}://{host}:{port}" for name, (_, port) in self.extra_listeners.items()]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        protocols += [f"{name}:{proto}" for name, (proto, _) in self.extra_listeners.items()]
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{host}:{controller_port}",
            "listeners": ",".join([*served, f"CONTROLLER://{host}:{controller_port}"]),
            "advertised.listeners": ",".join(served),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": str(self.settings.partitions),
            "auto.create.topics.enable": "false",  # every topic is declared by topics.py
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",  # a lone worker starts at once
            "group.min.session.timeout.ms": "1000",  # tests fail over with 3 s sessions
            "message.max.bytes": str(max_bytes),
            "replica.fetch.max.bytes": str(max_bytes),
            "log.retention.hours": "168",
            **self.extra_properties,
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        return path

    def _format(self, java: str, classpath: str, config: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        log.info("kafka formatting %s cluster=%s", self.data_dir / "logs", cluster_id)
        done = subprocess.run(
            [
                java,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",  # one argument: an id may begin with "-"
                "-c",
                str(config),
                *self.format_args,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BrokerError(f"formatting the Kafka log dir failed: {done.stdout}{done.stderr}")

    def _await_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(
                    f"kafka exited with code {self._process.returncode}; "
                    f"its log ({self.log_path}) ends:\n{self._log_tail()}"
                )
            if self._answers():
                return
            time.sleep(0.2)
        self.stop()
        raise BrokerError(f"kafka not ready after {timeout:.0f}s; see {self.log_path}")

    def _answers(self) -> bool:
        """True once the broker listener accepts and the node has logged that it started."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                pass
        except OSError:
            return False
        return "Kafka Server started" in self._log_tail(1 << 20)

    def _log_tail(self, size: int = 4000) -> str:
        """The last ``size`` bytes this run wrote to the broker's log."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(self._log_start, fh.tell() - size))
                return fh.read().decode(errors="replace")
        except OSError:
            return ""
