"""Helpers for the tests of projects that use cache_layer: forget all in-process state between tests."""

from cache_layer import invalidation, reference, store


def reset() -> None:
    """Stop scheduled reloads (they must not outlive a test), empty the in-process layer, close the breaker."""
    invalidation.cancel_scheduled_reloads()
    reference.clear_local()
    store.reset()
