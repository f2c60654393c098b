"""The load test's users: dashboard operators and one ingest stream (run by bench/loadtest/run.py).

Reads its setup (sessions, token, ids, limits) from the JSON file named by LOADTEST_CONFIG,
and appends every report the server accepted to the file named there, for the
"nothing lost" check. Imports nothing from Django: locust runs on gevent.
"""

import itertools
import json
import os
import random
from datetime import UTC, datetime, timedelta

import gevent
from locust import HttpUser, between, constant, events, task

CONFIG = json.loads(open(os.environ["LOADTEST_CONFIG"]).read())
REQUESTS = itertools.count(1)
BATCHES = itertools.count(1)
# Whole-second instants belong to the seeded history; these never fall on one.
BASE_INSTANT = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


@events.init.add_listener
def _bound_the_run(environment, **kwargs):
    def count(**_):
        if next(REQUESTS) == CONFIG["max_requests"]:
            gevent.spawn(environment.runner.quit)  # not from the request's own greenlet

    environment.events.request.add_listener(count)


class DashboardUser(HttpUser):
    """Opens the page, then filters by brand, by production runs (and pages), by status."""

    weight = 5
    wait_time = between(0.2, 1.0)

    def on_start(self):
        self.me = random.choice(CONFIG["dashboard_users"])
        self.client.cookies.set(CONFIG["session_cookie"], self.me["session"])
        self.open_dashboard()

    def _trackers(self, query: str, name: str):
        self.client.get(f"/api/trackers/?{query}", name=f"GET /api/trackers/ {name}")

    @task(1)
    def open_dashboard(self):
        with self.client.get("/", name="GET / (page)", allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:  # a redirect to the login page is a failure here
                response.failure(f"HTTP {response.status_code}")
        self.client.get("/api/reference/", name="GET /api/reference/")

    @task(3)
    def filter_by_brand(self):
        brands = random.sample(self.me["brand_ids"], k=min(len(self.me["brand_ids"]), random.randint(1, 2)))
        self._trackers(f"brand_ids={','.join(map(str, brands))}&size=100", "by brand")

    @task(3)
    def filter_by_runs_and_page(self):
        runs = random.sample(self.me["run_ids"], k=min(len(self.me["run_ids"]), random.randint(1, 3)))
        query = "&".join(f"production_run_ids={run}" for run in runs)
        for page in (1, 2):
            self._trackers(f"{query}&size=50&page={page}", f"by runs, page {page}")

    @task(2)
    def filter_by_status_and_search(self):
        status = random.choice(["in_transit", "delivered", "lost", "in_storage", "returned"])
        self._trackers(f"status={status}&size=100", "by status")
        self._trackers(f"status={status}&search=TRK-00&size=100&ordering=serial", "by status and search")


class IngestStream(HttpUser):
    """One device gateway posting batches of location reports."""

    fixed_count = 1
    wait_time = constant(CONFIG["ingest"]["interval"])

    @task
    def post_batch(self):
        ingest = CONFIG["ingest"]
        instant = (BASE_INSTANT + timedelta(microseconds=next(BATCHES) * 10 + 3)).isoformat()
        serials = random.sample(ingest["serials"], k=min(ingest["batch"], len(ingest["serials"])))
        batch = [
            {
                "tracker": serial,
                "timestamp": instant,
                "latitude": round(random.uniform(-60, 60), 6),
                "longitude": round(random.uniform(-170, 170), 6),
                "nearest_city": ingest["marker"],
                "confidence": 0.8,
            }
            for serial in serials
        ]
        with self.client.post(
            "/api/location-reports/",
            json=batch,
            headers={"Authorization": f"Token {ingest['token']}"},
            name="POST /api/location-reports/",
            catch_response=True,
        ) as response:
            if response.status_code >= 300:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return
            answer = response.json()
            if answer.get("accepted", 0) + answer.get("duplicates", 0) != len(batch):
                response.failure(f"answer {answer} for {len(batch)} reports")
                return
            with open(CONFIG["sent_path"], "a") as sent:
                sent.writelines(json.dumps([serial, instant]) + "\n" for serial in serials)
