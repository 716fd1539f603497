"""Structured logs: one JSON object a line, with the request and job ids in force."""

from __future__ import annotations

import json
import logging

import pytest

from deepfake_stream.logs import configure_logging, job_id, request_id


def test_json_lines_carry_request_and_job_ids(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    for handler in root.handlers[:]:  # only ours writes to stderr in this test
        root.removeHandler(handler)
    try:
        configure_logging("info", "json")
        request_token, job_token = request_id.set("req-1"), job_id.set("job-9")
        logging.getLogger("deepfake_stream.test").info("job %s ended", "job-9")
        request_id.reset(request_token)
        job_id.reset(job_token)
        logging.getLogger("deepfake_stream.test").debug("not at info level")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    (line,) = capsys.readouterr().err.strip().splitlines()
    record = json.loads(line)
    assert record["message"] == "job job-9 ended"
    assert record["level"] == "INFO" and record["logger"] == "deepfake_stream.test"
    assert record["request_id"] == "req-1" and record["job_id"] == "job-9"
