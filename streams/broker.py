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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lantern.processes import Service, free_port
from lantern.settings import KafkaSettings

from .errors import BrokerError

__all__ = ["BrokerError", "ClusterNode", "EmbeddedKafka", "KafkaCluster", "free_port"]

log = logging.getLogger(__name__)
_KAFKA_DIR = Path(__file__).parent / "kafka"


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


@dataclass(frozen=True)
class ClusterNode:
    """One node of an embedded cluster: its id, ports, folder and the quorum it votes in."""

    node_id: int
    size: int  # nodes in the cluster
    ports: tuple[int, int]  # broker, controller
    voters: str  # controller.quorum.voters: "1@host:port,2@host:port,…"
    cluster_id: str
    data_dir: Path


class EmbeddedKafka(Service):
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
        node: ClusterNode | None = None,
    ) -> None:
        self.settings = settings
        self.host = host
        self.extra_listeners = dict(extra_listeners or {})
        self.extra_properties = dict(extra_properties or {})
        self.format_args = list(format_args)
        self.node = node  # None: a cluster of one
        self.data_dir = (node.data_dir if node else settings.data_dir).resolve()
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
        self.launch()
        self.await_ready(timeout)
        return self.bootstrap

    def launch(self) -> None:
        """Format the log dir on first use and start the node, without waiting for it (the
        nodes of a cluster wait for each other's votes, so all are launched first)."""
        java = shutil.which("java")
        if java is None:
            raise BrokerError("java not found: the embedded broker needs Java 17 on PATH")
        libs = self.settings.libs_dir.resolve()
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"Kafka jars missing in {libs}: run `make kafka`")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        broker_port, controller_port = self.node.ports if self.node else self._ports()
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

    def await_ready(self, timeout: float = 90.0) -> None:
        """Wait until the node answers (raise ``BrokerError`` if it exits or takes too long)."""
        self._await_ready(timeout)
        log.info("kafka ready bootstrap=%s", self.bootstrap)

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
        node_id, voters = "1", f"1@{host}:{controller_port}"
        replicas = 1
        if self.node is not None:
            node_id, voters = str(self.node.node_id), self.node.voters
            replicas = min(3, self.node.size)
        lines = {
            "process.roles": "broker,controller",
            "node.id": node_id,
            "controller.quorum.voters": voters,
            "listeners": ",".join([*served, f"CONTROLLER://{host}:{controller_port}"]),
            "advertised.listeners": ",".join(served),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": str(self.settings.partitions),
            "auto.create.topics.enable": "false",  # every topic is declared by topics.py
            "offsets.topic.replication.factor": str(replicas),
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": str(max(1, replicas - 1)),
            # with three copies a write needs two (acks=all): one node may be down
            "min.insync.replicas": str(max(1, replicas - 1)),
            "default.replication.factor": str(replicas),
            "group.initial.rebalance.delay.ms": "0",  # a lone worker starts at once
            "group.min.session.timeout.ms": "1000",  # tests fail over with 3 s sessions
            "message.max.bytes": str(max_bytes),
            "replica.fetch.max.bytes": str(max_bytes),
            "log.retention.hours": "168",
            # idle cost on a small machine (measured alone, 2 cores: 0.022 -> 0.014 cores): the
            # controller's no-op metadata records every 5 s, not every 0.5 s, and request
            # threads for two cores, not eight
            "metadata.max.idle.interval.ms": "5000",
            "num.network.threads": "2",
            "num.io.threads": "2",
            **self.extra_properties,
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        return path

    def _format(self, java: str, classpath: str, config: Path) -> None:
        cluster_id = self.node.cluster_id if self.node else new_cluster_id()
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


class KafkaCluster(Service):
    """``size`` KRaft nodes on this machine, each broker and controller, each with its own log
    dirs under ``settings.data_dir / node-<id>``: what a replicated deployment looks like, for
    tests and drills. The ports and the cluster id are kept in ``cluster.json``, so a node (or
    the whole cluster) restarts with the same identity and finds its data.

        with KafkaCluster(settings.kafka, size=3) as bootstrap:   # "h:p1,h:p2,h:p3"
            ...
    """

    def __init__(self, settings: KafkaSettings, size: int = 3, host: str = "127.0.0.1") -> None:
        if size < 1:
            raise BrokerError(f"a cluster needs at least one node, not {size}")
        self.settings, self.size, self.host = settings, size, host
        root = settings.data_dir.resolve()
        root.mkdir(parents=True, exist_ok=True)
        layout = self._layout(root)
        voters = ",".join(f"{i}@{host}:{c}" for i, (_, c) in layout["ports"].items())
        self.nodes = [
            EmbeddedKafka(
                settings,
                host,
                node=ClusterNode(
                    node_id=i,
                    size=size,
                    ports=(b, c),
                    voters=voters,
                    cluster_id=layout["cluster_id"],
                    data_dir=root / f"node-{i}",
                ),
            )
            for i, (b, c) in layout["ports"].items()
        ]

    @property
    def bootstrap(self) -> str:
        """Every node's ``host:port``, comma-separated, as clients take it."""
        return ",".join(f"{self.host}:{node.node.ports[0]}" for node in self.nodes if node.node)

    def start(self, timeout: float = 120.0) -> str:
        """Launch every node, then wait for each (they elect a controller among themselves)."""
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.await_ready(timeout)
        return self.bootstrap

    def stop(self) -> None:
        """Stop every node at once (one by one, the last would wait for a quorum already gone)."""
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(), self.nodes))

    def _layout(self, root: Path) -> dict[str, Any]:
        """The cluster id and every node's (broker, controller) ports: the saved ones, else new."""
        path = root / "cluster.json"
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("size") == self.size:
                return {
                    "cluster_id": saved["cluster_id"],
                    "ports": {int(i): tuple(p) for i, p in saved["ports"].items()},
                }
        taken: set[int] = set()
        ports: dict[int, tuple[int, int]] = {}
        for node_id in range(1, self.size + 1):
            pair = []
            for _ in range(2):
                port = free_port(0, self.host)
                while port in taken:
                    port = free_port(0, self.host)
                taken.add(port)
                pair.append(port)
            ports[node_id] = (pair[0], pair[1])
        layout = {"size": self.size, "cluster_id": new_cluster_id(), "ports": ports}
        path.write_text(json.dumps(layout))
        return {"cluster_id": layout["cluster_id"], "ports": ports}
