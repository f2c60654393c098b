"""The changed-rows feed: every write path that can change a tracker list appends the trackers it
changed, once per transaction, after commit (in-process without Redis, a Redis Stream with it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from model_bakery import baker

from cache_layer import feed
from cache_layer.feed import AsyncFeed, Gap
from dashboard import services
from dashboard.live import Stream
from dashboard.models import LocationHistory, ProductionRun, Tracker
from dashboard.queries import LiveTracker, TrackerFilters, live_trackers
from dashboard.scope import ALL, Scope
from tests.fleet import make_fleet, make_trackers


def head() -> str:
    return asyncio.run(_head())


async def _head() -> str:
    reader = AsyncFeed("tracker")
    try:
        return await reader.head()
    finally:
        await reader.close()


def changed_since(cursor: str) -> list[frozenset[int] | None]:
    """The ids of every entry appended after `cursor`, one set per entry."""

    async def read():
        reader = AsyncFeed("tracker")
        try:
            return await reader.read(cursor, timeout=0.05)
        finally:
            await reader.close()

    return [entry.ids for entry in asyncio.run(read())]


@pytest.fixture
def fleet(client_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # its own entries are flushed before the test's
        return make_fleet(client_a, trackers=3, prefix="A")


@pytest.fixture
def cursor(fleet):
    feed.reset_local()
    return head()


def test_a_tracker_save_appends_its_id_after_commit(fleet, cursor, django_capture_on_commit_callbacks):
    tracker = fleet.trackers[0]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        tracker.current_status = "lost"
        tracker.save()
        assert changed_since(cursor) == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert changed_since(cursor) == [{tracker.pk}]


def test_a_rolled_back_write_appends_nothing(fleet, cursor):
    with pytest.raises(RuntimeError), transaction.atomic():
        Tracker.objects.filter(pk=fleet.trackers[0].pk).update(name="never")
        raise RuntimeError
    assert changed_since(cursor) == []


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda f: Tracker.objects.filter(production_run=f.run).update(current_status="lost"), id="update"),
        pytest.param(lambda f: Tracker.objects.filter(production_run=f.run).delete(), id="queryset-delete"),
        pytest.param(
            lambda f: Tracker.objects.bulk_update(
                [setattr(t, "name", "x") or t for t in f.trackers], ["name"]
            ), id="bulk_update"
        ),
        pytest.param(lambda f: [t.delete() for t in f.trackers], id="delete"),
    ],
)
def test_every_bulk_and_delete_path_appends_the_trackers_it_wrote(
    write, fleet, cursor, django_capture_on_commit_callbacks
):
    ids = {t.pk for t in fleet.trackers}
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        write(fleet)
    assert changed_since(cursor) == [ids]  # one entry for the transaction


def test_bulk_created_trackers_and_history_append_their_trackers(fleet, cursor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        made = make_trackers(fleet.run, 2, prefix="N")
    with django_capture_on_commit_callbacks(execute=True):
        LocationHistory.objects.bulk_create(
            [LocationHistory(tracker=fleet.trackers[0], timestamp=timezone.now(), latitude=1, longitude=2)]
        )
    assert changed_since(cursor) == [{t.pk for t in made}, {fleet.trackers[0].pk}]


def test_ingest_appends_one_entry_with_the_trackers_it_moved(fleet, cursor, django_capture_on_commit_callbacks):
    now = timezone.now()
    reports = [
        {"tracker": t.serial, "timestamp": now - timedelta(minutes=i), "latitude": 1.0, "longitude": 2.0,
         "battery_level": 40 + i}
        for i, t in enumerate(fleet.trackers[:2])
    ]
    with django_capture_on_commit_callbacks(execute=True):
        services.location_reports_ingest(reports=reports)
    assert changed_since(cursor) == [{fleet.trackers[0].pk, fleet.trackers[1].pk}]
    assert Tracker.objects.get(pk=fleet.trackers[1].pk).battery_level == 41  # the newest report's battery
    with django_capture_on_commit_callbacks(execute=True):  # an older report: history only, battery kept
        services.location_reports_ingest(
            reports=[{**reports[1], "timestamp": now - timedelta(hours=1), "battery_level": 5}]
        )
    assert Tracker.objects.get(pk=fleet.trackers[1].pk).battery_level == 41


def test_a_run_moved_to_another_brand_appends_its_trackers_and_a_rename_nothing(
    fleet, client_a, cursor, django_capture_on_commit_callbacks
):
    other_brand = baker.make("dashboard.Brand", client=client_a, name="Other")
    run = ProductionRun.objects.get(pk=fleet.run.pk)
    with django_capture_on_commit_callbacks(execute=True):
        run.name = "Renamed"
        run.save()
    assert changed_since(cursor) == []
    with django_capture_on_commit_callbacks(execute=True):
        run.brand = other_brand
        run.save()
    assert changed_since(cursor) == [{t.pk for t in fleet.trackers}]


def test_a_cursor_of_another_life_of_the_feed_cannot_be_replayed(cursor):
    async def replay(after):
        reader = AsyncFeed("tracker")
        try:
            return await reader.replay(after)
        finally:
            await reader.close()

    assert asyncio.run(replay(cursor)) == []
    for bad in ("0123456789ab.1-0", "garbage", ""):
        with pytest.raises(Gap):
            asyncio.run(replay(bad))


@pytest.mark.redis
def test_an_append_while_redis_is_down_becomes_an_everything_entry_once_it_is_back(private_redis, fleet):
    cursor = head()
    private_redis.stop()
    assert feed.append("tracker", {fleet.trackers[0].pk}) is None
    private_redis.start()  # the same port, empty: a new life of the stream
    import time

    time.sleep(0.3)  # past the breaker's cooldown (0.2 s in this fixture)
    feed.append("tracker", {fleet.trackers[1].pk})  # the first call after the outage runs the recovery hook
    with pytest.raises(Gap):  # the old cursor belongs to the stream's previous life
        changed_since(cursor)
    entries = asyncio.run(_all_entries())
    assert [e.ids for e in entries] == [None, {fleet.trackers[1].pk}]


async def _all_entries():
    reader = AsyncFeed("tracker")
    try:
        start = await reader.head()
        epoch = start.split(".")[0]
        return await reader.read(f"{epoch}.0-0", timeout=0.05)
    finally:
        await reader.close()


# --- Matching in memory (dashboard.live.Stream) -------------------------------------------


def tracker(tracker_id=1, *, client_id=7, status="in_transit", city="lyon", digest=1) -> LiveTracker:
    return LiveTracker(
        id=tracker_id, client_id=client_id, brand_id=3, production_run_id=5, current_status=status,
        serial=f"a-{tracker_id:05d}", name="crate", nearest_city=city, digest=digest,
    )


def batch_of(*trackers: LiveTracker) -> dict:
    return {t.id: (t, b'{"id":%d,"full":1}' % t.id, b'{"id":%d}' % t.id) for t in trackers}


CLIENT_7 = Scope(client_id=7, is_all=False, key="client:7")


def test_a_stream_gets_items_that_match_and_changed_and_removed_for_what_left_its_filter():
    stream = Stream(scope=CLIENT_7, filters=TrackerFilters(statuses=("in_transit",)))
    known = {1: tracker(1), 2: tracker(2, status="in_storage"), 3: tracker(3)}
    batch = batch_of(tracker(1, status="delivered"), tracker(2), tracker(3))  # 3: nothing it shows changed
    assert stream.changes(batch, known, [1, 2, 3]) == b'{"items":[{"id":2,"full":1}],"removed":[1]}'


def test_another_tenants_trackers_never_reach_a_stream_even_as_removed():
    stream = Stream(scope=CLIENT_7, filters=TrackerFilters())
    known = {9: tracker(9, client_id=8)}
    assert stream.changes(batch_of(tracker(9, client_id=8, digest=2)), known, [9]) is None
    assert stream.changes({}, known, [9]) is None  # deleted: not ours to remove
    staff = Stream(scope=ALL, filters=TrackerFilters())
    assert staff.changes(batch_of(tracker(9, client_id=8, digest=2)), known, [9]) == (
        b'{"items":[{"id":9,"full":1}],"removed":[]}'
    )


def test_search_lazy_mode_and_include_latest_location_shape_what_a_stream_gets():
    known: dict = {}
    batch = batch_of(tracker(1, city="lyon"), tracker(2, city="nice"))
    search = Stream(scope=CLIENT_7, filters=TrackerFilters(search="LYO", include_latest_location=False))
    assert search.changes(batch, known, [1, 2]) == b'{"items":[{"id":1}],"removed":[]}'
    lazy = Stream(scope=CLIENT_7, filters=TrackerFilters(lazy_load=True))
    assert lazy.changes(batch, known, [1, 2]) is None


def test_live_trackers_reads_items_the_way_the_list_shows_them(fleet, django_assert_num_queries):
    live_trackers([fleet.trackers[0].pk])  # SQLite's JSON feature probes run once per connection: not this query's
    with django_assert_num_queries(1):  # trackers joined to run and brand, latest location as a subquery
        found = live_trackers({t.pk for t in fleet.trackers})
    assert set(found) == {t.pk for t in fleet.trackers}
    live, full, bare = found[fleet.trackers[0].pk]
    assert live.client_id == fleet.client.pk and live.brand_id == fleet.brand.pk
    assert b'"latest_location":null' in full and b"latest_location" not in bare


def test_the_listener_turns_trigger_payloads_into_feed_entries(cursor):
    from cache_layer import listener

    listener.handle("rows:tracker:5,6")
    listener.handle("rows:tracker:*")
    assert changed_since(cursor) == [{5, 6}, None]


# --- The view where it can't stream --------------------------------------------------------


def test_under_wsgi_the_stream_answers_503_instead_of_holding_a_worker(owner_api):
    response = owner_api.get("/api/trackers/stream/")  # the test client is a WSGI handler
    assert response.status_code == 503
    assert response.json() == {"detail": "The live stream is not served here; reload the list instead."}


def test_live_stream_enabled_false_turns_the_stream_off(owner, settings):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient
    from rest_framework.authtoken.models import Token

    settings.LIVE_STREAM_ENABLED = False
    token = Token.objects.create(user=owner).key
    response = async_to_sync(AsyncClient().get)("/api/trackers/stream/", headers={"Authorization": f"Token {token}"})
    assert response.status_code == 503
