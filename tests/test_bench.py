"""`manage.py bench` and the load test, on the tiny profile: the harness works, not how fast.

Both run as subprocesses on the profile's own database (derived from DATABASE_URL, or a
SQLite file in a temporary folder), as a user would run them; never as timing assertions.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
CASES = [
    "floor",
    "baseline",
    "api_all_uncached",
    "api_all_cached",
    "api_all_cached_gzip",
    "api_filtered_uncached",
    "api_filtered_cached",
    "api_page_first_uncached",
    "api_page_last_uncached",
    "positions_uncached",
    "positions_cached",
    "attention_warm",
    "lazy_empty",
    "reference_cold",
    "reference_warm",
    "page",
    "ingest",
]


@pytest.fixture(scope="module")
def bench_env(tmp_path_factory):
    """The environment of the test run; on the embedded default a database file in a temporary folder."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = f"sqlite:///{tmp_path_factory.mktemp('bench') / 'db.sqlite3'}"
    return env


def run(command: list[str], env: dict, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_bench(bench_env, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    command = [sys.executable, "manage.py", "bench", "--profile", "tiny", "--repeat", "1", "--json", str(out)]
    done = run([*command, "--cprofile", "api_all_uncached"], bench_env)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"report": json.loads(out.read_text()), "stdout": done.stdout}


def test_bench_json_has_every_case_measured_with_a_query_count(tiny_bench):
    report = tiny_bench["report"]
    cases = {case["name"]: case for case in report["cases"]}

    assert list(cases) == CASES
    for name, case in cases.items():
        assert case["status"] == "ok", f"{name}: {case['note']}"
        assert case["queries"] >= 1, name
        assert case["median_ms"] > 0 and case["repeats"] == 1, name
    assert report["profile"] == "tiny" and report["trackers"] == 24


def test_baseline_runs_one_query_per_tracker_and_the_api_a_constant_count(tiny_bench):
    cases = {case["name"]: case for case in tiny_bench["report"]["cases"]}
    trackers = tiny_bench["report"]["trackers"]

    # Baseline: the user (with its profile; the session comes from the cache) + the tracker
    # list, then one latest-location query per tracker.
    assert cases["baseline"]["queries"] == trackers + 2
    # The API's count does not grow with the trackers it returns: all 24 and a filtered few.
    assert cases["api_all_uncached"]["queries"] == cases["api_filtered_uncached"]["queries"] < 8
    assert cases["floor"]["queries"] == 1
    # The positions feed: the user + one query, whatever the fleet; a hit reads no tracker.
    assert cases["positions_uncached"]["queries"] == cases["positions_cached"]["queries"] + 1
    assert cases["api_page_first_uncached"]["queries"] == cases["api_page_last_uncached"]["queries"]
    # Warm attention counts: no SQL beyond authentication, as the authenticated empty page.
    assert cases["attention_warm"]["queries"] == cases["lazy_empty"]["queries"]


def test_bench_measures_bytes_on_the_wire_with_gzip(tiny_bench):
    cases = {case["name"]: case for case in tiny_bench["report"]["cases"]}
    assert cases["api_all_cached_gzip"]["bytes"] < cases["api_all_cached"]["bytes"] / 3
    assert "positions feed on the wire (gzip):" in tiny_bench["stdout"]
    assert "the last page ÷ page 1 (size 1,000, uncached):" in tiny_bench["stdout"]


def test_bench_prints_the_table_with_the_ratios(tiny_bench):
    table = tiny_bench["stdout"]

    assert "| case | median ms | p95 ms | queries | bytes | × faster than baseline | × the floor |" in table
    assert "BASELINE: N+1 DRF ModelSerializer (24 trackers)" in table
    assert "FLOOR: one SQL statement through a cursor" in table


def test_bench_shows_where_the_time_goes_in_a_profiled_case(tiny_bench):
    cases = {case["name"]: case for case in tiny_bench["report"]["cases"]}

    assert "requests under cProfile" in cases["api_all_uncached"]["profile"]
    assert "## Where the time goes: GET /api/trackers/ all 24 trackers, uncached" in tiny_bench["stdout"]
    assert cases["api_all_cached"]["profile"] == ""


def test_bench_seeds_its_own_database_not_the_configured_one(bench_env, tiny_bench):
    configured = bench_env["DATABASE_URL"].rsplit("/", 1)[-1]

    assert tiny_bench["report"]["database"].endswith(("_bench_tiny", ".bench-tiny.sqlite3"))
    assert Path(tiny_bench["report"]["database"]).name != configured
    if bench_env["DATABASE_URL"].startswith("sqlite"):
        assert not Path(bench_env["DATABASE_URL"].removeprefix("sqlite://")).exists()


def test_load_test_stores_every_report_the_server_accepted(bench_env, tmp_path):
    out = tmp_path / "loadtest.json"
    command = [sys.executable, "bench/loadtest/run.py", "--profile", "tiny", "--duration", "4", "--users", "2"]
    command += ["--max-requests", "200", "--batch", "5", "--json", str(out)]

    done = run(command, bench_env)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["errors"] == 0
    assert summary["reports_sent"] > 0
    assert summary["reports_missing"] == 0
    assert "RESULT: PASS" in done.stdout
    # Memory: every gunicorn worker's RSS at both ends, and Redis's used_memory when it is Redis.
    memory = summary["memory"]
    assert len(memory["workers"]) == 2
    assert all(worker["end"] > 10 * 2**20 for worker in memory["workers"])
    assert memory["problems"] == []
    if bench_env.get("REDIS_URL"):
        assert memory["redis_used_memory"]["end"] > 0
        assert "q" in memory["cache_keys"]  # the run's query-cache entries, measured before they are removed
    assert "Redis used_memory" in done.stdout
