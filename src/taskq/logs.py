"""Log output for the taskq processes: human text or one JSON object per line."""

from __future__ import annotations

import logging
import sys
import time

from taskq import codec


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return codec.encode(entry)


def configure_logging(level: str, fmt: str) -> None:
    """Send taskq's and uvicorn's logs to stderr at ``level`` in ``fmt`` (text or json)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # yoyo narrates every migration step and psycopg_pool every connection at INFO
    for chatty in ("yoyo", "psycopg.pool"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
