"""Log lines: JSON on request, each carrying the job, stage and attempt (or the request id) of
what it is about; text by default; a bad format refused with the variable named."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from lantern.logs import bind, bind_request, log_context, logging_config
from lantern.settings import Settings, SettingsEnvError


def capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    config = logging_config(fmt, "INFO")
    config["root"] = {"level": "INFO", "handlers": []}  # only the test's logger writes
    config["handlers"]["default"]["stream"] = io.StringIO()
    config["loggers"] = {"lantern.test": {"handlers": ["default"], "propagate": False}}
    logging.config.dictConfig(config)
    logger = logging.getLogger("lantern.test")
    stream = logger.handlers[0].stream  # type: ignore[attr-defined]
    return logger, stream


def test_json_lines_carry_the_job_stage_and_attempt_of_the_work() -> None:
    logger, stream = capture("json")
    with log_context(job_id="ab" * 16, stage="render", attempt=2):
        logger.info("rendered %d frames", 10)
    logger.info("outside any job")
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "rendered 10 frames" and inside["level"] == "INFO"
    assert (inside["job_id"], inside["stage"], inside["attempt"]) == ("ab" * 16, "render", 2)
    assert inside["logger"] == "lantern.test" and inside["time"]
    assert "job_id" not in outside


def test_a_request_s_lines_carry_its_id_and_a_new_request_starts_afresh() -> None:
    logger, stream = capture("json")
    bind_request("req-1")
    bind(job_id="cd" * 16)
    logger.info("first")
    bind_request("req-2")
    logger.info("second")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["request_id"], first["job_id"]) == ("req-1", "cd" * 16)
    assert second["request_id"] == "req-2" and "job_id" not in second


def test_text_stays_the_default_and_reads_as_before() -> None:
    assert Settings().log.format == "text"
    logger, stream = capture("text")
    with log_context(job_id="x"):
        logger.warning("plain")
    assert stream.getvalue().rstrip().endswith("W lantern.test plain")


def test_an_unknown_format_is_refused_with_the_variable() -> None:
    with pytest.raises(SettingsEnvError, match="LANTERN_LOG_FORMAT='xml'"):
        Settings.from_env({"LANTERN_LOG_FORMAT": "xml"})


def test_tracing_is_off_unless_an_exporter_is_named() -> None:
    assert Settings().trace.exporter == ""
    assert Settings.from_env({"LANTERN_TRACE_EXPORTER": "OTLP"}).trace.exporter == "otlp"
    with pytest.raises(SettingsEnvError, match="LANTERN_TRACE_EXPORTER='zipkin'"):
        Settings.from_env({"LANTERN_TRACE_EXPORTER": "zipkin"})
