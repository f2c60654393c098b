"""`python bench/loadtest/live.py`: the live stream under load, across two server processes.

1. Seeds (or reuses) a bench profile's database, starts server A and server B (uvicorn, DEBUG off,
   one process each) and the invalidation listener, with a cache key prefix of their own.
2. Opens --streams live streams, alternately on B and A (staff, and each demo client's user;
   filters: none, status=in_transit, or one brand of the user's), all held by this one asyncio
   process, and waits until every one has its cursor.
3. Ingests --rate reports per second through A for --duration seconds (batches every --every s,
   each report a tracker not reported in the last batch, with a fresh timestamp).
4. Checks that every report reached every stream whose scope and filters match its tracker and no
   other (counting the missing, the unexpected, and resyncs), and prints the lag p50/p95 from the
   ingest request's answer (the commit happened before it) to the event, for streams on the
   other process (B) and on the same one (A), and the servers' memory before and after.
Exits 1 when a report went missing, reached a stream it does not concern, or a stream failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="realistic", help="bench profile: tiny, realistic or large")
    parser.add_argument("--streams", type=int, default=200, help="open streams (half on each server)")
    parser.add_argument("--rate", type=float, default=50, help="reports ingested per second")
    parser.add_argument("--every", type=float, default=0.2, help="seconds between ingest batches")
    parser.add_argument("--duration", type=float, default=60, help="seconds of ingest")
    parser.add_argument("--ports", default="8760,8761", help="ports of servers A and B")
    parser.add_argument("--away-share", type=float, default=0.1, help="share of streams that go away mid-run")
    parser.add_argument("--away-seconds", type=float, default=60, help="how long they stay away before resuming")
    parser.add_argument("--json", dest="json_path")
    return parser.parse_args(argv)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(share * len(values)))]


class Stream:
    """One SSE connection read with asyncio: its expected scope/filter and what it received."""

    def __init__(self, index: int, server: str, port: int, token: str, user: dict, query: str, matches):
        self.index, self.server, self.port, self.token, self.user, self.query = index, server, port, token, user, query
        self.matches = matches  # tracker → should this stream receive it
        self.cursor_seen = asyncio.Event()
        self.received: dict[tuple[int, str], float] = {}  # (tracker id, report timestamp) → arrival
        self.resyncs = 0
        self.failed: str | None = None
        self.task: asyncio.Task | None = None
        self.last_id: str | None = None
        self.resume_from: str | None = None  # Last-Event-ID of a reconnect
        self.replay: dict[int, str] | None = None  # the first event after a reconnect: id → timestamp
        self.duplicates = 0

    async def run(self) -> None:
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**22)
            resume = f"Last-Event-ID: {self.resume_from}\r\n" if self.resume_from else ""
            writer.write(
                f"GET /api/trackers/stream/{self.query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Token {self.token}\r\nAccept: text/event-stream\r\n{resume}\r\n".encode()
            )
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                self.failed = status.decode().strip()
                return
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            buffer = b""
            while True:
                size = await reader.readline()  # chunked transfer encoding
                if not size:
                    self.failed = self.failed or "closed"
                    return
                length = int(size.strip() or b"0", 16)
                if length == 0:
                    self.failed = "ended"
                    return
                buffer += await reader.readexactly(length + 2)
                buffer = buffer[:-2] if buffer.endswith(b"\r\n") else buffer
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    self.handle(block.decode())
        except (OSError, asyncio.IncompleteReadError) as error:
            self.failed = repr(error)
        finally:
            if writer is not None:
                writer.close()  # going away: the server sees the connection end

    def handle(self, block: str) -> None:
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("id:"):
                self.last_id = line[3:].strip()
                self.cursor_seen.set()
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if name == "resync":
            self.resyncs += 1
            if self.resume_from and self.replay is None:
                self.replay = {}
        elif name == "changes" and data:
            now = time.monotonic()
            items = json.loads("".join(data))["items"]
            if self.resume_from and self.replay is None:
                self.replay = {i["id"]: (i.get("latest_location") or {}).get("timestamp", "") for i in items}
                return  # the catch-up: counted against what happened while away
            for item in items:
                location = item.get("latest_location") or {}
                key = (item["id"], location.get("timestamp", ""))
                if key in self.received:
                    self.duplicates += 1
                self.received.setdefault(key, now)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackerdash.settings")
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from tqdm import tqdm

    from bench.measure import api_token
    from bench.profiles import PROFILES, clear_bench_cache, prepare_profile_database, profile_database_url, use_database
    from dashboard.models import Tracker

    profile = PROFILES[args.profile]
    with tqdm(total=profile.trackers, unit="tracker", desc="seeding", file=sys.stderr) as bar:
        database = prepare_profile_database(profile, progress=bar.update, log=lambda m: print(m, file=sys.stderr))
    prefix = f"{settings.CACHE_KEY_PREFIX}-livetest-{profile.name}"
    settings.CACHES["default"]["KEY_PREFIX"] = prefix
    from django.core.cache import caches

    caches["default"].key_prefix = prefix
    clear_bench_cache()
    with use_database(database):
        trackers = {
            t["id"]: t
            for t in Tracker.objects.values(
                "id", "serial", "current_status", "production_run__brand_id", "production_run__brand__client_id"
            )
        }
        users = []
        for user in get_user_model().objects.filter(is_active=True).select_related("profile").order_by("id"):
            client_id = None if user.is_staff else getattr(user.profile, "client_id", None)
            if user.is_staff or client_id is not None:
                users.append({"username": user.username, "staff": user.is_staff, "client_id": client_id,
                              "token": api_token(user)})
        staff_token = next(u["token"] for u in users if u["staff"])

    workdir = Path(tempfile.mkdtemp(prefix="trackerdash-livetest-"))
    env = {
        **os.environ, "DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0", "DATABASE_URL": profile_database_url(profile), "CACHE_KEY_PREFIX": prefix,
        "LOG_LEVEL": "WARNING", "LIVE_QUEUE_SIZE": "1024",
    }
    ports = [int(p) for p in args.ports.split(",")]
    processes = {}
    for name, port in zip("AB", ports):
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "trackerdash.asgi:application", "--port", str(port), "--lifespan", "off",
             "--log-level", "warning", "--no-access-log", "--backlog", "4096", "--timeout-graceful-shutdown", "3"],
            cwd=BASE_DIR, env=env, stdout=open(workdir / f"{name}.log", "w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    processes["listener"] = subprocess.Popen(
        [sys.executable, "manage.py", "listen_cache_invalidation"], cwd=BASE_DIR, env=env,
        stdout=open(workdir / "listener.log", "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        for port in ports:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.2)
        result = asyncio.run(run_load(args, ports, users, trackers, staff_token, processes))
    finally:
        for process in processes.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        clear_bench_cache()
    result["logs"] = str(workdir)
    print(format_result(result))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


def post(request: urllib.request.Request) -> bytes:
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def stream_filters(user: dict, trackers: dict, rng: random.Random):
    """A filter for this user: none, status=in_transit, or one brand in the user's scope."""
    brands = sorted({t["production_run__brand_id"] for t in trackers.values()
                     if user["staff"] or t["production_run__brand__client_id"] == user["client_id"]})

    def in_scope(t):
        return user["staff"] or t["production_run__brand__client_id"] == user["client_id"]

    kind = rng.choice(["none", "status", "brand"])
    if kind == "status":
        return "?status=in_transit", lambda t: in_scope(t) and t["current_status"] == "in_transit"
    if kind == "brand" and brands:
        brand = rng.choice(brands)
        return f"?brand_ids={brand}", lambda t: in_scope(t) and t["production_run__brand_id"] == brand
    return "", in_scope


