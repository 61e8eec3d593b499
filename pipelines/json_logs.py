"""Dagster run logs in the platform's JSON schema (timestamp, level, service, traceId, spanId, message,
context), so Loki indexes pipeline runs like API requests.

Wired through the Dagster instance's `python_logs.dagster_handler_config` (deploy/dagster/dagster.yaml):

    formatters:
      json:
        (): pipelines.json_logs.DagsterJsonFormatter

The run id is the trace id (a UUID without dashes is 32 hex digits: a valid W3C trace id) and each step
gets a stable span id, so one run's lines group together in Grafana.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime

from core.logs import JsonFormatter, _redact


class DagsterJsonFormatter(JsonFormatter):
    def __init__(self, service: str = "dagster") -> None:
        super().__init__(service)

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None)
        if not meta:
            return super().format(record)
        run_id = (meta.get("run_id") or "").replace("-", "")
        step = meta.get("step_key")
        event = meta.get("dagster_event")
        context = {
            "runId": meta.get("run_id"), "job": meta.get("job_name"), "step": step,
            "eventType": event.event_type_value if event is not None else None,
        }
        if record.exc_info:
            context["exception"] = self.formatException(record.exc_info)
        line = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "service": self.service,
            "traceId": run_id or None,
            "spanId": hashlib.sha256(f"{run_id}:{step}".encode()).hexdigest()[:16] if step else None,
            "message": meta.get("orig_message") or record.getMessage(),
            "context": _redact({k: v for k, v in context.items() if v is not None}),
        }
        return json.dumps(line, default=str, ensure_ascii=False)
