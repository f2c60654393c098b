"""`make loadtest`: gunicorn on 127.0.0.1 with a bench profile's data, locust against it, then checks.

1. Seeds (or reuses) the profile's own database, as `manage.py bench` does, and makes a
   session for each demo user and an API token for the ingest stream.
2. Starts gunicorn (DEBUG off) on a free port, with its own cache key prefix.
3. Runs locust headless for a bounded time and request count: dashboard users opening the
   page, filtering and paging, plus one ingest stream.
4. Prints throughput, p50/p95/p99 per endpoint, errors and the cache hit rates from /metrics,
   then checks that every report the server accepted is in the database.
5. Memory: each worker's resident memory (/proc) and Redis's used_memory before and after the
   load, and the bytes the run's own cache keys hold at the end, by kind.
Exits 1 when a request failed, a report is missing, or memory grew past its bound.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]  # bench/loadtest/run.py → the project


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="realistic", help="bench profile: tiny, realistic or large")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load (at most)")
    parser.add_argument("--max-requests", type=int, default=20_000, help="stop after this many requests")
    parser.add_argument("--users", type=int, default=20, help="dashboard users (plus one ingest stream)")
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--batch", type=int, default=50, help="reports per ingest batch")
    parser.add_argument(
        "--ingest-every",
        type=float,
        default=1.0,
        help="seconds between ingest batches (50 per second: 30x the realistic fleet's 1,500 reports per 15 min)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (wsgi)")
    parser.add_argument(
        "--server",
        default="asgi",
        help="asgi (uvicorn workers, as make serve), wsgi (gthread workers), either with :N for N workers "
        "(default --workers), or several comma-separated, run one after the other on the same data "
        "(e.g. wsgi,asgi,asgi:4): the summary compares their p95",
    )
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port on 127.0.0.1 (default: a free one)")
    parser.add_argument(
        "--max-worker-growth-mb",
        type=float,
        default=150,
        help="fail when a worker's resident memory grows more than this over the run",
    )
    parser.add_argument(
        "--max-redis-growth-mb",
        type=float,
        default=256,
        help="fail when Redis's used_memory grows more than this over the run (the whole instance)",
    )
    parser.add_argument("--json", dest="json_path", help="also write the summary as JSON to this file")
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def wait_until_serving(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode} before serving")
        try:
            http_get(url + "/api/reference/", timeout=2)  # any answer (403: no credentials) will do
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer on {url} within {timeout:.0f} s")


def worker_memory(master_pid: int) -> dict[int, int]:
    """{pid: resident bytes} of the gunicorn master's children (its workers), from /proc (Linux)."""
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    except OSError:
        return {}
    memory = {}
    for pid in map(int, children):
        try:
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited in between (recycled by max_requests)
        memory[pid] = pages * os.sysconf("SC_PAGE_SIZE")
    return memory


def redis_used_memory() -> int | None:
    from cache_layer import health

    memory = health.redis_memory()
    return None if memory is None else memory["used_memory"]


def cache_key_bytes(prefix: str) -> dict[str, dict[str, int]] | None:
    """{kind: {"keys": n, "bytes": MEMORY USAGE summed}} of the keys under `prefix` (the run's own),
    kinds as cache_layer names them (q: query-cache entries, rows: reference rows, ...)."""
    from django.core.cache import caches

    cache = caches["default"]
    if not hasattr(cache, "client") or not hasattr(cache.client, "get_client"):
        return None
    redis = cache.client.get_client(write=False)
    keys = list(redis.scan_iter(match=f"{prefix}:*", count=1000))
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    kinds: dict[str, dict[str, int]] = {}
    for key, size in zip(keys, pipe.execute(), strict=True):
        name = key.decode().split(":", 2)[-1]  # prefix:version:key
        kind = name.split(":", 2)[1] if name.startswith("cl:") else "session" if "session" in name else "other"
        entry = kinds.setdefault(kind, {"keys": 0, "bytes": 0})
        entry["keys"] += 1
        entry["bytes"] += size or 0
    return kinds


