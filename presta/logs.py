"""Logs carrying the request id of the operation being served: one JSON object a line for
collectors (production), or one readable line (``make run``): ``PRESTA_LOG_FORMAT``.

Fields given as ``extra`` (``code``, ``path``...) are kept in both: JSON keys, or
``key=value`` at the end of the text line.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from typing import Any

import orjson

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# What every record has; any other attribute was given as ``extra``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", "request_id", "color_message"}
)


def _request_id(record: logging.LogRecord) -> str:
    # A record may carry the id of the request it is about (logged from another task).
    return getattr(record, "request_id", None) or request_id.get()


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": _request_id(record),
        }
        entry.update(_extra(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """``2026-12-04 10:31:02.123 INFO    presta.graphql refused: … code=FORBIDDEN request_id=…``
    on one line; a traceback, when there is one, follows on the next lines."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = f"{self.formatTime(record, '%Y-%m-%d %H:%M:%S')}.{int(record.msecs):03d}"
        fields = _extra(record)
        rid = _request_id(record)
        if rid != "-":
            fields["request_id"] = rid
        line = " ".join(
            [
                stamp,
                f"{record.levelname:<7}",
                record.name,
                record.getMessage().replace("\n", "\\n"),
                *(f"{key}={_value(value)}" for key, value in fields.items()),
            ]
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _value(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n'):
        return text
    return orjson.dumps(text).decode()


def configure(level: str = "INFO", json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
