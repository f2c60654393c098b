"""Does the list cost the same at 10,000 reports per tracker as at 1,000? Interleaved, one process.

Needs two seeded bench databases of the same fleet (1,500 trackers) and different history
depths, e.g. `manage.py bench --profile realistic --prepare-only` (1,000 reports each) and
`--profile deep --prepare-only` (10,000):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trackerdash \\
        .venv/bin/python bench/scripts/measure_history_depth.py [--rounds 20] [--shallow realistic] [--deep deep]

Each round requests, on each database in turn, `GET /api/trackers/?size=5000` and
`GET /api/trackers/positions/` as the profile's staff user through Django's test client,
every cache off (each request reads the database). The database switch and one warm-up
request are outside the timing. Prints medians and the deep ÷ shallow ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackerdash.settings")
os.environ["CACHE_ENABLED"] = "false"  # every read from the database: the history's depth is what differs

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.profiles import PROFILES, profile_database_name, use_database  # noqa: E402
from dashboard.seeding import STAFF_USERNAME  # noqa: E402

URLS = {"list": "/api/trackers/?size=5000", "positions": "/api/trackers/positions/"}


def history_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'location_history'")
        return cursor.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--shallow", default="realistic", choices=sorted(PROFILES))
    parser.add_argument("--deep", default="deep", choices=sorted(PROFILES))
    args = parser.parse_args()

    databases = {name: profile_database_name(PROFILES[name]) for name in (args.shallow, args.deep)}
    clients, rows = {}, {}
    for name, database in databases.items():
        with use_database(database):
            clients[name] = Client()
            clients[name].force_login(get_user_model().objects.get(username=STAFF_USERNAME))
            rows[name] = history_rows()

    samples = {(name, url): [] for name in databases for url in URLS}
    sizes = {}
    for _ in range(args.rounds):
        for name, database in databases.items():
            with use_database(database):
                for url_name, url in URLS.items():
                    clients[name].get(url)  # warm-up: the new connection, the plan
                    started = time.perf_counter()
                    response = clients[name].get(url)
                    samples[(name, url_name)].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.content[:200]
                    sizes[(name, url_name)] = len(response.content)

    print(f"{args.rounds} rounds, interleaved; every cache off; Django test client, staff")
    print("| request | " + " | ".join(f"{n} ({rows[n]:,} history rows) ms" for n in databases) + " | deep ÷ shallow |")
    print("|---|" + "---:|" * (len(databases) + 1))
    for url_name, url in URLS.items():
        medians = [statistics.median(samples[(name, url_name)]) for name in databases]
        print(f"| GET {url} | " + " | ".join(f"{m:.1f}" for m in medians) + f" | {medians[1] / medians[0]:.2f}× |")
    for (name, url_name), size in sizes.items():
        print(f"bytes {name} {url_name}: {size:,}")


if __name__ == "__main__":
    main()
