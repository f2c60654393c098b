"""Generations: counters in the cache backend that only go up (INCR, never wall-clock time).

An entry, of the reference cache or the query cache, is stored with the generations read
before its data was, and served only while they are still current.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

from cache_layer import store


def new_generation() -> int:
    """A starting point no earlier life of the counter (before a flush) can have reached."""
    return random.randrange(1 << 40, 1 << 62)


def generation_key(name: str) -> str:
    """The counter of one cached table (the reference cache)."""
    return store.key("gen", name)


def current(found: Mapping[str, object], keys: Iterable[str]) -> dict[str, int]:
    """The generation under each key, from `found` (one `store.get_many`), starting the missing
    ones (raises CacheUnavailable)."""
    generations = {}
    for k in keys:
        value = found.get(k)
        if value is None:
            store.add(k, new_generation())
            value = store.get(k)
            if value is None:  # evicted between add and get: treat as a miss now
                value = new_generation()
        generations[k] = int(value)
    return generations


def current_generations(names: Iterable[str]) -> dict[str, int]:
    """The generation of each cached table, creating missing ones (raises CacheUnavailable)."""
    names = list(names)
    keys = [generation_key(name) for name in names]
    generations = current(store.get_many(keys), keys)
    return {name: generations[generation_key(name)] for name in names}
