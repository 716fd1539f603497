"""Logging: one JSON object per line for the service and workers (or plain text), each record
carrying the request id and job id in force, from context variables, and no record carrying a
credential: API keys and secrets are redacted from every line, the server's and access logs'
included (a WebSocket client may only be able to send its key in the URL)."""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)

HANDLER_NAME = "deepfake-stream"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


REDACTED = "[redacted]"
# A credential as a URL query or form parameter, or a header written out as text...
CREDENTIAL_PARAMETER = re.compile(
    r"(?i)\b((?:api[_-]?key|access[_-]?token|token|secret|password|authorization)"
    r"(?:=|:\s*(?:bearer\s+)?))[^\s&\"',;]+"
)
# ...and our API keys (dfs_<id>_<secret>) wherever they appear: the id stays, to tell them apart.
API_KEY = re.compile(r"\b(dfs_[0-9a-f]+_)[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    return API_KEY.sub(rf"\1{REDACTED}", CREDENTIAL_PARAMETER.sub(rf"\1{REDACTED}", text))


class _RedactingFilter(logging.Filter):
    """Rewrites a record whose message holds a credential (its arguments are folded in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class _ContextFilter(logging.Filter):
    """Adds request_id and job_id to every record (None outside a request or a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.job_id = job_id.get()
        return True


def configure_logging(level: str = "info", fmt: Literal["json", "text"] = "json") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_ContextFilter())
    handler.addFilter(_RedactingFilter())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                JSON_FIELDS,
                rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
                datefmt="%Y-%m-%dT%H:%M:%S%z",
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    # Replace our own handler only: a host's (a test runner's) handlers stay.
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic announces every plugin and migration step at INFO on each start; migrate() logs
    # one line when the schema changes, and Alembic's warnings and errors still come through.
    logging.getLogger("alembic").setLevel(logging.WARNING)
