"""`manage.py simulate_fleet`: trackers in transit move toward their delivery location, silent ones stay
silent, batteries drain, every report goes through ingest; the command stops on SIGTERM; and
`manage.py serve` (what `make run` starts) streams the simulator's moves with no Redis at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from dashboard.models import LocationHistory, Tracker
from dashboard.simulation import FleetSimulator, distance_km
from tests.cache_helpers import subprocess_database_url
from tests.fleet import make_fleet
from tests.sse import ROOT, Server, SSEClient


@pytest.fixture
def fleet(client_a):
    fleet = make_fleet(client_a, trackers=4, prefix="S")
    Tracker.objects.filter(pk__in=[t.pk for t in fleet.trackers]).update(
        storage_location=fleet.storage, delivery_location=fleet.delivery
    )
    Tracker.objects.filter(pk=fleet.trackers[3].pk).update(current_status="in_storage")
    return fleet


def test_trackers_in_transit_move_toward_their_delivery_and_batteries_drain(fleet):
    simulator = FleetSimulator(rate=3, silent_share=0, seed=1, speedup=3600 * 20)
    simulator.load()
    for tracker in simulator.fleet:
        tracker["moved_at"] -= 1.0  # one real second ago: ~1,400 simulated km at this speedup
    destination = (fleet.delivery.latitude, fleet.delivery.longitude)
    assert simulator.run_once() >= 3
    moving = LocationHistory.objects.filter(tracker__current_status="in_transit")
    assert moving.values("tracker").distinct().count() == 3
    start = (fleet.storage.latitude, fleet.storage.longitude)
    for report in moving:
        assert distance_km((report.latitude, report.longitude), destination) < distance_km(start, destination)
        assert report.nearest_city in {"Lyon", "Nice"}
    assert all(t.battery_level <= 50 for t in Tracker.objects.filter(current_status="in_transit"))
    assert LocationHistory.objects.filter(tracker=fleet.trackers[3], latitude__gt=start[0] + 0.01).count() == 0


def test_batteries_drain_with_simulated_time_at_each_trackers_own_rate(fleet):
    simulator = FleetSimulator(rate=3, silent_share=0, seed=4, speedup=86400)  # a real second is a day
    simulator.load()
    for tracker in simulator.fleet:
        tracker["moved_at"] -= 10.0  # ten simulated days since the last report
    simulator.run_once()

    moving = Tracker.objects.filter(current_status="in_transit")
    rates = {t["id"]: t["drain_per_day"] for t in simulator.fleet}
    assert len(set(rates.values())) == len(rates)  # each its own rate, from seeding's range
    assert all(0.5 <= rate <= 1.6 for rate in rates.values())
    exact = {t["id"]: t["battery_exact"] for t in simulator.fleet}
    for tracker in moving:  # 50 % less 10 days at 0.5-1.6 %/day (and a report's share)
        assert 33 <= tracker.battery_level <= 45
        assert tracker.battery_level == round(exact[tracker.pk])
    levels = dict(moving.values_list("id", "battery_level"))
    simulator.run_once()  # at once: hardly any simulated time, never a higher battery
    assert all(battery <= levels[pk] for pk, battery in moving.values_list("id", "battery_level"))


def test_silent_trackers_and_empty_batteries_never_report(fleet):
    simulator = FleetSimulator(rate=50, silent_share=0.5, seed=2)
    simulator.load()
    empty = next(t for t in simulator.fleet if t["id"] not in simulator.silent and t["status"] == "in_transit")
    empty["battery_exact"] = 0
    for _ in range(5):
        simulator.run_once()
    reported = set(LocationHistory.objects.values_list("tracker_id", flat=True))
    assert reported and not reported & (simulator.silent | {empty["id"]})


@pytest.mark.postgres
def test_the_command_stops_cleanly_on_sigterm(fleet):
    process = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_fleet", "--rate", "1"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": subprocess_database_url()},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert "Simulating the fleet" in process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Fleet simulator stopped after" in out


def test_make_runs_one_process_streams_the_simulators_moves_without_redis(tmp_path):
    """`manage.py serve` as `make run` starts it: SQLite, local memory, the simulator in the same process."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}", SIMULATE_FLEET_RATE="20")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    subprocess.run([*manage, "seed_demo", "--trackers", "40", "--history", "2"], cwd=ROOT, env=env, check=True,
                   timeout=300, capture_output=True)
    token = subprocess.run(
        [*manage, "shell", "-c", "from rest_framework.authtoken.models import Token; from django.contrib.auth.models"
         " import User; print(Token.objects.create(user=User.objects.get(username='admin')).key)"],
        cwd=ROOT, env=env, check=True, timeout=120, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    server = Server(env, command=[*manage, "serve", "--port", "{port}"], log=tmp_path / "serve.log").start()
    try:
        stream = SSEClient(server.base, "/api/trackers/stream/?status=in_transit", token=token)
        try:
            moved = stream.wait_for(lambda e: e.name == "changes" and e.json["items"], timeout=20)
            assert moved is not None, (tmp_path / "serve.log").read_text()[-3000:]
            item = moved.json["items"][0]
            assert item["current_status"] == "in_transit" and item["latest_location"]["latitude"] is not None
        finally:
            stream.close()
    finally:
        server.stop()
    assert "database is locked" not in (tmp_path / "serve.log").read_text()
