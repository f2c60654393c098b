"""PostgreSQL answers the latest location with one primary-key probe per tracker, never the history."""

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
def test_the_latest_location_is_a_probe_of_the_latest_table_not_the_history(client_a):
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

    assert "location_history" not in plan, plan  # however long the history, the list never reads it
    assert plan.count("SubPlan") == 1, plan  # one correlated subquery, not five
    assert "Index Scan using tracker_latest_locations_pkey" in plan, plan
