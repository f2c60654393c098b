"""POST /api/telemetry/: the page's beacons are validated, then counted in the dashboard metrics."""

import json

import pytest
from django.test import Client as DjangoClient
from prometheus_client import REGISTRY

URL = "/api/telemetry/"


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def post_beacon(client, body) -> object:
    # What navigator.sendBeacon sends: a JSON Blob, the session cookie, no CSRF header.
    return client.post(URL, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def browser(owner):
    """A logged-in browser session that enforces CSRF checks like a real one."""
    client = DjangoClient(enforce_csrf_checks=True)
    client.force_login(owner)
    return client


def test_timings_feed_the_dashboard_histograms(browser):
    load_count, load_sum = sample("dashboard_load_seconds_count"), sample("dashboard_load_seconds_sum")
    data_count = sample("dashboard_filter_to_data_seconds_count")

    response = post_beacon(
        browser,
        {"events": [{"type": "dashboard_load", "seconds": 0.42}, {"type": "filter_to_data", "seconds": 0.2}]},
    )

    assert response.status_code == 204
    assert sample("dashboard_load_seconds_count") == load_count + 1
    assert sample("dashboard_load_seconds_sum") == pytest.approx(load_sum + 0.42)
    assert sample("dashboard_filter_to_data_seconds_count") == data_count + 1


def test_events_are_counted_once_each(browser):
    before = {
        name: sample(name)
        for name in ("filter_applications_total", "lazy_load_triggers_total", "empty_state_views_total")
    }

    response = post_beacon(
        browser,
        {
            "events": [
                {"type": "filter_applied"},
                {"type": "filter_applied"},
                {"type": "lazy_load"},
                {"type": "empty_state"},
            ]
        },
    )

    assert response.status_code == 204
    assert sample("filter_applications_total") == before["filter_applications_total"] + 2
    assert sample("lazy_load_triggers_total") == before["lazy_load_triggers_total"] + 1
    assert sample("empty_state_views_total") == before["empty_state_views_total"] + 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": [{"type": "page_exploded"}]}, "type"),
        ({"events": [{"type": "dashboard_load"}]}, "seconds"),
        ({"events": [{"type": "dashboard_load", "seconds": -1}]}, "seconds"),
        ({"events": [{"type": "dashboard_load", "seconds": 1e9}]}, "seconds"),
        ({"events": [{"type": "dashboard_load", "seconds": "soon"}]}, "seconds"),
        ({"events": [{"type": "filter_applied", "seconds": 3}]}, "seconds"),
    ],
)
def test_a_bad_event_is_a_400_naming_it_and_counts_nothing(browser, body, field):
    before = sample("dashboard_load_seconds_count"), sample("filter_applications_total")

    response = post_beacon(browser, body)

    assert response.status_code == 400
    # DRF names the bad event by its index in the batch.
    assert field in response.json()["events"]["0"]
    assert (sample("dashboard_load_seconds_count"), sample("filter_applications_total")) == before


@pytest.mark.parametrize("body", [{}, {"events": []}, {"events": [{"type": "lazy_load"}] * 51}, ["lazy_load"]])
def test_a_malformed_beacon_is_a_400(browser, body):
    assert post_beacon(browser, body).status_code == 400


def test_a_batch_with_one_bad_event_counts_none_of_it(browser):
    before = sample("filter_applications_total")

    response = post_beacon(browser, {"events": [{"type": "filter_applied"}, {"type": "nope"}]})

    assert response.status_code == 400
    assert sample("filter_applications_total") == before


def test_it_needs_a_logged_in_user(db):
    before = sample("filter_applications_total")

    response = post_beacon(DjangoClient(), {"events": [{"type": "filter_applied"}]})

    assert response.status_code == 403
    assert sample("filter_applications_total") == before


def test_it_accepts_only_json(browser):
    response = browser.post(URL, data={"events": "filter_applied"})

    assert response.status_code == 415