def memory_checks(start: dict, end: dict, args: argparse.Namespace) -> dict:
    """Growth of each worker present at both ends and of Redis's used_memory, against their bounds.
    A worker recycled during the run (max_requests) has no start: its replacement is listed, not checked."""
    mb = 2**20
    workers = [
        {"pid": pid, "start": start["workers"].get(pid), "end": rss} for pid, rss in sorted(end["workers"].items())
    ]
    growth = [w["end"] - w["start"] for w in workers if w["start"] is not None]
    redis = {"start": start["redis"], "end": end["redis"]}
    redis_growth = None if None in redis.values() else redis["end"] - redis["start"]
    problems = []
    if growth and max(growth) > args.max_worker_growth_mb * mb:
        problems.append(f"a worker grew {max(growth) / mb:.0f} MB (bound {args.max_worker_growth_mb:g} MB)")
    if redis_growth is not None and redis_growth > args.max_redis_growth_mb * mb:
        problems.append(f"Redis used_memory grew {redis_growth / mb:.0f} MB (bound {args.max_redis_growth_mb:g} MB)")
    return {
        "workers": workers,
        "exited_workers": sorted(set(start["workers"]) - set(end["workers"])),
        "redis_used_memory": redis,
        "max_worker_growth_mb": args.max_worker_growth_mb,
        "max_redis_growth_mb": args.max_redis_growth_mb,
        "problems": problems,
    }


def format_memory(memory: dict) -> list[str]:
    mb = 2**20

    def size(value):
        return "n/a" if value is None else f"{value / mb:.1f} MB"

    lines = ["Memory (start = the server answering, before the load; end = after it):"]
    for worker in memory["workers"]:
        lines.append(f"  worker {worker['pid']}: RSS {size(worker['start'])} → {size(worker['end'])}")
    if memory["exited_workers"]:
        lines.append(f"  workers recycled during the run: {memory['exited_workers']}")
    redis = memory["redis_used_memory"]
    lines.append(f"  Redis used_memory (the whole instance): {size(redis['start'])} → {size(redis['end'])}")
    keys = memory.get("cache_keys")
    if keys:
        lines.append(
            "  this run's cache keys at the end: "
            + "; ".join(f"{kind} {k['keys']:,} keys {k['bytes'] / 1024:,.1f} KB" for kind, k in sorted(keys.items()))
        )
    bytes_note = memory.get("cache_bytes")
    if bytes_note:
        lines.append(
            "  query cache during the run (/metrics): "
            f"{bytes_note['stored'] / mb:.1f} MB stored, {bytes_note['served'] / mb:.1f} MB served, "
            f"{bytes_note['skipped_too_large']:.0f} answers too large to store"
        )
    bounds = f"bounds: worker +{memory['max_worker_growth_mb']:g} MB, Redis +{memory['max_redis_growth_mb']:g} MB"
    lines.append("  " + ("; ".join(memory["problems"]) + f" ({bounds})" if memory["problems"] else f"within {bounds}"))
    return lines


def query_cache_bytes(before: str, after: str) -> dict[str, float]:
    """Bytes the query cache stored and served, and answers skipped as too large, between two /metrics pages."""
    from prometheus_client.parser import text_string_to_metric_families

    def totals(text: str) -> dict[str, float]:
        sums = {"stored": 0.0, "served": 0.0, "skipped_too_large": 0.0}
        names = {"cache_stored_bytes_total": "stored", "cache_served_bytes_total": "served"}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.labels.get("cache") != "query":
                    continue
                if sample.name in names:
                    sums[names[sample.name]] += sample.value
                elif sample.name == "cache_skipped_total" and sample.labels.get("reason") == "too_large":
                    sums["skipped_too_large"] += sample.value
        return sums

    start, end = totals(before), totals(after)
    return {key: end[key] - start[key] for key in start}


def collect_static(server_env: dict) -> None:
    """DEBUG off serves hashed files from collectstatic's manifest; collect only when a source is newer."""
    from django.conf import settings

    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    sources = [BASE_DIR / "requirements.txt", *BASE_DIR.glob("*/static/**/*")]
    if manifest.exists() and all(src.stat().st_mtime <= manifest.stat().st_mtime for src in sources):
        return
    print("Collecting static files (once)…", file=sys.stderr)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=BASE_DIR, env=server_env, check=True
    )