async def run_load(args, ports, users, trackers, staff_token, processes) -> dict:
    rng = random.Random(7)
    streams = []
    for index in range(args.streams):
        user = users[index % len(users)]
        query, matches = stream_filters(user, trackers, rng)
        server, port = ("B", ports[1]) if index % 2 == 0 else ("A", ports[0])
        streams.append(Stream(index, server, port, user["token"], user, query, matches))
    memory_before = {name: rss_mb(p.pid) for name, p in processes.items() if name != "listener"}
    for stream in streams:
        stream.task = asyncio.create_task(stream.run())
        await asyncio.sleep(0.002)  # open them at ~500/s
    opened = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(s.cursor_seen.wait() for s in streams)), 120)
    open_seconds = time.monotonic() - opened
    memory_open = {name: rss_mb(p.pid) for name, p in processes.items() if name != "listener"}

    sent: list[tuple[int, str, float, float]] = []  # tracker id, timestamp, request sent, answered
    ids = list(trackers)
    per_batch = max(1, round(args.rate * args.every))
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    last: set[int] = set()
    away = [s for s in streams if s.index % max(1, round(1 / args.away_share)) == 1] if args.away_share else []
    away_from = away_until = None
    while time.monotonic() - started < args.duration:
        elapsed = time.monotonic() - started
        if away and away_from is None and elapsed >= 5:
            for stream in away:  # gone: the connection closed, its cursor kept
                stream.task.cancel()
                stream.resume_from = stream.last_id
            away_from = time.monotonic()
        if away and away_from is not None and away_until is None and time.monotonic() - away_from >= args.away_seconds:
            away_until = time.monotonic()
            for stream in away:
                stream.task = asyncio.create_task(stream.run())
        tick = time.monotonic()
        chosen = rng.sample([i for i in ids if i not in last], per_batch)
        last = set(chosen)
        moment = datetime.now(UTC)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = json.dumps([{"tracker": trackers[i]["serial"], "timestamp": stamp, "latitude": rng.uniform(40, 55),
                            "longitude": rng.uniform(-5, 20)} for i in chosen]).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports[0]}/api/location-reports/", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Token {staff_token}"},
        )
        before = time.monotonic()
        await loop.run_in_executor(None, post, request)
        after = time.monotonic()
        sent.extend((i, stamp, before, after) for i in chosen)
        await asyncio.sleep(max(0.0, args.every - (time.monotonic() - tick)))
    # The last events in flight: wait until nothing arrived for 3 s (at most 30 s).
    settle = time.monotonic()
    count = sum(len(s.received) for s in streams)
    while time.monotonic() - settle < 30:
        await asyncio.sleep(3)
        now_count = sum(len(s.received) for s in streams)
        if now_count == count:
            break
        count = now_count
    memory_after = {name: rss_mb(p.pid) for name, p in processes.items() if name != "listener"}
    for stream in streams:
        stream.task.cancel()

    # Streams that were away: every matching tracker reported while they were away must be in the
    # catch-up event with (at least) its last report of that time.
    caught_up = away_missed = away_expected = 0
    if away_from is not None and away_until is not None:
        for stream in away:
            newest: dict[int, str] = {}
            for tracker_id, stamp, before, _ in sent:
                if away_from <= before < away_until and stream.matches(trackers[tracker_id]):
                    newest[tracker_id] = max(stamp, newest.get(tracker_id, ""))
            away_expected += len(newest)
            replay = stream.replay or {}
            for tracker_id, stamp in newest.items():
                if replay.get(tracker_id, "") >= stamp:
                    caught_up += 1
                else:
                    away_missed += 1
        away_window = (away_from, away_until)
    else:
        away_window = None

    expected = delivered = missing = unexpected = 0
    lags = {"A": [], "B": []}
    lags_from_send = {"A": [], "B": []}
    sent_keys = {(i, stamp) for i, stamp, _, _ in sent}
    for stream in streams:
        for tracker_id, stamp, before, after in sent:
            if stream in away and away_window and away_window[0] <= before < away_window[1] + 1:
                continue  # counted by the catch-up above
            if stream.matches(trackers[tracker_id]):
                expected += 1
                arrival = stream.received.get((tracker_id, stamp))
                if arrival is None:
                    missing += 1
                else:
                    delivered += 1
                    lags[stream.server].append(arrival - after)
                    lags_from_send[stream.server].append(arrival - before)
        unexpected += sum(1 for key in stream.received if key in sent_keys and not stream.matches(trackers[key[0]]))
    failed = [f"stream {s.index}: {s.failed}" for s in streams if s.failed not in (None,)]
    return {
        "profile": args.profile, "streams": args.streams, "rate": args.rate, "every": args.every,
        "duration": args.duration, "reports": len(sent), "open_seconds": open_seconds,
        "expected": expected, "delivered": delivered, "missing": missing, "unexpected": unexpected,
        "resyncs": sum(s.resyncs for s in streams), "failed": failed[:10], "failed_count": len(failed),
        "away": {"streams": len(away), "seconds": args.away_seconds, "expected": away_expected,
                 "caught_up": caught_up, "missed": away_missed,
                 "resynced": sum(1 for s in away if s.replay == {} and s.resyncs)},
        "duplicates": sum(s.duplicates for s in streams),
        "lag_ms": {server: {"p50": 1000 * percentile(v, 0.5), "p95": 1000 * percentile(v, 0.95),
                            "max": 1000 * max(v) if v else float("nan"), "n": len(v)} for server, v in lags.items()},
        "lag_from_send_ms": {server: {"p50": 1000 * percentile(v, 0.5), "p95": 1000 * percentile(v, 0.95)}
                             for server, v in lags_from_send.items()},
        "ingest_ms": {"p50": 1000 * statistics.median([a - b for _, _, b, a in sent]) if sent else float("nan")},
        "memory_mb": {"before": memory_before, "streams_open": memory_open, "after": memory_after},
        "passed": missing == 0 and unexpected == 0 and away_missed == 0 and not failed and len(sent) > 0,
    }


