"""GET /api/trackers/{id}/history/: the total is told by a short page or counted up to a bound."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import queries
from tests.fleet import add_history, make_fleet


@pytest.fixture
def tracker(client_a):
    tracker = make_fleet(client_a, trackers=1).trackers[0]
    add_history(tracker, 30, start=timezone.now() - timedelta(hours=2))
    return tracker


def page(api, tracker, **params):
    return api.get(f"/api/trackers/{tracker.id}/history/", params).json()


@pytest.mark.django_db
def test_a_page_that_is_not_full_tells_the_total_without_a_count(owner_api, tracker, django_assert_num_queries):
    page(owner_api, tracker)  # warm: the session and the reference data the scope reads are cached
    # The user (the session comes from the cache), the tracker in scope, the page: no COUNT.
    with django_assert_num_queries(3):
        body = page(owner_api, tracker, size=50)
    assert (body["total"], body["pages"], len(body["items"])) == (30, 1, 30)


@pytest.mark.django_db
def test_a_full_page_counts_the_total(owner_api, tracker, django_assert_num_queries):
    page(owner_api, tracker)  # warm: the session and the reference data the scope reads are cached
    # The user, the tracker in scope, the page, the bounded COUNT.
    with django_assert_num_queries(4):
        body = page(owner_api, tracker, size=10)
    assert (body["total"], body["pages"], len(body["items"])) == (30, 3, 10)


@pytest.mark.django_db
def test_the_total_counts_at_most_a_bounded_number_of_rows_past_the_page(owner_api, tracker, monkeypatch):
    monkeypatch.setattr(queries, "HISTORY_TOTAL_LOOKAHEAD", 5)
    # Page 1 of 4: the count stops at 4 + 5 rows, a lower bound that lets the client page on.
    assert (page(owner_api, tracker, size=4)["total"], page(owner_api, tracker, size=4)["pages"]) == (9, 3)
    # Further on, the bound moves with the page until it is exact.
    assert page(owner_api, tracker, size=4, page=3)["total"] == 17
    assert page(owner_api, tracker, size=4, page=7)["total"] == 30
    last = page(owner_api, tracker, size=4, page=8)
    assert (last["total"], last["pages"], len(last["items"])) == (30, 8, 2)
    beyond = page(owner_api, tracker, size=4, page=9)
    assert (beyond["total"], beyond["pages"], beyond["items"]) == (30, 8, [])


@pytest.mark.django_db
def test_a_tracker_without_history_answers_an_empty_page(owner_api, client_a):
    tracker = make_fleet(client_a, trackers=1, prefix="E").trackers[0]
    assert page(owner_api, tracker) == {"items": [], "total": 0, "page": 1, "size": 100, "pages": 0}