def scoped_ids(user) -> tuple[list[int], list[int]]:
    from dashboard.models import Brand, ProductionRun

    brands, runs = Brand.objects.all(), ProductionRun.objects.all()
    if not user.is_staff:
        client_id = user.profile.client_id
        brands, runs = brands.filter(client_id=client_id), runs.filter(brand__client_id=client_id)
    return list(brands.values_list("id", flat=True)), list(runs.values_list("id", flat=True))


def locust_config(workdir: Path, *, batch: int, interval: float, max_requests: int) -> dict:
    """Sessions of the demo users (staff and one per client), the ingest token, ids in their scope."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from bench.measure import api_token, login_session
    from dashboard.models import Tracker

    users = get_user_model().objects.filter(is_active=True).select_related("profile").order_by("id")
    dashboard_users = []
    for user in users:
        brand_ids, run_ids = scoped_ids(user)
        if run_ids:
            dashboard_users.append(
                {"username": user.username, "session": login_session(user), "brand_ids": brand_ids, "run_ids": run_ids}
            )
    staff = users.filter(is_staff=True).first()
    return {
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "dashboard_users": dashboard_users,
        "ingest": {
            "token": api_token(staff),
            "serials": list(Tracker.objects.values_list("serial", flat=True)),
            "batch": batch,
            "interval": interval,
            "marker": "Loadtest",
        },
        "sent_path": str(workdir / "sent.jsonl"),
        "max_requests": max_requests,
    }


def read_stats(csv_prefix: Path) -> list[dict]:
    rows = []
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append(
                {
                    "endpoint": row["Name"],
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "rps": float(row["Requests/s"]),
                    "p50_ms": float(row["50%"] or 0),
                    "p95_ms": float(row["95%"] or 0),
                    "p99_ms": float(row["99%"] or 0),
                }
            )
    return rows


def read_failures(csv_prefix: Path) -> list[str]:
    path = Path(f"{csv_prefix}_failures.csv")
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [f"{row['Occurrences']}× {row['Name']}: {row['Error']}" for row in csv.DictReader(handle)]


def missing_reports(sent_path: Path) -> tuple[int, int]:
    """(reports the server accepted, of which not in the database)."""
    from dashboard.models import LocationHistory

    if not sent_path.exists():
        return 0, 0
    sent = {(serial, datetime.fromisoformat(instant)) for serial, instant in map(json.loads, sent_path.open())}
    instants = sorted({instant for _, instant in sent})
    stored = set()
    for start in range(0, len(instants), 500):
        stored.update(
            LocationHistory.objects.filter(timestamp__in=instants[start : start + 500]).values_list(
                "tracker__serial", "timestamp"
            )
        )
    return len(sent), len(sent - stored)


def format_summary(summary: dict) -> str:
    lines = [
        f"Load test: profile {summary['profile']} ({summary['vendor']}, {summary['cache']}), "
        f"{summary['users']} dashboard users + 1 ingest stream ({summary['batch']} reports every "
        f"{summary['ingest_every']:g} s), {summary['elapsed_s']:.0f} s, "
        f"gunicorn {summary['server']} {summary['workers']} workers"
        + (f" × {summary['threads']} threads" if summary["threads"] else " (uvicorn)"),
        "",
        "| endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary["endpoints"]:
        lines.append(
            f"| {row['endpoint']} | {row['requests']:,} | {row['failures']} | {row['rps']:.1f} | "
            f"{row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {row['p99_ms']:.0f} |"
        )
    lines.append("")
    lines.append(f"Errors: {summary['errors']}" + "".join(f"\n  {f}" for f in summary["failure_details"]))
    lines.append(
        f"Ingest: {summary['reports_sent']:,} reports accepted by the server, "
        f"{summary['reports_sent'] - summary['reports_missing']:,} found in the database, "
        f"{summary['reports_missing']} lost."
    )
    rates = summary["cache_hit_rates"]
    if rates is None:
        lines.append(f"Cache hit rates: n/a ({summary['metrics_note']})")
    else:
        lines.append(
            "Cache hit rates (/metrics, during the run): "
            + "; ".join(
                f"{cache} {'n/a' if r['hit_rate'] is None else format(r['hit_rate'], '.1%')} "
                f"({r['hits']:,} hits, {r['misses']:,} misses)"
                for cache, r in rates.items()
            )
            + (f" ({summary['metrics_note']})" if summary["metrics_note"] else "")
        )
    lines += format_memory(summary["memory"])
    lines.append(f"Logs: {summary['locust_log']}, {summary['server_log']}")
    lines.append("RESULT: " + ("PASS" if summary["passed"] else "FAIL"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Sessions made here are checked by the server with its SECRET_KEY: one key for both.
    secret_key = secrets.token_urlsafe(48)
    os.environ["SECRET_KEY"] = secret_key
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackerdash.settings")
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import caches
    from django.db import connection
    from tqdm import tqdm

    from bench.profiles import PROFILES, clear_bench_cache, prepare_profile_database, profile_database_url, use_database

    profile = PROFILES[args.profile]
    with tqdm(total=profile.trackers, unit="tracker", desc="seeding", file=sys.stderr) as bar:
        database = prepare_profile_database(profile, progress=bar.update, log=lambda m: print(m, file=sys.stderr))
    cache_prefix = f"{settings.CACHE_KEY_PREFIX}-loadtest-{profile.name}"
    workdir = Path(tempfile.mkdtemp(prefix="trackerdash-loadtest-"))
    (workdir / "prometheus").mkdir()
    server_env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": profile_database_url(profile),
        "CACHE_KEY_PREFIX": cache_prefix,
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
        "LOG_LEVEL": "ERROR",
        "GUNICORN_ACCESS_LOG": "",  # ops' gunicorn.conf.py, when present: no access log
    }
    cache = caches["default"]
    cache.key_prefix = cache_prefix
    clear_bench_cache()  # the server starts with an empty cache of its own

    with use_database(database):
        config = locust_config(workdir, batch=args.batch, interval=args.ingest_every, max_requests=args.max_requests)
        (workdir / "config.json").write_text(json.dumps(config))
        vendor = connection.vendor

    collect_static(server_env)
    summaries = []
    for index, name in enumerate(n.strip() for n in args.server.split(",") if n.strip()):
        interface, _, count = name.partition(":")
        summaries.append(
            load_one_server(
                args, interface, int(count or args.workers), server_env, workdir / f"{index}-{interface}", config,
                database, profile, vendor,
            )
        )
        clear_bench_cache()  # each server starts with an empty cache
    for summary in summaries:
        print(format_summary(summary))
        print()
    if len(summaries) > 1:
        print(format_comparison(summaries))
    passed = all(s["passed"] for s in summaries)
    summary = summaries[0] if len(summaries) == 1 else {"runs": summaries, "passed": passed}
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(summary, indent=2))
    return 0 if summary["passed"] else 1


def load_one_server(args, interface, workers, server_env, workdir, config, database, profile, vendor) -> dict:
    """One server (asgi: gunicorn with the project's uvicorn worker class; wsgi: gthread workers) under locust."""
    from django.conf import settings

    from bench.measure import hit_rates, parse_cache_counters
    from bench.profiles import clear_bench_cache, use_database

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus").mkdir(exist_ok=True)
    server_env = {**server_env, "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus")}
    (workdir / "sent").mkdir(exist_ok=True)
    config = {**config, "sent_path": str(workdir / "sent" / "sent.jsonl")}
    (workdir / "config.json").write_text(json.dumps(config))
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    gunicorn = [sys.executable, "-m", "gunicorn", f"trackerdash.{interface}:application", "--bind", f"127.0.0.1:{port}"]
    if interface == "asgi":
        threads = None  # Django runs each request's sync code in a thread of its own
        gunicorn += f"--worker-class trackerdash.serving.Worker --workers {workers}".split()
        server_env = {**server_env, "DB_POOL": "true"}  # as gunicorn.conf.py sets it for asgi
    else:
        threads = args.threads
        gunicorn += f"--worker-class gthread --workers {workers} --threads {threads}".split()
    gunicorn += "--log-level warning".split()
    locust = [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locustfile.py")), "--host", url]
    locust += f"--headless --only-summary --users {args.users + 1} --spawn-rate {args.spawn_rate}".split()
    locust += f"--run-time {args.duration}s --stop-timeout 10 --loglevel WARNING".split()
    locust += ["--csv", str(workdir / "locust")]
    server_log = open(workdir / "gunicorn.log", "w")
    server = subprocess.Popen(
        gunicorn, cwd=BASE_DIR, env=server_env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        try:
            wait_until_serving(url, server)
        except RuntimeError as error:
            raise RuntimeError(f"{error}; see {workdir / 'gunicorn.log'}") from None
        metrics_status, metrics_before = http_get(url + "/metrics")
        memory_start = {"workers": worker_memory(server.pid), "redis": redis_used_memory()}
        started = time.monotonic()
        with open(workdir / "locust.log", "w") as locust_log:
            subprocess.run(  # its failures are read from its statistics below, not its exit code
                locust,
                cwd=BASE_DIR,
                env={**os.environ, "LOADTEST_CONFIG": str(workdir / "config.json")},
                stdout=locust_log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        elapsed = time.monotonic() - started
        _, metrics_after = http_get(url + "/metrics")
        memory_end = {"workers": worker_memory(server.pid), "redis": redis_used_memory()}
        cache_keys = cache_key_bytes(server_env["CACHE_KEY_PREFIX"])  # before clear_bench_cache() empties them
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the group of the gunicorn started above
        server.wait(timeout=30)
        server_log.close()

    endpoints = read_stats(workdir / "locust")
    failures = read_failures(workdir / "locust")
    with use_database(database):
        sent, missing = missing_reports(Path(config["sent_path"]))
    clear_bench_cache()
    errors = sum(row["failures"] for row in endpoints if row["endpoint"] != "Aggregated")
    rates, metrics_note = None, ""
    if metrics_status == 200:
        rates = hit_rates(parse_cache_counters(metrics_before), parse_cache_counters(metrics_after))
        if not rates:
            rates, metrics_note = None, "/metrics has no cache counters yet"
        elif not os.listdir(workdir / "prometheus"):
            metrics_note = "one worker's counters: /metrics is not in multi-process mode"
    else:
        metrics_note = f"/metrics answered HTTP {metrics_status}"
    memory = memory_checks(memory_start, memory_end, args)
    memory["cache_keys"] = cache_keys
    if metrics_status == 200:
        memory["cache_bytes"] = query_cache_bytes(metrics_before, metrics_after)
    summary = {
        "profile": profile.name,
        "vendor": vendor,
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "users": args.users,
        "batch": args.batch,
        "ingest_every": args.ingest_every,
        "server": interface,
        "workers": workers,
        "threads": threads,
        "elapsed_s": elapsed,
        "endpoints": endpoints,
        "errors": errors,
        "failure_details": failures,
        "reports_sent": sent,
        "reports_missing": missing,
        "cache_hit_rates": rates,
        "metrics_note": metrics_note,
        "locust_log": str(workdir / "locust.log"),
        "server_log": str(workdir / "gunicorn.log"),
        "memory": memory,
        "passed": errors == 0 and missing == 0 and sent > 0 and not memory["problems"],
    }
    return summary


def format_comparison(summaries: list[dict]) -> str:
    """p95 per endpoint of each server, and each one's ratio to the first (the same data, one run)."""
    first = {row["endpoint"]: row for row in summaries[0]["endpoints"]}
    names = [f"{s['server']} ({s['workers']}" + (f"×{s['threads']})" if s["threads"] else ")") for s in summaries]
    lines = ["| endpoint | " + " | ".join(f"{n} p95 ms" for n in names) + " | " +
             " | ".join(f"{n} / {names[0]}" for n in names[1:]) + " |",
             "|---|" + "---:|" * (2 * len(summaries) - 1)]
    for endpoint, row in first.items():
        others = [{r["endpoint"]: r for r in s["endpoints"]}.get(endpoint) for s in summaries[1:]]
        p95s = [row["p95_ms"]] + [o["p95_ms"] if o else float("nan") for o in others]
        ratios = [p / row["p95_ms"] if row["p95_ms"] else float("nan") for p in p95s[1:]]
        lines.append(f"| {endpoint} | " + " | ".join(f"{p:.0f}" for p in p95s) + " | "
                     + " | ".join(f"{r:.2f}" for r in ratios) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
