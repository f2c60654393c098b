"""GET /api/trackers/{id}/trail/: a tracker's path for the map, oldest first, simplified server-side to
at most `max_points`, every dropped report within the stated tolerance where the budget allows."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from dashboard import queries
from dashboard.filters import DEFAULT_TRAIL_POINTS, MAX_TRAIL_POINTS
from dashboard.models import LocationHistory
from dashboard.queries import TRAIL_TOLERANCE_M, in_time_order
from dashboard.simplification import CHUNK_REPORTS, simplify
from tests.fleet import iso, make_fleet

# The answer rounds coordinates to 5 decimals: at most 0.56 m in latitude and as much in longitude.
ROUNDING_M = 0.8


@pytest.fixture
def tracker(client_a):
    return make_fleet(client_a, trackers=1).trackers[0]


def add_reports(tracker, path: list[tuple[datetime, float, float]]) -> None:
    LocationHistory.objects.bulk_create(
        LocationHistory(tracker=tracker, timestamp=moment, latitude=lat, longitude=lon, nearest_city="Lyon")
        for moment, lat, lon in path
    )


def minutes(start: datetime, count: int, place) -> list[tuple[datetime, float, float]]:
    """`count` reports a minute apart from `start`; `place(minute)` → (latitude, longitude)."""
    return [(start + timedelta(minutes=minute), *place(minute)) for minute in range(count)]


def trail(api, tracker, **params):
    return api.get(f"/api/trackers/{tracker.id}/trail/", params)


def parse(moment: str) -> datetime:
    return datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine), independent of the simplifier's projection."""
    (lat1, lon1), (lat2, lon2) = (tuple(math.radians(value) for value in point) for point in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def replay_error(points: list[dict], path: list[tuple[datetime, float, float]]) -> float:
    """The largest distance between a report and where the returned trail, interpolated in time, puts
    the tracker at that report's instant (what the panel's slider shows)."""
    kept = [(parse(p["timestamp"]), p["latitude"], p["longitude"]) for p in points]
    worst, segment = 0.0, 0
    for moment, lat, lon in path:
        while segment < len(kept) - 2 and kept[segment + 1][0] <= moment:
            segment += 1
        (t0, lat0, lon0), (t1, lat1, lon1) = kept[segment], kept[segment + 1]
        ratio = (moment - t0) / (t1 - t0) if t1 > t0 else 0.0
        where = (lat0 + ratio * (lat1 - lat0), lon0 + ratio * (lon1 - lon0))
        worst = max(worst, metres((lat, lon), where))
    return worst


@pytest.mark.django_db
def test_it_answers_the_periods_reports_oldest_first_with_the_first_and_last(owner_api, tracker):
    start = timezone.now() - timedelta(hours=3)
    path = minutes(start, 60, lambda m: (45.0 + (m % 2) * 0.01, 4.0 + m * 0.001))  # a zig-zag: nothing to drop
    add_reports(tracker, random.Random(3).sample(path, len(path)))  # stored in no particular order

    response = trail(owner_api, tracker)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"points", "reports", "simplified"}
    assert (body["reports"], body["simplified"], len(body["points"])) == (60, False, 60)
    assert set(body["points"][0]) == {"timestamp", "latitude", "longitude"}
    assert [p["timestamp"] for p in body["points"]] == [iso(moment) for moment, _, _ in path]
    assert (body["points"][0]["latitude"], body["points"][-1]["longitude"]) == (45.0, round(4.0 + 59 * 0.001, 5))


@pytest.mark.django_db
def test_without_since_it_is_the_last_24_hours(owner_api, tracker):
    now = timezone.now()
    add_reports(
        tracker, [(now - timedelta(hours=hours), 45.0 + (hours % 2) / 100, 4.0) for hours in (30, 25, 23, 2, 1)]
    )

    body = trail(owner_api, tracker).json()

    assert [p["timestamp"] for p in body["points"]] == [iso(now - timedelta(hours=hours)) for hours in (23, 2, 1)]
    assert body["reports"] == 3