def format_result(r: dict) -> str:
    lines = [
        f"Live stream load: profile {r['profile']}, {r['streams']} streams (half on each of 2 uvicorn processes), "
        f"{r['rate']:g} reports/s through A in batches every {r['every']:g} s for {r['duration']:g} s "
        f"({r['reports']:,} reports); streams open in {r['open_seconds']:.1f} s",
        f"Deliveries: {r['delivered']:,} of {r['expected']:,} expected, {r['missing']} missing, "
        f"{r['unexpected']} to a stream they do not concern, {r['resyncs']} resyncs, "
        f"{r['failed_count']} streams failed",
        "",
        "| streams on | events | lag p50 ms | lag p95 ms | max ms | p50 / p95 from the request's send |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for server, label in (("B", "B (another process than the ingest)"), ("A", "A (the ingesting process)")):
        lag, send = r["lag_ms"][server], r["lag_from_send_ms"][server]
        lines.append(f"| {label} | {lag['n']:,} | {lag['p50']:.0f} | {lag['p95']:.0f} | {lag['max']:.0f} | "
                     f"{send['p50']:.0f} / {send['p95']:.0f} |")
    away = r["away"]
    lines.append("")
    lines.append(
        f"Away and back: {away['streams']} streams closed for {away['seconds']:g} s, then resumed with Last-Event-ID: "
        f"{away['caught_up']:,} of {away['expected']:,} changed trackers caught up in the first event, "
        f"{away['missed']} missed, {away['resynced']} answered with resync; "
        f"{r['duplicates']} events delivered twice to a stream."
    )
    memory = r["memory_mb"]
    lines.append("")
    lines.append("Server memory (RSS MB) before streams / streams open / after the load: " + "; ".join(
        f"{name} {memory['before'][name]:.0f} / {memory['streams_open'][name]:.0f} / {memory['after'][name]:.0f}"
        for name in memory["before"]))
    lines.append(f"Ingest request p50: {r['ingest_ms']['p50']:.0f} ms. Logs: {r['logs']}")
    if r["failed"]:
        lines.append("Failed streams: " + "; ".join(r["failed"]))
    lines.append("RESULT: " + ("PASS" if r["passed"] else "FAIL"))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
