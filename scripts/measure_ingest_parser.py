"""Ad-hoc A/B of the API's JSON parser on ingest: orjson (dashboard.parsers) against DRF's own
standard-library parser, in the same run. Not a test.

Against a database with at least 1,000 trackers (seed_demo --trackers 1000 --history 1):
    DATABASE_URL=postgres://... REDIS_URL=redis://... CACHE_KEY_PREFIX=measure \\
        .venv/bin/python scripts/measure_ingest_parser.py [--runs 30] [--batch 1000]
Each run posts a fresh batch (new instants, so nothing is a duplicate) through Django's test
client as staff, alternating the two parsers, and prints the medians of the whole request and
of the parse alone. The reports it stores stay in the database (use a scratch one).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackerdash.settings")
import django  # noqa: E402

django.setup()

import io  # noqa: E402
from dataclasses import replace  # noqa: E402

from django.contrib.auth import get_user_model  # noqa: E402
from rest_framework.parsers import JSONParser as StdlibJSONParser  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from dashboard.api import LocationReportViewSet  # noqa: E402
from dashboard.benchmark import PROFILES, ingest_payloads  # noqa: E402
from dashboard.parsers import JSONParser as OrjsonJSONParser  # noqa: E402

PARSERS = {"orjson (dashboard.parsers)": OrjsonJSONParser, "stdlib json (DRF's JSONParser)": StdlibJSONParser}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()

    payload = ingest_payloads(replace(PROFILES["realistic"], ingest_batch=args.batch))  # the bench's own batches
    staff, _ = get_user_model().objects.get_or_create(username="measure-ingest", defaults={"is_staff": True})
    api = APIClient()
    api.force_authenticate(staff)

    request_ms = {name: [] for name in PARSERS}
    parse_ms = {name: [] for name in PARSERS}
    for run in range(args.runs + 2):  # the first round of each warms up and is not counted
        for name, parser_class in PARSERS.items():
            body = payload()
            LocationReportViewSet.parser_classes = [parser_class]
            started = time.perf_counter()
            response = api.post("/api/location-reports/", body, content_type="application/json")
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200 and response.json()["duplicates"] == 0, response.content[:300]
            started = time.perf_counter()
            parser_class().parse(io.BytesIO(body.encode()), "application/json", {})
            parsed = (time.perf_counter() - started) * 1000
            if run >= 2:
                request_ms[name].append(elapsed)
                parse_ms[name].append(parsed)

    print(f"POST /api/location-reports/ with {args.batch:,} reports ({len(body):,} bytes), {args.runs} runs each:")
    for name in PARSERS:
        print(
            f"  {name:32} request median {statistics.median(request_ms[name]):7.1f} ms"
            f"   p95 {sorted(request_ms[name])[int(0.95 * len(request_ms[name])) - 1]:7.1f} ms"
            f"   parse alone {statistics.median(parse_ms[name]):6.2f} ms"
        )


if __name__ == "__main__":
    main()
