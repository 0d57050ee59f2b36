"""The experiment log: one JSON record per event, in FIS's log schema (version 2).

Every experiment is logged to ``<fis part log dir>/experiments/<experiment id>.jsonl``. When its
template has a ``logConfiguration`` with ``cloudWatchLogsConfiguration``, the same records also go to
that log group through CloudWatch Logs' PutLogEvents on the local endpoint, in a stream named after
the experiment, as FIS delivers them on AWS (the group must exist, as on AWS). S3 delivery is not
done locally (the log file stands in for it).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Clients = Callable[[str, str], Any]
SCHEMA_VERSION = "2"


class ExperimentLog:
    def __init__(self, directory: Path, experiment_id: str, template_id: str, configuration: Mapping[str, Any] | None,
                 clients: Clients, log: logging.Logger) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{experiment_id}.jsonl"
        self.experiment_id, self.template_id, self.log = experiment_id, template_id, log
        self._file = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self._logs: Any = None
        self._group = ""
        group_arn = ((configuration or {}).get("cloudWatchLogsConfiguration") or {}).get("logGroupArn", "")
        if group_arn:
            # arn:aws:logs:<region>:<account>:log-group:<name>[:*]
            parts = group_arn.split(":")
            if len(parts) >= 7:
                self._group = parts[6]
                self._logs = clients("logs", parts[3])
                try:
                    self._logs.create_log_stream(logGroupName=self._group, logStreamName=experiment_id)
                except Exception as error:  # noqa: BLE001 - logging must never fail the experiment
                    log.warning("experiment %s: CloudWatch Logs group %s: %s", experiment_id, self._group, error)
                    self._logs = None

    def event(self, log_type: str, details: Mapping[str, Any]) -> None:
        record = {"id": self.experiment_id, "log_type": log_type, "event_timestamp": _timestamp(), "version": SCHEMA_VERSION,
                  "details": {"experiment_template_id": self.template_id, **details}}
        line = json.dumps(record, default=str)
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            self._file.flush()
            if self._logs is not None:
                try:
                    self._logs.put_log_events(logGroupName=self._group, logStreamName=self.experiment_id,
                                              logEvents=[{"timestamp": int(time.time() * 1000), "message": line}])
                except Exception as error:  # noqa: BLE001 - logging must never fail the experiment
                    self.log.warning("experiment %s: PutLogEvents to %s: %s", self.experiment_id, self._group, error)

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
