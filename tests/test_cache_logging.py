"""Cache events are logged as one structured line each (`event`, `cache`, `table` as fields),
and the per-request path (ingest bumping production runs) logs nothing at INFO."""

import logging

import pytest
from django.utils import timezone
from model_bakery import baker

import cache_layer
import cache_layer.testing
from dashboard.services import location_reports_ingest

pytestmark = pytest.mark.django_db


def events(caplog, level=logging.INFO):
    return [
        (r.event, getattr(r, "table", None))
        for r in caplog.records
        if r.name == "cache_layer" and r.levelno >= level and hasattr(r, "event")
    ]


def test_a_reference_write_logs_its_invalidation_and_the_reload(client_a, caplog, django_capture_on_commit_callbacks):
    cache_layer.testing.settle()
    cache_layer.get("clients")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cache_layer"):
        with django_capture_on_commit_callbacks(execute=True):
            client_a.name = "Renamed"
            client_a.save()
        cache_layer.testing.settle()
        assert [row["name"] for row in cache_layer.get("clients")] == ["Renamed"]
    logged = events(caplog)
    assert ("cache_invalidated", "clients") in logged
    assert ("cache_reloaded", "clients") in logged


def test_ingest_logs_no_line_at_info(caplog, django_capture_on_commit_callbacks):
    tracker = baker.make("dashboard.Tracker", serial="LOG-1")
    cache_layer.testing.settle()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cache_layer"):
        with django_capture_on_commit_callbacks(execute=True):
            location_reports_ingest(
                reports=[{"tracker": tracker.serial, "timestamp": timezone.now(), "latitude": 1.0, "longitude": 2.0}]
            )
    assert events(caplog) == []
