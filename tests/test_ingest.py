"""POST /api/location-reports/: all-or-nothing batches, duplicates, never moving backwards."""

import io
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dashboard.models import LocationHistory, Tracker
from dashboard.serializers import LocationReportBatchSerializer, _plain_reports
from dashboard.services import ingest_token_create, location_reports_ingest
from tests.conftest import make_user
from tests.fleet import iso, make_fleet, make_trackers

URL = "/api/location-reports/"


@pytest.fixture
def fleet(client_a):
    return make_fleet(client_a, trackers=3)


def report(tracker, when, **extra):
    return {
        "tracker": tracker.serial,
        "timestamp": when.isoformat(),
        "latitude": 48.85,
        "longitude": 2.35,
        **extra,
    }


@pytest.mark.django_db
def test_accepted_reports_land_in_history_and_move_the_last_report(staff_api, fleet):
    one, two, _ = fleet.trackers
    now = timezone.now().replace(microsecond=0)
    batch = [
        report(one, now - timedelta(minutes=2), nearest_city="Paris", confidence=0.9),
        report(one, now - timedelta(minutes=1)),
        report(two, now),
    ]
    response = staff_api.post(URL, batch, format="json")

    assert response.status_code == 200
    assert response.json() == {"accepted": 3, "duplicates": 0}
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.last_report_received == now - timedelta(minutes=1)
    assert two.last_report_received == now
    stored = LocationHistory.objects.get(tracker=one, timestamp=now - timedelta(minutes=2))
    assert (stored.nearest_city, stored.confidence, stored.latitude) == ("Paris", 0.9, 48.85)
    latest = staff_api.get(f"/api/trackers/{one.id}/").json()["latest_location"]
    assert latest["timestamp"] == iso(now - timedelta(minutes=1))


@pytest.mark.django_db
def test_exact_repeats_are_counted_as_duplicates_not_errors(staff_api, fleet):
    tracker = fleet.trackers[0]
    when = timezone.now() - timedelta(minutes=5)
    staff_api.post(URL, [report(tracker, when)], format="json")

    response = staff_api.post(
        URL, [report(tracker, when), report(tracker, when), report(tracker, when + timedelta(seconds=1))], format="json"
    )
    assert response.json() == {"accepted": 1, "duplicates": 2}
    assert LocationHistory.objects.filter(tracker=tracker).count() == 2


@pytest.mark.django_db
def test_an_out_of_order_report_is_stored_but_never_moves_the_last_report_back(staff_api, fleet):
    tracker = fleet.trackers[0]
    now = timezone.now().replace(microsecond=0)
    staff_api.post(URL, [report(tracker, now)], format="json")
    response = staff_api.post(URL, [report(tracker, now - timedelta(hours=3))], format="json")

    assert response.json() == {"accepted": 1, "duplicates": 0}
    tracker.refresh_from_db()
    assert tracker.last_report_received == now
    assert LocationHistory.objects.filter(tracker=tracker).count() == 2
    assert staff_api.get(f"/api/trackers/{tracker.id}/").json()["latest_location"]["timestamp"] == iso(now)


@pytest.mark.django_db
def test_a_batch_mixing_good_and_bad_rows_stores_nothing(staff_api, fleet):
    tracker = fleet.trackers[0]
    now = timezone.now()
    batch = [report(tracker, now), report(tracker, now - timedelta(minutes=1), latitude=91), {"tracker": "NOPE"}]
    response = staff_api.post(URL, batch, format="json")

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"1", "2"}
    assert "latitude" in body["1"]
    assert {"timestamp", "latitude", "longitude"} <= set(body["2"])
    assert not LocationHistory.objects.exists()
    tracker.refresh_from_db()
    assert tracker.last_report_received is None


# --- Battery from reports -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_newest_reports_battery_becomes_the_trackers_whatever_the_batch_order(staff_api, fleet):
    one, two, three = fleet.trackers
    now = timezone.now().replace(microsecond=0)
    batch = [
        report(one, now, battery_level=41),
        report(one, now - timedelta(minutes=10), battery_level=90),  # older, later in the batch
        report(two, now - timedelta(minutes=1), battery_level=0),
        report(three, now),  # no battery: the tracker's stays as it was
    ]
    assert staff_api.post(URL, batch, format="json").json() == {"accepted": 4, "duplicates": 0}

    assert [t.battery_level for t in Tracker.objects.order_by("serial")] == [41, 0, 50]
    assert staff_api.get(f"/api/trackers/{one.id}/").json()["battery_level"] == 41


