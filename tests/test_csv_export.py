"""GET /api/trackers/export.csv: cells a spreadsheet would run as formulas are written as text
(OWASP CSV injection), numbers stay numbers, and a CSV client's `Accept: text/csv` is served."""

import csv
import io

import pytest
from django.utils import timezone

from dashboard.csv_export import csv_lines, spreadsheet_safe
from dashboard.models import LocationHistory
from tests.fleet import make_fleet, make_trackers


def export_rows(api, **headers) -> list[dict]:
    response = api.get("/api/trackers/export.csv?ordering=serial", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    ['=HYPERLINK("http://evil","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tx", "\rx"],
    ids=["equals", "plus", "minus", "at", "tab", "carriage-return"],
)
def test_a_tracker_name_that_is_a_formula_is_exported_as_text(owner_api, client_a, name):
    fleet = make_fleet(client_a, trackers=1)
    fleet.trackers[0].name = name
    fleet.trackers[0].save()

    (row,) = export_rows(owner_api)

    assert row["name"] == "'" + name


@pytest.mark.django_db
def test_numbers_stay_numbers_and_plain_text_is_untouched(owner_api, client_a):
    fleet = make_fleet(client_a, trackers=0)
    (tracker,) = make_trackers(fleet.run, 1)
    tracker.name = "Crate 7 - east"  # a dash inside text is not a formula
    tracker.battery_level = 5
    tracker.save()
    LocationHistory.objects.create(
        tracker=tracker, timestamp=timezone.now(), latitude=-33.9, longitude=-18.4, nearest_city="-Cape Town"
    )

    (row,) = export_rows(owner_api)

    assert (row["latest_latitude"], row["latest_longitude"]) == ("-33.9", "-18.4")  # negative numbers, unprefixed
    assert row["battery_level"] == "5"
    assert row["name"] == "Crate 7 - east"
    assert row["latest_nearest_city"] == "'-Cape Town"  # text from a report is text too


def test_only_text_cells_are_prefixed():
    assert [spreadsheet_safe(value) for value in (-1, -0.5, "-0.5", "=1", "", "a=b", None)] == [
        -1,
        -0.5,
        "'-0.5",
        "'=1",
        "",
        "a=b",
        None,
    ]
    assert list(csv_lines(["a", "b"], [["=x", -2.5]])) == ["a,b\r\n", "'=x,-2.5\r\n"]


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["text/csv", "text/csv; charset=utf-8", "*/*", "application/json"])
def test_the_export_answers_whatever_the_client_accepts(owner_api, client_a, accept):
    make_fleet(client_a, trackers=2)

    assert len(export_rows(owner_api, HTTP_ACCEPT=accept)) == 2


@pytest.mark.django_db
def test_a_bad_filter_with_accept_text_csv_is_still_a_400_json(owner_api, client_a):
    response = owner_api.get("/api/trackers/export.csv?brand_ids=abc", HTTP_ACCEPT="text/csv")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert list(response.json()) == ["brand_ids"]
