"""Bench profiles (how many trackers, how much history) and each profile's own database and cache prefix.

Each profile is seeded into its own database (the configured one's name + `_bench_<profile>`
on PostgreSQL, a sibling file on SQLite) and uses its own cache key prefix, so a bench never
touches the user's data or cached entries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection, connections

from dashboard.models import Tracker
from dashboard.seeding import demo_seed, reset_demo_data


@dataclass(frozen=True)
class Profile:
    name: str
    trackers: int
    history: int
    clients: int = 3
    filtered_trackers: int = 500  # the filtered case picks production runs holding about this many
    ingest_batch: int = 1000


PROFILES = {
    "tiny": Profile("tiny", trackers=24, history=5, filtered_trackers=8, ingest_batch=20),
    "realistic": Profile("realistic", trackers=1500, history=1000),
    "large": Profile("large", trackers=15_000, history=500),
}


# --- The profile's own database -----------------------------------------------------------


def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def profile_database_name(profile: Profile, configured: str | Path | None = None) -> str:
    """`trackerdash` → `trackerdash_bench_realistic`; `/x/db.sqlite3` → `/x/db.bench-realistic.sqlite3`."""
    configured = str(configured if configured is not None else settings.DATABASES["default"]["NAME"])
    if is_postgres():
        return f"{configured}_bench_{profile.name}"
    configured_path = Path(configured)
    return str(configured_path.with_name(f"{configured_path.stem}.bench-{profile.name}{configured_path.suffix}"))


def profile_database_url(profile: Profile) -> str:
    """The DATABASE_URL of the profile's database, for a server started on it (the load test)."""
    db = settings.DATABASES["default"]
    name = profile_database_name(profile)
    if not is_postgres():
        return f"sqlite:///{name}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{name}"


def _create_postgres_database(name: str) -> bool:
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone():
            return False
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
        return True


@contextmanager
def use_database(name: str) -> Iterator[None]:
    """Point Django's default connection at database `name` for the duration, then back."""
    conn = connections["default"]
    original = conn.settings_dict["NAME"]
    conn.close()
    conn.settings_dict["NAME"] = name
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict["NAME"] = original


def profile_is_seeded(profile: Profile) -> bool:
    return Tracker.objects.count() == profile.trackers and Tracker.objects.filter(locations__isnull=False).exists()


def prepare_profile_database(
    profile: Profile, *, reseed: bool = False, progress: Callable[[int], None] | None = None, log=print
) -> str:
    """Create, migrate and seed the profile's database (when needed); return its name.

    Must be called while the default connection still points at the configured database;
    the caller then switches to the returned name with `use_database`.
    """
    name = profile_database_name(profile)
    if is_postgres() and _create_postgres_database(name):
        log(f"Created database {name}.")
    with use_database(name), own_cache_prefix(profile):  # what seeding invalidates is the bench's own
        call_command("migrate", verbosity=0, interactive=False)
        if reseed or not profile_is_seeded(profile):
            log(f"Seeding profile {profile.name}: {profile.trackers} trackers × {profile.history} reports into {name}…")
            reset_demo_data()
            started = time.perf_counter()
            demo_seed(clients=profile.clients, trackers=profile.trackers, history=profile.history, progress=progress)
            log(f"Seeded in {time.perf_counter() - started:.1f} s.")
        else:
            log(f"Reusing the seeded database {name} (--reseed to rebuild it).")
        vacuum_trackers()
    return name


def vacuum_trackers() -> None:
    """`VACUUM (ANALYZE) trackers` on PostgreSQL: every ingest batch rewrites 1,000 tracker rows
    (`last_report_received`), and where autovacuum is off (as on the shared dev server) the dead
    rows of earlier runs pile up: 60,000 after two runs, 444 heap pages read for 500 trackers
    and stale row estimates, which made the filtered case ~3 ms slower with every run."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) trackers")


# --- The bench's own cache key prefix --------------------------------------------------------


def bench_cache_prefix(profile: Profile) -> str:
    return f"{settings.CACHE_KEY_PREFIX}-bench-{profile.name}"


def clear_bench_cache() -> None:
    """Empty the bench's own keys (never the whole Redis: it is shared)."""
    cache = caches["default"]
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")  # only keys under the current (bench) prefix
    else:
        cache.clear()  # local memory: this process only


@contextmanager
def own_cache_prefix(profile: Profile) -> Iterator[str]:
    cache = caches["default"]
    original = cache.key_prefix
    cache.key_prefix = bench_cache_prefix(profile)
    try:
        clear_bench_cache()
        yield cache.key_prefix
    finally:
        clear_bench_cache()
        cache.key_prefix = original