@pytest.mark.django_db
def test_until_without_since_is_the_24_hours_before_until(owner_api, tracker):
    now = timezone.now()
    add_reports(tracker, [(now - timedelta(hours=hours), 45.0 + hours / 100, 4.0) for hours in (50, 40, 30, 20)])

    body = trail(owner_api, tracker, until=iso(now - timedelta(hours=25))).json()

    assert [p["timestamp"] for p in body["points"]] == [iso(now - timedelta(hours=hours)) for hours in (40, 30)]


@pytest.mark.django_db
def test_since_and_until_are_inclusive_and_an_inverted_range_is_empty(owner_api, tracker):
    start = timezone.now() - timedelta(days=10)
    path = minutes(start, 10, lambda m: (45.0 + (m % 2) * 0.01, 4.0 + m * 0.01))
    add_reports(tracker, path)

    body = trail(owner_api, tracker, since=iso(path[2][0]), until=iso(path[6][0])).json()
    assert [p["timestamp"] for p in body["points"]] == [iso(moment) for moment, _, _ in path[2:7]]

    inverted = trail(owner_api, tracker, since=iso(path[6][0]), until=iso(path[2][0])).json()
    assert inverted == {"points": [], "reports": 0, "simplified": False}


@pytest.mark.django_db
def test_an_until_in_the_first_day_of_year_one_is_an_empty_trail_not_an_error(owner_api, tracker):
    # The default period, 24 hours before it, would fall before year 1.
    response = trail(owner_api, tracker, until="0001-01-01T05:00:00Z")
    assert response.json() == {"points": [], "reports": 0, "simplified": False}


@pytest.mark.django_db
def test_a_tracker_without_reports_has_an_empty_trail(owner_api, tracker):
    assert trail(owner_api, tracker).json() == {"points": [], "reports": 0, "simplified": False}


