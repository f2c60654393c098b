"""JSON answers of 1 KB or more are gzip-compressed for clients that accept it; the query cache
stores them compressed once, so a hit sends the stored bytes; nothing else is compressed."""

import gzip

import orjson
import pytest
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory
from model_bakery import baker

from cache_layer import store
from cache_layer.query import stored_key
from dashboard.queries import TrackerFilters
from dashboard.scope import ALL
from tests.fleet import add_history, make_fleet
from trackerdash.compression import JsonCompressionMiddleware

pytestmark = pytest.mark.django_db

GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}


@pytest.fixture
def fleet(client_a):
    fleet = make_fleet(client_a, trackers=30)  # a list of 30 items is ~8 KB of JSON
    for tracker in fleet.trackers:
        add_history(tracker, 2)
    # 40 storage locations: a reference list (a DRF Response, not the query cache) of ~4 KB.
    for index in range(40):
        baker.make("dashboard.StorageLocation", client=client_a, name=f"Depot {index}", city="Lyon", latitude=45.7,
                   longitude=4.8)
    return fleet


@pytest.mark.parametrize("url", ["/api/trackers/?size=100", "/api/trackers/positions/", "/api/storage-locations/"])
def test_gzip_decompresses_to_the_identical_json(staff_api, fleet, url):
    plain = staff_api.get(url)
    compressed = staff_api.get(url, **GZIP)
    again_plain = staff_api.get(url)  # a hit, for a client without gzip

    assert compressed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in compressed["Vary"]
    assert len(compressed.content) < len(plain.content) / 2
    assert gzip.decompress(compressed.content) == plain.content == again_plain.content
    assert orjson.loads(plain.content)  # and it is JSON


@pytest.mark.parametrize("url", ["/api/trackers/?size=100", "/api/trackers/positions/"])
def test_without_accept_encoding_the_answer_is_plain_json(staff_api, fleet, url):
    for _ in range(2):  # the miss, then the hit of the entry stored compressed
        response = staff_api.get(url)
        assert not response.has_header("Content-Encoding")
        assert "Accept-Encoding" in response["Vary"]
        assert orjson.loads(response.content)


def test_a_cache_hit_is_the_stored_bytes(staff_api, fleet):
    url = "/api/trackers/?size=100"
    miss = staff_api.get(url, **GZIP)
    stored = store.get(stored_key("trackers", f"{ALL.key}|{TrackerFilters(size=100).key()}"))

    assert stored["encoding"] == "gzip"
    assert miss.content == stored["body"]  # compressed once, on the miss, and stored
    for _ in range(2):
        assert staff_api.get(url, **GZIP).content == stored["body"]  # not compressed again


def test_small_answers_are_not_compressed(staff_api, fleet):
    response = staff_api.get(f"/api/trackers/{fleet.trackers[0].id}/", **GZIP)
    assert len(response.content) < 1024
    assert not response.has_header("Content-Encoding")
    assert orjson.loads(response.content)["id"] == fleet.trackers[0].id


def test_the_csv_export_and_event_streams_are_never_compressed(staff_api, fleet):
    export = staff_api.get("/api/trackers/export.csv", **GZIP)
    assert not export.has_header("Content-Encoding")
    assert b"".join(export.streaming_content).startswith(b"id,serial")

    request = RequestFactory().get("/api/trackers/stream/", **GZIP)
    stream = StreamingHttpResponse(iter([b"data: {}\n\n"] * 500), content_type="text/event-stream")
    events = HttpResponse(b"data: {}\n\n" * 500, content_type="text/event-stream")
    middleware = JsonCompressionMiddleware(lambda request: None)
    for response in (stream, events):
        assert not middleware.process_response(request, response).has_header("Content-Encoding")


def test_compression_switched_off_sends_and_stores_plain_json(settings, staff_api, fleet):
    settings.COMPRESS_RESPONSES = False
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "QUERY_CACHE_COMPRESS": False}
    for url in ("/api/trackers/?size=100", "/api/storage-locations/"):
        for _ in range(2):
            response = staff_api.get(url, **GZIP)
            assert not response.has_header("Content-Encoding")
            assert orjson.loads(response.content)
    stored = store.get(stored_key("trackers", f"{ALL.key}|{TrackerFilters(size=100).key()}"))
    assert stored["encoding"] is None and orjson.loads(stored["body"])["total"] == 30


def test_with_the_query_cache_off_big_answers_are_still_compressed(settings, staff_api, fleet):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "QUERY_CACHE_ENABLED": False}
    response = staff_api.get("/api/trackers/positions/", **GZIP)
    assert response["Content-Encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(response.content))["total"] == 30