@pytest.mark.django_db
def test_an_older_reports_battery_is_stored_in_history_only_and_ignored(staff_api, fleet):
    tracker = fleet.trackers[0]
    now = timezone.now().replace(microsecond=0)
    staff_api.post(URL, [report(tracker, now, battery_level=30)], format="json")

    response = staff_api.post(URL, [report(tracker, now - timedelta(hours=3), battery_level=95)], format="json")

    assert response.json() == {"accepted": 1, "duplicates": 0}
    tracker.refresh_from_db()
    assert (tracker.battery_level, tracker.last_report_received) == (30, now)
    assert LocationHistory.objects.filter(tracker=tracker).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("battery", [-1, 101, 1000, 50.5, "full", True, [50]])
def test_a_battery_outside_0_to_100_is_a_bad_row_naming_its_index_and_field(staff_api, fleet, battery):
    tracker = fleet.trackers[0]
    now = timezone.now()
    batch = [report(tracker, now - timedelta(minutes=1), battery_level=20), report(tracker, now, battery_level=battery)]

    response = staff_api.post(URL, batch, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["1"]
    assert list(response.json()["1"]) == ["battery_level"]
    assert not LocationHistory.objects.exists()
    tracker.refresh_from_db()
    assert tracker.battery_level == 50


@pytest.mark.django_db
def test_an_unknown_serial_rejects_the_batch_naming_the_row(staff_api, fleet):
    now = timezone.now()
    batch = [report(fleet.trackers[0], now), {**report(fleet.trackers[0], now), "tracker": "NO-SUCH"}]
    response = staff_api.post(URL, batch, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["1"]
    assert "tracker" in response.json()["1"]
    assert not LocationHistory.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("per_tracker", [1, 50])
def test_ingest_writes_in_a_constant_number_of_queries(staff_api, fleet, django_assert_num_queries, per_tracker):
    start = timezone.now() - timedelta(hours=1)
    batch = [report(tracker, start + timedelta(seconds=i)) for i in range(per_tracker) for tracker in fleet.trackers]
    # user (the session comes from the cache); SAVEPOINT, trackers by serial, [SQLite: stored instants],
    # one INSERT (PostgreSQL: ... ON CONFLICT DO NOTHING RETURNING, which tells the stored instants;
    # up to 150 rows here: SQLite's batches are smallest), one UPDATE of last_report_received, RELEASE.
    with django_assert_num_queries(6 if connection.vendor == "postgresql" else 7):
        response = staff_api.post(URL, batch, format="json")
    assert response.json() == {"accepted": len(batch), "duplicates": 0}


@pytest.mark.django_db
def test_a_full_batch_of_10000_reports_is_stored(staff_api, client_a):
    fleet = make_fleet(client_a, trackers=0)
    trackers = make_trackers(fleet.run, 2000)
    start = timezone.now() - timedelta(days=1)
    batch = [report(tracker, start + timedelta(minutes=i)) for i in range(5) for tracker in trackers]
    response = staff_api.post(URL, batch, format="json")
    assert response.json() == {"accepted": 10_000, "duplicates": 0}
    assert LocationHistory.objects.count() == 10_000
    assert Tracker.objects.filter(last_report_received=start + timedelta(minutes=4)).count() == 2000


@pytest.mark.django_db
def test_the_service_reports_which_production_runs_it_wrote_to(fleet, client_b):
    other = make_fleet(client_b, prefix="B", trackers=1)
    now = timezone.now()
    reports = [
        {"tracker": fleet.trackers[0].serial, "timestamp": now, "latitude": 1.0, "longitude": 1.0},
        {"tracker": other.trackers[0].serial, "timestamp": now, "latitude": 1.0, "longitude": 1.0},
    ]
    result = location_reports_ingest(reports=reports)
    assert result.production_run_ids == {fleet.run.id, other.run.id}
    assert location_reports_ingest(reports=reports[:1]).production_run_ids == frozenset()


# --- Who may ingest ----------------------------------------------------------------------


@pytest.mark.django_db
def test_an_ordinary_user_may_not_ingest(owner_api, fleet):
    response = owner_api.post(URL, [report(fleet.trackers[0], timezone.now())], format="json")
    assert response.status_code == 403
    assert not LocationHistory.objects.exists()


@pytest.mark.django_db
def test_anonymous_may_not_ingest(fleet):
    assert APIClient().post(URL, [report(fleet.trackers[0], timezone.now())], format="json").status_code in (401, 403)


@pytest.mark.django_db
def test_a_token_holding_the_ingest_permission_may_ingest(fleet):
    robot = make_user("ingest-robot", client=fleet.client)
    robot.user_permissions.add(Permission.objects.get(codename="ingest_location_reports"))
    token = Token.objects.create(user=robot)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = api.post(URL, [report(fleet.trackers[0], timezone.now())], format="json")
    assert response.status_code == 200
    assert LocationHistory.objects.count() == 1


@pytest.mark.django_db
def test_a_token_can_be_obtained_with_username_and_password(owner):
    response = APIClient().post("/api/auth/token/", {"username": "owner", "password": "pw-for-tests"}, format="json")
    assert response.status_code == 200
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api.get("/api/me/scope/").status_code == 200


# A day inside REPORT_MAX_AGE_DAYS whenever the suite runs.
DAY = (timezone.now() - timedelta(days=30)).date().isoformat()
GOOD_ROWS = [
    {"tracker": "T-1", "timestamp": DAY + "T03:04:05Z", "latitude": 48.85, "longitude": 2.35},
    {"tracker": "  T-1 ", "timestamp": DAY + "T03:04:05.123456+02:00", "latitude": -90, "longitude": 180},
    {"tracker": "T-1", "timestamp": DAY + " 03:04:05", "latitude": 0, "longitude": -180.0, "extra": 1},
    {"tracker": "T-1", "timestamp": DAY + "T03:04Z", "latitude": 1.5, "longitude": 2, "nearest_city": " Lyon "},
    {"tracker": "T-1", "timestamp": DAY + "T03:04:05Z", "latitude": 1, "longitude": 2, "nearest_city": ""},
    {"tracker": "T-1", "timestamp": DAY + "T03:04:05Z", "latitude": 1, "longitude": 2, "confidence": 1},
    {"tracker": "T-1", "timestamp": DAY + "T03:04:05Z", "latitude": 1, "longitude": 2, "confidence": None},
    {"tracker": "T-" + "x" * 62, "timestamp": DAY + "T03:04:05Z", "latitude": 1, "longitude": 2},
]


@pytest.mark.parametrize("row", GOOD_ROWS)
def test_a_plainly_good_row_is_validated_exactly_as_the_serializer_does(row):
    serializer = LocationReportBatchSerializer(data=[row])
    assert serializer.is_valid(), serializer.errors
    lean = _plain_reports([row])
    assert lean == [dict(report) for report in serializer.validated_data]
    assert [type(value) for value in lean[0].values()] == [
        type(value) for value in serializer.validated_data[0].values()
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changes", [{"latitude": "48.85"}, {"longitude": True}, {"confidence": "0.5"}, {"nearest_city": 75}]
)
def test_values_the_serializer_coerces_are_still_accepted(staff_api, fleet, changes):
    now = timezone.now().replace(microsecond=0)
    response = staff_api.post(URL, [report(fleet.trackers[0], now, **changes)], format="json")

    assert response.json() == {"accepted": 1, "duplicates": 0}
    stored = LocationHistory.objects.get(tracker=fleet.trackers[0])
    assert (stored.latitude, stored.longitude) == (
        float(changes.get("latitude", 48.85)),
        float(changes.get("longitude", 2.35)),
    )


# --- A client's ingest token writes its client's trackers only ---------------------------


def token_api(token: Token) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


@pytest.fixture
def client_ingest_api(client_a):
    return token_api(ingest_token_create(client=client_a, username="a-ingest"))


@pytest.mark.django_db
def test_a_clients_token_writes_its_own_clients_trackers(client_ingest_api, fleet):
    response = client_ingest_api.post(URL, [report(fleet.trackers[0], timezone.now())], format="json")

    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert LocationHistory.objects.filter(tracker=fleet.trackers[0]).count() == 1


@pytest.mark.django_db
def test_a_foreign_serial_is_refused_exactly_like_an_unknown_one(client_ingest_api, fleet, client_b):
    foreign = make_fleet(client_b, trackers=1, prefix="B").trackers[0]
    now = timezone.now()
    own_row = report(fleet.trackers[0], now)

    foreign_answer = client_ingest_api.post(URL, [own_row, {**own_row, "tracker": foreign.serial}], format="json")
    unknown_answer = client_ingest_api.post(URL, [own_row, {**own_row, "tracker": "NO-SUCH"}], format="json")

    assert foreign_answer.status_code == unknown_answer.status_code == 400
    assert foreign_answer.json() == {"1": {"tracker": [f"No tracker with serial {foreign.serial!r}."]}}
    assert unknown_answer.json() == {"1": {"tracker": ["No tracker with serial 'NO-SUCH'."]}}
    assert not LocationHistory.objects.exists()
    foreign.refresh_from_db()
    assert foreign.last_report_received is None


@pytest.mark.django_db
def test_a_user_with_the_permission_but_no_client_writes_nothing(fleet):
    robot = make_user("no-client-robot")
    robot.user_permissions.add(Permission.objects.get(codename="ingest_location_reports"))

    response = token_api(Token.objects.create(user=robot)).post(
        URL, [report(fleet.trackers[0], timezone.now())], format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"0": {"tracker": [f"No tracker with serial {fleet.trackers[0].serial!r}."]}}
    assert not LocationHistory.objects.exists()


@pytest.mark.django_db
def test_staff_still_write_every_clients_trackers(staff_api, fleet, client_b):
    foreign = make_fleet(client_b, trackers=1, prefix="B").trackers[0]
    now = timezone.now()

    response = staff_api.post(URL, [report(fleet.trackers[0], now), report(foreign, now)], format="json")

    assert response.json() == {"accepted": 2, "duplicates": 0}


@pytest.mark.django_db
def test_create_ingest_token_prints_a_token_scoped_to_the_client(client_a, fleet):
    out = io.StringIO()
    call_command("create_ingest_token", "--client", "Client A", "--username", "a-feed", stdout=out)
    key = out.getvalue().strip()

    token = Token.objects.select_related("user__profile").get(key=key)
    assert token.user.profile.client == client_a
    assert not token.user.has_usable_password()
    assert token.user.has_perm("dashboard.ingest_location_reports")
    assert not token.user.is_staff
    assert token_api(token).post(URL, [report(fleet.trackers[0], timezone.now())], format="json").status_code == 200
    # Run again (by id this time): the same user keeps the same token.
    again = io.StringIO()
    call_command("create_ingest_token", "--client", str(client_a.pk), "--username", "a-feed", stdout=again)
    assert again.getvalue().strip() == key


@pytest.mark.django_db
@pytest.mark.parametrize(
    "client_name, username, message",
    [
        ("No such client", "a-feed", "No client 'No such client'."),
        ("Client B", "owner", "'owner' belongs to another client."),
        ("Client A", "staff", "'staff' is staff: its token would write every client's trackers."),
    ],
)
def test_create_ingest_token_refuses_what_it_cannot_scope(
    client_a, client_b, owner, staff, client_name, username, message
):
    tokens_before = Token.objects.count()
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("create_ingest_token", "--client", client_name, "--username", username, stdout=io.StringIO())
    assert Token.objects.count() == tokens_before
    owner.profile.refresh_from_db()
    assert owner.profile.client == client_a


# --- REPORT_MAX_AGE_DAYS -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_report_dated_year_one_is_a_bad_row_naming_its_index_and_timestamp(staff_api, fleet):
    good = report(fleet.trackers[0], timezone.now())
    response = staff_api.post(URL, [good, {**good, "timestamp": "0001-01-01T00:00:00Z"}], format="json")

    assert response.status_code == 400
    assert response.json() == {"1": {"timestamp": ["Reports older than 366 days (REPORT_MAX_AGE_DAYS) are refused."]}}
    assert not LocationHistory.objects.exists()


@pytest.mark.django_db
def test_report_max_age_days_sets_the_bound(staff_api, fleet, settings):
    settings.REPORT_MAX_AGE_DAYS = 2
    now = timezone.now()
    inside, outside = (
        report(fleet.trackers[0], now - timedelta(days=1)),
        report(fleet.trackers[1], now - timedelta(days=3)),
    )

    response = staff_api.post(URL, [inside, outside], format="json")

    assert response.json() == {"1": {"timestamp": ["Reports older than 2 days (REPORT_MAX_AGE_DAYS) are refused."]}}
    assert staff_api.post(URL, [inside], format="json").json() == {"accepted": 1, "duplicates": 0}


def test_report_max_age_days_must_be_at_least_one():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='trackerdash.settings'; django.setup()",
        ],
        env={**os.environ, "REPORT_MAX_AGE_DAYS": "0"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "REPORT_MAX_AGE_DAYS must be a whole number of days, at least 1." in result.stderr
