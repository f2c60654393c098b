"""Every Django write path makes the next reference read fresh at once (no listener needed)."""

import pytest
from model_bakery import baker

import cache_layer
import cache_layer.testing
from dashboard.models import Client, StorageLocation

pytestmark = pytest.mark.django_db


@pytest.fixture
def warm_clients(client_a, client_b, django_assert_num_queries):
    cache_layer.testing.settle()
    assert [c["name"] for c in cache_layer.get("clients")] == ["Client A", "Client B"]
    with django_assert_num_queries(0):  # warm: served from the cache
        cache_layer.get("clients")


def names(table="clients", field="name"):
    return [row[field] for row in cache_layer.get(table)]


def test_save_is_read_at_once(warm_clients, client_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_a.name = "Client A renamed"
        client_a.save()
    assert names() == ["Client A renamed", "Client B"]


def test_delete_is_read_at_once(warm_clients, client_b, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_b.delete()
    assert names() == ["Client A"]


def test_queryset_update_is_read_at_once(warm_clients, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        Client.objects.filter(name="Client B").update(name="Client B updated")
    assert names() == ["Client A", "Client B updated"]


def test_queryset_delete_is_read_at_once(warm_clients, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        Client.objects.filter(name="Client B").delete()
    assert names() == ["Client A"]


def test_bulk_create_is_read_at_once(warm_clients, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        Client.objects.bulk_create([Client(name="Client C"), Client(name="Client D")])
    assert names() == ["Client A", "Client B", "Client C", "Client D"]


def test_bulk_update_is_read_at_once(warm_clients, client_a, client_b, django_capture_on_commit_callbacks):
    client_a.name, client_b.name = "Zeta", "Alpha"
    with django_capture_on_commit_callbacks(execute=True):
        Client.objects.bulk_update([client_a, client_b], ["name"])
    assert names() == ["Alpha", "Zeta"]


def test_a_write_to_one_table_leaves_the_others_cached(
    warm_clients, client_a, django_capture_on_commit_callbacks, django_assert_num_queries
):
    baker.make(StorageLocation, client=client_a, latitude=1, longitude=2)
    cache_layer.get("storage_locations")
    with django_capture_on_commit_callbacks(execute=True):
        StorageLocation.objects.update(city="Lyon")
    with django_assert_num_queries(0):  # clients: untouched by a storage-location write
        assert names() == ["Client A", "Client B"]
    assert names("storage_locations", "city") == ["Lyon"]


def test_the_cache_off_reads_the_database_every_time(settings, client_a, django_assert_num_queries):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "ENABLED": False}
    cache_layer.get("clients")
    with django_assert_num_queries(1):  # SELECT clients
        cache_layer.get("clients")
