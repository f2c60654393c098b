"""PostgreSQL answers the latest location with one index probe per tracker, never a history scan."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from dashboard import queries
from dashboard.models import LocationHistory
from dashboard.scope import ALL
from tests.fleet import make_fleet, make_trackers


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_latest_location_is_an_index_probe_per_tracker(client_a):
    fleet = make_fleet(client_a, trackers=0)
    trackers = make_trackers(fleet.run, 300)
    start = timezone.now() - timedelta(days=1)
    LocationHistory.objects.bulk_create(
        LocationHistory(tracker=tracker, timestamp=start + timedelta(minutes=m), latitude=1.0, longitude=1.0)
        for tracker in trackers
        for m in range(40)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE location_history; ANALYZE trackers")
    sql, params = queries.ordered_tracker_rows(ALL, queries.TrackerFilters()).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    history_lines = [line for line in plan.splitlines() if "location_history" in line]
    assert history_lines, plan
    assert all("Index" in line for line in history_lines), plan  # no Seq Scan of the history
    assert "SubPlan" in plan and plan.count("SubPlan") == 1, plan  # one correlated subquery, not five
    # (tracker, timestamp) is unique: the probe stops at its first index entry, nothing to sort per tracker.
    assert "Incremental Sort" not in plan, plan
