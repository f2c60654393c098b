"""PostgreSQL's plans for the tracker list and the positions feed: the latest location is one
primary-key probe of the latest-location table per row shown, never a read of the history, and
never a probe for the rows an OFFSET skips."""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from dashboard import queries
from dashboard.models import LocationHistory
from dashboard.scope import ALL
from tests.fleet import make_fleet, make_trackers


@pytest.fixture
def analysed_fleet(client_a):
    """300 trackers with 40 reports each, statistics fresh (as after autovacuum)."""
    fleet = make_fleet(client_a, trackers=0)
    trackers = make_trackers(fleet.run, 300)
    start = timezone.now() - timedelta(days=1)
    LocationHistory.objects.bulk_create(
        LocationHistory(
            tracker=tracker, timestamp=start + timedelta(minutes=m), latitude=1.0, longitude=1.0, nearest_city="Lyon"
        )
        for tracker in trackers
        for m in range(40)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE location_history; ANALYZE trackers; ANALYZE tracker_latest_locations")
    return fleet


def analysed_plan(queryset) -> dict:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()
    return plan[0]["Plan"] if isinstance(plan, list) else plan


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def relations(plan: dict) -> set[str]:
    return {node["Relation Name"] for node in nodes(plan) if "Relation Name" in node}


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("search", ["", "lyon"])  # no filter; the latest city (every tracker matches)
def test_page_8_probes_the_latest_location_of_its_own_rows_only(analysed_fleet, search):
    filters = replace(queries.TrackerFilters(), page=8, size=10, search=search)
    plan = analysed_plan(queries.tracker_page_rows(ALL, filters))

    assert "location_history" not in relations(plan)  # however long the history, the list never reads it
    subplans = [node for node in nodes(plan) if node.get("Parent Relationship") == "SubPlan"]
    latest_probes = [node for node in subplans if node.get("Relation Name") == "tracker_latest_locations"]
    assert len(latest_probes) == 1, plan  # one correlated subquery, not five
    # Ten rows shown, ten probes: not the 80 of OFFSET 70 + LIMIT 10 (the rows skipped cost nothing).
    assert latest_probes[0]["Actual Loops"] == 10, plan


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_export_and_the_positions_feed_never_read_the_history(analysed_fleet):
    export = analysed_plan(queries.ordered_tracker_rows(ALL, queries.TrackerFilters()))
    positions = analysed_plan(queries.tracker_position_rows(ALL, queries.TrackerFilters()))
    assert "location_history" not in relations(export) | relations(positions)
    assert "tracker_latest_locations" in relations(export) & relations(positions)
