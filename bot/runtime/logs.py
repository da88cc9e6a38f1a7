"""How a running Clarion logs: plain text for a terminal, or one JSON object a line
(LOG_FORMAT=json) for journald, Docker or a log shipper.

Either way a line is one record: text a user gave (a post, a handle, a platform's error
message) can never start a new line that looks like another record. JSON escapes it; text
mode replaces newlines and other control characters with visible escapes.

A log call may name what it is about with ``extra={"delivery_id": …, "post_id": …,
"campaign_id": …}``: JSON lines carry them as fields, text lines append them.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from enum import StrEnum

ID_FIELDS = ("delivery_id", "post_id", "campaign_id")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
TEXT_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# C0 and C1 controls, DEL, and Unicode's own line and paragraph separators; tab stays.
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}
_JSON_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def escape_controls(text: str) -> str:
    """``text`` on one line: newlines as ``\\n``, other control characters as ``\\xNN``
    (``\\uNNNN`` above 0xFF)."""
    return _CONTROLS.sub(
        lambda m: (
            _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}")
            if ord(m.group()) <= 0xFF
            else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


def _ids(record: logging.LogRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in ID_FIELDS if hasattr(record, name)}


class TextFormatter(logging.Formatter):
    """The classic line, with the message kept to one line and any ids appended.
    A traceback's lines are indented, so none of them can pass for a record."""

    def __init__(self, fmt: str = TEXT_FORMAT) -> None:
        super().__init__(fmt, TEXT_DATE_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        ids = _ids(record)
        if ids:
            line += " [" + " ".join(f"{k}={escape_controls(str(v))}" for k, v in ids.items()) + "]"
        return line

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        record.msg, record.args = escape_controls(record.getMessage()), None
        formatted = super().format(record)
        first, _, rest = formatted.partition("\n")
        if not rest:
            return first
        return first + "\n" + "\n".join("    " + escape_controls(line) for line in rest.split("\n"))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the ids the
    call passed, and the exception's traceback as one string when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_ids(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(entry, ensure_ascii=False, default=str)
        # JSON escapes C0 controls itself; these three are line breaks to many readers
        # (Python's splitlines, JavaScript) yet legal raw inside a JSON string.
        return line.translate(_JSON_BREAKS)


def formatter_for(fmt: LogFormat | str, text_layout: str = TEXT_FORMAT) -> logging.Formatter:
    return JsonFormatter() if LogFormat(fmt) is LogFormat.JSON else TextFormatter(text_layout)


class OneLineHandler(logging.StreamHandler):
    """The stderr handler Clarion installs (so a later call can replace it)."""


def _install(formatter: logging.Formatter) -> bool:
    """Put a OneLineHandler with ``formatter`` on the root logger, replacing ours; like
    ``logging.basicConfig``, leave a root that has someone else's handlers alone (a test
    runner's capture, an embedding program)."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, OneLineHandler)]
    if len(ours) != len(root.handlers):
        return False
    for old in ours:
        root.removeHandler(old)
    handler = OneLineHandler()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    return True


def escape_by_default() -> None:
    """Before a command configures logging, a warning would reach logging's "last resort"
    handler, which writes the message raw: give it the one-line text formatter, with the
    last resort's bare ``message`` layout, unless the process already has handlers."""
    if not logging.getLogger().handlers:
        _install(TextFormatter("%(message)s"))
        logging.getLogger().setLevel(logging.WARNING)


def configure_logging(
    level: str,
    fmt: LogFormat | str = LogFormat.TEXT,
    *,
    text_layout: str = TEXT_FORMAT,
    quieten: bool = True,
) -> None:
    """Log to stderr at ``level`` in ``fmt`` (replacing the handler an earlier call, or
    ``escape_by_default``, installed); quieten the libraries that are noisy or that would
    log secrets."""
    if _install(formatter_for(fmt, text_layout)):
        logging.getLogger().setLevel(level.upper())
    if not quieten:
        return
    # One line per request from the HTTP clients and the scheduler is noise at INFO.
    for noisy in ("apscheduler", "alembic", "urllib3", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # oauthlib and requests-oauthlib log the OAuth client and the signature base string,
    # access token included, at DEBUG: keep them above DEBUG even when LOG_LEVEL=DEBUG.
    # tweepy logs request headers (the bearer token) at DEBUG too.
    for leaky in ("oauthlib", "requests_oauthlib", "tweepy"):
        logging.getLogger(leaky).setLevel(logging.INFO)
