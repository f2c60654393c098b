"""LOG_FORMAT=json: each log record is one line holding one JSON object, `extra` fields included."""

import json
import logging
import subprocess
import sys
from pathlib import Path

from trackerdash.log_format import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent
LOG_A_CACHE_RELOAD = """
import django, logging
django.setup()
logging.getLogger("cache_layer").info("cache reloaded", extra={"cache": "reference", "table": "brands", "rows": 12})
try:
    raise ConnectionError("redis away")
except ConnectionError:
    logging.getLogger("cache_layer").exception("invalidation failed\\nwill retry", extra={"table": "brands"})
"""


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "trackerdash.settings", "PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_with_log_format_json_each_record_is_one_json_line():
    result = run_python(LOG_A_CACHE_RELOAD, LOG_FORMAT="json")

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    reload, failure = (json.loads(line) for line in lines)
    assert reload["level"] == "INFO"
    assert reload["logger"] == "cache_layer"
    assert reload["message"] == "cache reloaded"
    assert (reload["cache"], reload["table"], reload["rows"]) == ("reference", "brands", 12)
    assert reload["time"].endswith("+00:00")
    assert failure["level"] == "ERROR"
    assert failure["message"] == "invalidation failed\nwill retry"
    assert "ConnectionError: redis away" in failure["exception"]


def test_by_default_logs_are_plain_text():
    result = run_python(LOG_A_CACHE_RELOAD)

    assert result.returncode == 0, result.stderr
    assert " INFO cache_layer cache reloaded" in result.stderr.splitlines()[0]


def test_an_unknown_log_format_refuses_to_start():
    result = run_python(LOG_A_CACHE_RELOAD, LOG_FORMAT="xml")

    assert result.returncode != 0
    assert "LOG_FORMAT must be plain or json" in result.stderr


def test_values_json_cannot_hold_become_their_text():
    record = logging.LogRecord("cache_layer", logging.WARNING, __file__, 1, "breaker open", None, None)
    record.until = object()

    entry = json.loads(JsonFormatter().format(record))

    assert entry["message"] == "breaker open"
    assert entry["until"].startswith("<object object")
