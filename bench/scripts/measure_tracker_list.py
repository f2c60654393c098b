"""Ad-hoc measurement: GET /api/trackers/?size=5000 as staff beside the original N+1 pattern.

Run against a seeded database (seed_demo --trackers 1500 --history 1000):
    DATABASE_URL=postgres://... .venv/bin/python bench/scripts/measure_tracker_list.py [--runs 15]
Prints queries per request and the median time of each, and their ratio. Not a test.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackerdash.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

# The N+1 baseline of the bench (as staff: every tracker, unpaginated).
from bench.baseline import BaselineTrackerList  # noqa: E402
from dashboard.models import LocationHistory, Tracker  # noqa: E402

urlpatterns = [path("baseline/", BaselineTrackerList.as_view())]


def timed(api, url):
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = api.get(url)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    return elapsed * 1000, len(captured), len(response.content)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from django.conf import settings

    staff = get_user_model().objects.filter(is_staff=True).first()
    api = APIClient()
    api.force_login(staff)
    engine = settings.DATABASES["default"]["ENGINE"]
    print(f"database: {engine}; trackers: {Tracker.objects.count()}; history: {LocationHistory.objects.count()}")
    from django.urls import clear_url_caches

    import trackerdash.urls as root

    root.urlpatterns += urlpatterns
    clear_url_caches()
    api.get("/api/trackers/?size=5000")  # warm connections and imports
    # Interleaved, so both see the same load on a shared machine: the baseline every 5th run.
    new, old = [], []
    for run in range(args.runs):
        new.append(timed(api, "/api/trackers/?size=5000"))
        if run % 5 == 0:
            old.append(timed(api, "/baseline/"))
    new_ms, new_q, new_bytes = statistics.median(t for t, _, _ in new), new[-1][1], new[-1][2]
    old_ms, old_q, old_bytes = statistics.median(t for t, _, _ in old), old[-1][1], old[-1][2]
    base_runs = len(old)
    row = "{:<31} median {:8.1f} ms  {:5d} queries  {} bytes  ({} runs)"
    print(row.format("GET /api/trackers/?size=5000", new_ms, new_q, new_bytes, args.runs))
    print(row.format("N+1 ModelSerializer baseline", old_ms, old_q, old_bytes, base_runs))
    print(f"ratio: {old_ms / new_ms:.1f}x faster, {old_q / new_q:.0f}x fewer queries")


if __name__ == "__main__":
    main()
