"""Helpers for the tests of projects that use cache_layer: forget all in-process state between tests."""

from django.db import DEFAULT_DB_ALIAS, connections

from cache_layer import invalidation, reference, registry, store


def reset() -> None:
    """Stop scheduled reloads (they must not outlive a test), empty the in-process layer, close the breaker."""
    invalidation.cancel_scheduled_reloads()
    reference.clear_local()
    store.reset()


def settle(using: str = DEFAULT_DB_ALIAS) -> None:
    """For a test inside a transaction: invalidate what its setup wrote as if it had committed,
    then drop the debounced reloads this scheduled (other threads can't see the test's rows), so
    that the next read reloads in the test's own thread."""
    batch = getattr(connections[using], "_cache_layer_batch", None)
    if batch is not None:
        batch.flush()
    invalidation.cancel_scheduled_reloads()
    for name in registry.names():
        store.delete(reference.pending_key(name))
