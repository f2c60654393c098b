"""Invalidation happens after commit only; rollbacks leave the cache valid."""

import pytest
from django.db import transaction

import cache_layer
from cache_layer import invalidation
from dashboard.models import Client

pytestmark = pytest.mark.django_db


def generation(name="clients"):
    return invalidation.current_generations([name])[name]


def test_nothing_is_invalidated_before_commit(client_a, django_capture_on_commit_callbacks):
    cache_layer.get("clients")
    before = generation()
    with django_capture_on_commit_callbacks(execute=True):
        Client.objects.create(name="Client C")
        assert generation() == before  # still inside the transaction
    assert generation() > before
    assert [c["name"] for c in cache_layer.get("clients")] == ["Client A", "Client C"]


def test_a_rollback_leaves_the_cache_valid(client_a, django_capture_on_commit_callbacks, django_assert_num_queries):
    cache_layer.get("clients")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                Client.objects.create(name="Client C")
                raise RuntimeError("rolled back")
    assert callbacks == []
    with django_assert_num_queries(0):  # still a hit
        assert [c["name"] for c in cache_layer.get("clients")] == ["Client A"]


def test_a_rolled_back_savepoint_leaves_the_cache_valid(
    client_a, django_capture_on_commit_callbacks, django_assert_num_queries
):
    cache_layer.get("clients")
    before = generation()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            try:
                with transaction.atomic():  # a savepoint
                    Client.objects.filter(pk=client_a.pk).update(name="never")
                    raise RuntimeError("roll the savepoint back")
            except RuntimeError:
                pass
    assert generation() == before
    with django_assert_num_queries(0):
        assert [c["name"] for c in cache_layer.get("clients")] == ["Client A"]
