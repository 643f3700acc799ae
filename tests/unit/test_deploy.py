"""The deployment files, without a Docker engine.

docker-compose.yml is checked against the Compose Specification's JSON schema, then against
Lantern itself: every `lantern` command it runs exists, every ``LANTERN_*`` variable it sets is
a setting and parses, Kafka and Kubo keep their data in named volumes, workers scale and share
no volume with the API. The Dockerfile runs as a user that is not root and has a health check
that works.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib
import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft202012Validator

from lantern.cli import _parser
from lantern.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS = ROOT / "monitoring" / "prometheus.yml"
KAFKA_POM = ROOT / "streams" / "kafka" / "pom.xml"

# The Compose Specification's schema (github.com/compose-spec/compose-spec,
# schema/compose-spec.json; Apache-2.0, its LICENSE beside it), copied unchanged from the PyPI
# package check-jsonschema 0.39.0, which ships it as
# check_jsonschema/builtin_schemas/vendor/compose-spec.json. The hash is the one that wheel
# records for the file. To renew: `pip download --no-deps check-jsonschema==<version>`, copy the
# file out of the wheel, and update the version above and the hash.
SCHEMA = ROOT / "tests" / "fixtures" / "compose-spec" / "compose-spec.json"
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"

VARIABLE = re.compile(r"\bLANTERN_[A-Z0-9_]+\b")
# ${NAME}, ${NAME:-default}, ${NAME-default}: compose's interpolation, unset variables assumed
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")
LANTERN_SERVICES = ("topics", "worker", "api")
KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")


def setting_names() -> set[str]:
    """Every ``LANTERN_<GROUP>_<FIELD>`` that ``Settings.from_env`` reads."""
    names = set()
    for group in dataclasses.fields(Settings):
        for f in dataclasses.fields(getattr(Settings(), group.name)):
            names.add(f"LANTERN_{group.name.upper()}_{f.name.upper()}")
    return names


def interpolate(value: Any) -> Any:
    """``value`` as compose would see it with no variable set: every default applied."""
    if isinstance(value, str):
        return INTERPOLATION.sub(lambda m: m.group("default") or "", value)
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return interpolate(compose["services"])  # type: ignore[no-any-return]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the list form, NAME=value
        env = dict(item.split("=", 1) for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def settings_of(service: dict[str, Any]) -> Settings:
    """The settings a Lantern service runs with."""
    return Settings.from_env(environment(service))


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume, in the short or the long syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            mounts.append((source, rest.split(":")[0]) if rest else ("", source))
        else:
            mounts.append((volume.get("source", ""), volume["target"]))
    return mounts


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, (KEYWORD, arguments), continuations joined."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


# -- the Compose Specification --------------------------------------------------------------------


def test_the_schema_is_the_published_one() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


@pytest.mark.parametrize("interpolated", [False, True], ids=["as-written", "interpolated"])
def test_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], interpolated: bool
) -> None:
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    document = interpolate(compose) if interpolated else compose
    errors = [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
    assert not errors, "\n".join(errors)


# -- Lantern's commands and settings --------------------------------------------------------------


@pytest.mark.parametrize("name", ["worker", "api"])
def test_every_lantern_command_exists(services: dict[str, dict[str, Any]], name: str) -> None:
    service = services[name]
    assert "entrypoint" not in service  # the image's: `lantern`
    command = service["command"]
    assert isinstance(command, list)
    # the real parser: an unknown command or option exits
    args = _parser().parse_args(command)
    assert args.run.__name__ == f"_{name}"


def test_the_topic_service_calls_what_exists(services: dict[str, dict[str, Any]]) -> None:
    # `lantern` has no command of its own for it: the call `lantern up` and `lantern worker` make
    entrypoint = services["topics"]["entrypoint"]
    assert entrypoint[:2] == ["python", "-c"]
    tree = ast.parse(entrypoint[2])
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert {node.module for node in imports} >= {"lantern.settings", "streams.topics"}
    for node in imports:
        module = importlib.import_module(node.module or "")
        for alias in node.names:
            assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"


def test_every_lantern_variable_is_a_setting() -> None:
    used = set()
    for path in (COMPOSE, DOCKERFILE, PROMETHEUS):
        used |= set(VARIABLE.findall(path.read_text()))
    assert "LANTERN_KAFKA_BOOTSTRAP" in used
    unknown = used - setting_names()
    assert not unknown, f"not settings in lantern/settings.py: {sorted(unknown)}"


@pytest.mark.parametrize("name", LANTERN_SERVICES)
def test_the_settings_of_each_lantern_service_parse(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    settings = settings_of(services[name])  # a wrong type or combination raises here
    assert settings.kafka.bootstrap.split(",") == [f"{node}:9092" for node in KAFKA_NODES]
    assert settings.kafka.replication == 3
    assert settings.pin.backend == "kubo"
    assert urlsplit(settings.pin.url).hostname == "kubo" and "kubo" in services
    # every link handed to users (the metadata's image_url is written by workers) starts here
    public = urlsplit(settings.api.base_url)
    assert public.scheme in {"http", "https"}
    assert public.hostname not in {None, "0.0.0.0", "::", "kafka-1", "api"}
    assert settings.store.blocks_via == "kafka"  # frame blocks need no folder in common


def test_the_public_url_comes_from_the_shell(compose: dict[str, Any]) -> None:
    env = environment(compose["services"]["api"])
    assert env["LANTERN_API_PUBLIC_URL"].startswith("${LANTERN_API_PUBLIC_URL:-http")


def test_lantern_services_run_the_image_this_dockerfile_builds(
    services: dict[str, dict[str, Any]],
) -> None:
    images = set()
    for name in LANTERN_SERVICES:
        build = services[name]["build"]
        assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")) == DOCKERFILE
        images.add(services[name]["image"])
    assert len(images) == 1


# -- volumes: Kafka's, Kubo's and Prometheus's named; none shared between Lantern's ---------------


def test_data_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    services, declared = compose["services"], set(compose["volumes"])
    expected = dict.fromkeys(KAFKA_NODES, "/var/lib/kafka/data")
    expected |= {"kubo": "/data/ipfs", "prometheus": "/prometheus"}
    sources = []
    for name, target in expected.items():
        mounts = {target: source for source, target in volume_mounts(services[name])}
        assert target in mounts, f"{name} keeps no volume at {target}"
        assert mounts[target] in declared, f"{name}: {mounts[target]} is not a named volume"
        sources.append(mounts[target])
    assert len(set(sources)) == len(sources)  # one volume per node and service


def test_kafka_writes_to_its_volume(services: dict[str, dict[str, Any]]) -> None:
    for node in KAFKA_NODES:
        env = environment(services[node])
        # unset, the image writes to /tmp/kraft-combined-logs inside the container
        assert env["KAFKA_LOG_DIRS"] in {target for _, target in volume_mounts(services[node])}


def test_workers_and_the_api_share_no_volume(services: dict[str, dict[str, Any]]) -> None:
    worker = {source for source, _ in volume_mounts(services["worker"])}
    api = {source for source, _ in volume_mounts(services["api"])}
    assert not worker & api
    kubo = {source for source, _ in volume_mounts(services["kubo"])}
    assert not (worker | api) & kubo  # the store is reached through Kubo's API, not its files


# -- the cluster, scaling, restarts and health ----------------------------------------------------


def test_three_kafka_nodes_form_one_replicated_cluster(
    services: dict[str, dict[str, Any]],
) -> None:
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", KAFKA_POM.read_text())
    assert version is not None
    envs = [environment(services[node]) for node in KAFKA_NODES]
    for node, env in zip(KAFKA_NODES, envs, strict=True):
        assert services[node]["image"] == f"apache/kafka:{version.group(1)}"
        assert "broker" in env["KAFKA_PROCESS_ROLES"] and "controller" in env["KAFKA_PROCESS_ROLES"]
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{node}:9092"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= Settings().kafka.max_message_bytes
    assert {env["KAFKA_NODE_ID"] for env in envs} == {"1", "2", "3"}
    assert len({env["CLUSTER_ID"] for env in envs}) == 1
    voters = {
        f"{env['KAFKA_NODE_ID']}@{node}:9093" for node, env in zip(KAFKA_NODES, envs, strict=True)
    }
    for env in envs:
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters


def test_workers_scale(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    # `--scale worker=N` needs N containers: no fixed name, no host port to collide on
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "scale" not in worker and "replicas" not in worker.get("deploy", {})


def test_long_running_services_restart_and_report_health(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if name == "topics":  # one-shot
            assert service["restart"] == "no"
            continue
        assert service.get("restart") == "unless-stopped", name
        health = service.get("healthcheck", {})
        assert health.get("test") and not health.get("disable"), name


def test_dependencies_wait_for_health(services: dict[str, dict[str, Any]]) -> None:
    for name in LANTERN_SERVICES:
        depends = services[name]["depends_on"]
        for node in KAFKA_NODES:
            assert depends[node]["condition"] == "service_healthy"
    for name in ("worker", "api"):
        depends = services[name]["depends_on"]
        assert depends["topics"]["condition"] == "service_completed_successfully"
        assert depends["kubo"]["condition"] == "service_healthy"
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits on {dependency}"


def test_health_checks_ask_the_ports_lantern_serves(services: dict[str, dict[str, Any]]) -> None:
    worker, api = settings_of(services["worker"]), settings_of(services["api"])
    assert worker.worker.metrics_port  # off by default: compose turns it on
    worker_check = services["worker"]["healthcheck"]["test"][-1]
    assert f"127.0.0.1:{worker.worker.metrics_port}/metrics" in worker_check
    assert f"127.0.0.1:{api.api.port}/healthz" in services["api"]["healthcheck"]["test"][-1]
    assert api.api.host == "0.0.0.0"  # reachable from outside its container
    assert any(port.endswith(f":{api.api.port}") for port in services["api"]["ports"])


def test_prometheus_scrapes_the_api_and_every_worker(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = dict(volume_mounts(services["prometheus"]))
    assert mounts["./monitoring/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    port = environment(services["worker"])["LANTERN_WORKER_METRICS_PORT"]
    workers = jobs["lantern-worker"]["dns_sd_configs"][0]
    assert workers["names"] == ["worker"] and workers["port"] == int(port)  # every replica
    assert jobs["lantern-api"]["static_configs"][0]["targets"] == ["api:8080"]


# -- the Dockerfile -------------------------------------------------------------------------------


def test_the_image_runs_as_a_user_that_is_not_root() -> None:
    users = [args for keyword, args in dockerfile() if keyword == "USER"]
    assert users, "no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_the_image_installs_the_locked_packages_then_lantern_alone() -> None:
    instructions = dockerfile()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    lock = next(i for i, run in enumerate(runs) if "-r requirements-runtime.lock" in run)
    project = next(i for i, run in enumerate(runs) if "--no-deps --no-build-isolation ." in run)
    assert lock < project
    assert ("ENTRYPOINT", '["lantern"]') in instructions


def test_the_build_context_holds_what_the_image_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # everything out, then what is needed back in
    included = {p.lstrip("!").rstrip("/") for p in patterns if p.startswith("!")}
    for keyword, args in dockerfile():
        if keyword == "COPY":
            for source in args.split()[:-1]:
                assert source in included, f"COPY {source}: excluded by .dockerignore"


def healthcheck() -> list[str]:
    checks = [args for keyword, args in dockerfile() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and checks[0] != "NONE"
    _, _, command = checks[0].partition(" CMD ")
    argv = json.loads(command)
    assert isinstance(argv, list) and argv[0] == "python"
    return [sys.executable, *argv[1:]]


@pytest.fixture
def http_server() -> Iterator[str]:
    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_image_health_check_passes_only_when_the_process_answers(http_server: str) -> None:
    env_defaults = dict(
        pair.split("=", 1)
        for keyword, args in dockerfile()
        if keyword == "ENV"
        for pair in shlex.split(args)
    )
    assert env_defaults["HEALTHCHECK_URL"].endswith(":8080/healthz")  # the API by default

    def run(url: str) -> int:
        done = subprocess.run(
            healthcheck(), env={"HEALTHCHECK_URL": url}, capture_output=True, timeout=30
        )
        return done.returncode

    assert run(f"{http_server}/healthz") == 0
    assert run(f"{http_server}/missing") != 0
    assert run("http://127.0.0.1:9/healthz") != 0  # nothing listening