def road_trip(start: datetime, count: int) -> list[tuple[datetime, float, float]]:
    """A report a minute: every six hours an hour's stop, then five straight legs of an hour at 30 km/h
    (500 m a minute), each in a new direction, with GPS noise of up to 1.5 m."""
    noise = random.Random(7)
    lat, lon, path = 45.0, 4.0, []
    for minute in range(count):
        within = minute % 360
        if within >= 60:
            heading = (minute // 60) * 1.3
            lat += 500 / 111_195 * math.cos(heading)
            lon += 500 / (111_195 * math.cos(math.radians(lat))) * math.sin(heading)
        jitter = 1.5 / 111_195
        path.append(
            (
                start + timedelta(minutes=minute),
                lat + noise.uniform(-jitter, jitter),
                lon + noise.uniform(-jitter, jitter),
            )
        )
    return path


@pytest.mark.django_db
def test_a_month_at_one_report_a_minute_comes_back_within_the_tolerance(owner_api, tracker):
    start = timezone.now() - timedelta(days=30, minutes=1)
    path = road_trip(start, 43_200)
    add_reports(tracker, path)

    body = trail(owner_api, tracker, since=iso(start)).json()

    assert body["reports"] == 43_200
    assert body["simplified"] is True
    assert 2 < len(body["points"]) <= DEFAULT_TRAIL_POINTS
    assert (body["points"][0]["timestamp"], body["points"][-1]["timestamp"]) == (iso(path[0][0]), iso(path[-1][0]))
    assert replay_error(body["points"], path) <= TRAIL_TOLERANCE_M + ROUNDING_M


@pytest.mark.django_db
def test_a_wait_stays_a_wait_on_the_replay(owner_api, tracker):
    # Out 30 minutes, an hour standing still, back 30 minutes along the same straight line: plain
    # Douglas-Peucker would keep two points and let the tracker creep through the hour.
    start = timezone.now() - timedelta(hours=4)

    def place(minute: int) -> tuple[float, float]:
        out = min(minute, 30) - max(0, minute - 90)
        return 45.0, 4.0 + out * 0.001

    path = minutes(start, 121, place)
    add_reports(tracker, path)

    body = trail(owner_api, tracker).json()

    assert body["simplified"] is True
    assert [p["timestamp"] for p in body["points"]] == [iso(path[minute][0]) for minute in (0, 30, 90, 120)]
    assert replay_error(body["points"], path) <= ROUNDING_M


@pytest.mark.django_db
def test_max_points_bounds_the_answer_and_keeps_the_first_and_last(owner_api, tracker):
    start = timezone.now() - timedelta(hours=20)
    noise = random.Random(11)
    path = minutes(start, 500, lambda m: (45.0 + noise.uniform(-0.01, 0.01), 4.0 + noise.uniform(-0.01, 0.01)))
    add_reports(tracker, path)

    for max_points in (2, 3, 50, 499):
        body = trail(owner_api, tracker, max_points=max_points).json()
        assert len(body["points"]) == max_points, max_points  # noise: every point is worth its place
        assert body["reports"] == 500
        assert body["simplified"] is True
        assert body["points"][0]["timestamp"] == iso(path[0][0])
        assert body["points"][-1]["timestamp"] == iso(path[-1][0])
        timestamps = [p["timestamp"] for p in body["points"]]
        assert timestamps == sorted(timestamps)
    assert len(trail(owner_api, tracker, max_points=500).json()["points"]) == 500


@pytest.mark.django_db
def test_the_budget_goes_where_the_error_is_largest(owner_api, tracker):
    # A straight line with one detour of 2 km: with room for three points, the detour's tip is the third.
    start = timezone.now() - timedelta(hours=2)
    path = minutes(start, 101, lambda m: (45.0 + (0.018 if m == 70 else 0.0), 4.0 + m * 0.001))
    add_reports(tracker, path)

    body = trail(owner_api, tracker, max_points=3).json()

    assert [p["timestamp"] for p in body["points"]] == [iso(path[m][0]) for m in (0, 70, 100)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, field",
    [
        ({"max_points": "1"}, "max_points"),
        ({"max_points": str(MAX_TRAIL_POINTS + 1)}, "max_points"),
        ({"max_points": "many"}, "max_points"),
        ({"max_points": "2.5"}, "max_points"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since"),
    ],
)
def test_bad_parameters_are_400s_naming_them(owner_api, tracker, params, field):
    response = trail(owner_api, tracker, **params)

    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.django_db
def test_a_period_holding_more_reports_than_a_trail_reads_is_a_400(owner_api, tracker, monkeypatch):
    monkeypatch.setattr(queries, "MAX_TRAIL_REPORTS", 5)
    path = minutes(timezone.now() - timedelta(hours=2), 6, lambda m: (45.0 + (m % 2) / 100, 4.0))
    add_reports(tracker, path)

    too_long = trail(owner_api, tracker)
    assert too_long.status_code == 400
    assert too_long.json() == {"since": ["The period holds more than 5 reports: choose a shorter one."]}
    assert trail(owner_api, tracker, since=iso(path[1][0])).json()["reports"] == 5


@pytest.mark.django_db
def test_the_bounds_of_max_points_are_accepted(owner_api, tracker):
    for max_points in (2, MAX_TRAIL_POINTS):
        assert trail(owner_api, tracker, max_points=max_points).status_code == 200


@pytest.mark.django_db
def test_it_is_404_outside_the_scope(owner_api, other_api, staff_api, tracker):
    add_reports(tracker, minutes(timezone.now() - timedelta(hours=1), 5, lambda m: (45.0, 4.0 + m / 100)))

    assert other_api.get(f"/api/trackers/{tracker.id}/trail/").status_code == 404  # another client's user
    assert owner_api.get(f"/api/trackers/{tracker.id + 1000}/trail/").status_code == 404  # no such tracker
    assert staff_api.get(f"/api/trackers/{tracker.id}/trail/").json()["reports"] == 5


@pytest.mark.django_db
def test_it_needs_authentication(client, tracker):
    assert client.get(f"/api/trackers/{tracker.id}/trail/").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("reports", [10, 3000])
def test_it_runs_three_queries_whatever_the_length(owner_api, tracker, reports, django_assert_num_queries):
    add_reports(tracker, minutes(timezone.now() - timedelta(hours=23), reports, lambda m: (45.0, 4.0 + m / 1e4)))
    trail(owner_api, tracker)  # warm: the session and the reference data the scope reads are cached
    # The user (the session comes from the cache), the tracker in scope, the period's reports.
    with django_assert_num_queries(3):
        body = trail(owner_api, tracker).json()
    assert body["reports"] == reports


def test_the_schema_documents_the_trail_its_bounds_and_its_errors():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/trackers/{id}/trail/"]["get"]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert parameters["max_points"] == {"type": "integer", "minimum": 2, "maximum": MAX_TRAIL_POINTS, "default": 2000}
    assert parameters["since"] == parameters["until"] == {"type": "string", "format": "date-time"}
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    trail_schema = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert trail_schema["required"] == ["points", "reports", "simplified"]
    point = schema["components"]["schemas"][trail_schema["properties"]["points"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(point["properties"]) == {"timestamp", "latitude", "longitude"}
    errors = {status: r["content"]["application/json"]["schema"] for status, r in operation["responses"].items()}
    assert errors["400"] == {"$ref": "#/components/schemas/FieldErrors"}
    assert errors["403"] == errors["404"] == {"$ref": "#/components/schemas/Error"}
    assert f"{TRAIL_TOLERANCE_M:g} m" in operation["description"]


# --- The simplifier itself ----------------------------------------------------------------


def test_columns_that_arrive_out_of_time_order_are_put_in_order():
    # SQLite has no ORDER BY inside an aggregate: the columns are sorted by time when they need it.
    assert in_time_order([3, 1, 2], ["c", "a", "b"], [30, 10, 20]) == ([1, 2, 3], ["a", "b", "c"], [10, 20, 30])
    times, names = [1, 2, 3], ["a", "b", "c"]
    assert in_time_order(times, names) == (times, names)


def test_simplify_keeps_the_ends_of_a_straight_line_at_constant_speed():
    times = [float(second) for second in range(0, 600, 60)]
    latitudes = [45.0 + second / 1e5 for second in times]
    assert simplify(times, latitudes, [4.0] * 10, max_points=100, tolerance_m=1.0) == [0, 9]


def test_simplify_takes_out_the_cuts_of_a_long_trail_that_needs_none():
    # Longer than CHUNK_REPORTS: the first split cuts it every CHUNK_REPORTS reports; none is needed.
    count = 48 * CHUNK_REPORTS + 5
    times = [60.0 * minute for minute in range(count)]
    assert simplify(times, [45.0] * count, [4.0] * count, max_points=2000, tolerance_m=5.0) == [0, count - 1]
    moving = [45.0 + minute / 1e5 for minute in range(count)]
    assert simplify(times, moving, [4.0] * count, max_points=2000, tolerance_m=5.0) == [0, count - 1]


def test_simplify_keeps_the_budget_when_it_cuts_a_long_trail():
    noise = random.Random(5)
    count = 48 * CHUNK_REPORTS
    times = [60.0 * minute for minute in range(count)]
    latitudes = [45.0 + noise.uniform(-0.01, 0.01) for _ in range(count)]
    longitudes = [4.0 + noise.uniform(-0.01, 0.01) for _ in range(count)]
    for max_points in (2, 3, 9, 17, 100):
        kept = simplify(times, latitudes, longitudes, max_points=max_points, tolerance_m=5.0)
        assert len(kept) == max_points
        assert (kept[0], kept[-1]) == (0, count - 1)
        assert kept == sorted(set(kept))


def test_simplify_spends_the_points_of_the_cuts_it_takes_out_where_the_error_is_largest():
    # Four weeks standing still, then an hour's zig-zag that needs more points than the budget: the
    # cuts among the still reports go, and the points they free go to the zig-zag too.
    still = 320 * CHUNK_REPORTS
    count = still + 60
    times = [60.0 * minute for minute in range(count)]
    latitudes = [45.0] * still + [45.0 + (minute % 2) * 0.01 for minute in range(60)]
    longitudes = [4.0] * still + [4.0 + minute * 0.001 for minute in range(60)]

    kept = simplify(times, latitudes, longitudes, max_points=40, tolerance_m=5.0)

    assert len(kept) == 40
    assert kept[0] == 0
    assert all(index >= still for index in kept[1:])


def test_simplify_keeps_the_budget_on_a_month_that_needs_more_than_it():
    # The worst case for the cost: 43,200 reports of a loop wiggling by kilometres (measure_panel.py's
    # BENCH-TRAIL-30D), no budget enough for 5 m: every budget is spent whole, the ends kept, in order.
    count = 43_200
    times = [60e6 * minute for minute in range(count)]
    angles = [2 * math.pi * minute / count * 3 for minute in range(count)]
    latitudes = [46.5 + 2.5 * math.sin(a) + 0.02 * math.sin(m / 7) for m, a in enumerate(angles)]
    longitudes = [2.5 + 3.5 * math.cos(a) + 0.02 * math.cos(m / 5) for m, a in enumerate(angles)]
    for max_points in (2, 500, DEFAULT_TRAIL_POINTS):
        kept = simplify(times, latitudes, longitudes, max_points=max_points, tolerance_m=TRAIL_TOLERANCE_M)
        assert len(kept) == max_points
        assert (kept[0], kept[-1]) == (0, count - 1)
        assert kept == sorted(set(kept))


@pytest.mark.parametrize("count", [CHUNK_REPORTS + 1, 3 * CHUNK_REPORTS + 7, 20 * CHUNK_REPORTS + 3, 43_201])
def test_simplify_keeps_its_promises_on_walks_that_stop_and_go(count):
    # Random walks that stand still now and then, with gaps of an hour: at most max_points, the
    # ends, in order; and within the tolerance of the replay whenever the budget was not all spent
    # (one report per instant, as the unique constraint stores them).
    noise = random.Random(count)
    times, latitudes, longitudes, lat, lon, second = [], [], [], 45.0, 4.0, 0
    for _ in range(count):
        if noise.random() < 0.7:
            lat, lon = lat + noise.uniform(-1, 1) * 2e-4, lon + noise.uniform(-1, 1) * 2e-4
        second += noise.choice((60, 60, 60, 3600))
        times.append(float(second))
        latitudes.append(lat)
        longitudes.append(lon)
    moments = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=moment) for moment in times]
    path = list(zip(moments, latitudes, longitudes))
    for max_points in (2, 3, 7, 50, count // 2, MAX_TRAIL_POINTS):
        kept = simplify(times, latitudes, longitudes, max_points=max_points, tolerance_m=TRAIL_TOLERANCE_M)
        assert len(kept) <= max_points
        assert (kept[0], kept[-1]) == (0, count - 1)
        assert kept == sorted(set(kept))
        if len(kept) < max_points:
            points = [
                {"timestamp": iso(moments[k]), "latitude": latitudes[k], "longitude": longitudes[k]} for k in kept
            ]
            # 1 %: the simplifier's equirectangular metres against the haversine's
            assert replay_error(points, path) <= TRAIL_TOLERANCE_M * 1.01, max_points


def test_simplify_answers_short_trails_whole():
    assert simplify([], [], [], max_points=2, tolerance_m=5.0) == []
    assert simplify([0.0], [45.0], [4.0], max_points=2, tolerance_m=5.0) == [0]
    assert simplify([0.0, 1.0], [45.0, 46.0], [4.0, 4.0], max_points=2, tolerance_m=5.0) == [0, 1]


def test_simplify_measures_across_the_antimeridian():
    # 179.999° → -179.999°: about 160 m eastwards, not 28,000 km westwards.
    times = [0.0, 60.0, 120.0]
    kept = simplify(times, [0.0, 0.0, 0.0], [179.999, 180.0, -179.999], max_points=3, tolerance_m=5.0)
    assert kept == [0, 2]


def test_simplify_with_every_report_at_one_instant_interpolates_by_order():
    # Three reports with one timestamp along a line: the middle one lies on it.
    assert simplify([5.0] * 3, [45.0, 45.001, 45.002], [4.0] * 3, max_points=3, tolerance_m=1.0) == [0, 2]
    assert simplify([5.0] * 3, [45.0, 45.01, 45.0], [4.0] * 3, max_points=3, tolerance_m=1.0) == [0, 1, 2]


def test_simplify_refuses_a_budget_without_both_ends():
    with pytest.raises(ValueError):
        simplify([0.0, 1.0, 2.0], [0.0] * 3, [0.0] * 3, max_points=1, tolerance_m=1.0)
