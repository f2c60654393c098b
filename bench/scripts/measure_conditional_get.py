"""A 304 revalidation against a 200 for the cached tracker list, over HTTP through the real server. Not a test.

Start the server on a seeded database (seed_demo --trackers 1500 --history 50), PostgreSQL + Redis, e.g.
    DEBUG=false SECRET_KEY=... ALLOWED_HOSTS=127.0.0.1 SECURE_SSL_REDIRECT=false \\
        .venv/bin/gunicorn --config gunicorn.conf.py --bind 127.0.0.1:8801 trackerdash.wsgi
then
    .venv/bin/python bench/scripts/measure_conditional_get.py --base http://127.0.0.1:8801 \\
        --username admin --password demo-password [--runs 200] [--url '/api/trackers/?size=5000']

Each round sends, interleaved on fresh connections (as a browser's revalidation would, one request
each): the list without a tag (200, the whole body from the query cache), the list with its current
tag (304), and the empty authenticated request `?lazy_load=true` as the floor of any API request.
Prints the answers' statuses, the median and p90 wall time and the median bytes on the wire (status
line, headers and body). A 200 to the tagged request (the tag moved: a write, the TTL window) hands
its new tag on, as a browser's cache would.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
import urllib.parse


def send(base: urllib.parse.SplitResult, path: str, headers: dict[str, str]) -> tuple[int, float, int, dict]:
    """(status, seconds, bytes received, headers) for one GET on a new connection."""
    connection = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
    started = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    head = len(f"HTTP/1.1 {response.status} {response.reason}\r\n") + sum(
        len(f"{name}: {value}\r\n") for name, value in response.getheaders()
    ) + 2
    connection.close()
    # Header names lowercased: uvicorn sends them so, the sync worker capitalised.
    return response.status, elapsed, head + len(body), {name.lower(): value for name, value in response.getheaders()}


def token(base: urllib.parse.SplitResult, username: str, password: str) -> str:
    connection = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
    body = json.dumps({"username": username, "password": password})
    connection.request("POST", "/api/auth/token/", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200, response.read()
    return json.loads(response.read())["token"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8801")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="demo-password")
    parser.add_argument("--url", default="/api/trackers/?size=5000")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    base = urllib.parse.urlsplit(args.base)
    auth = {"Authorization": f"Token {token(base, args.username, args.password)}"}

    status, _, _, headers = send(base, args.url, auth)  # fills the query cache
    assert status == 200 and "etag" in headers, (status, headers)
    tag = headers["etag"]
    variants = {
        "200 (no If-None-Match)": (args.url, auth),
        "304 (If-None-Match: current tag)": (args.url, {**auth, "If-None-Match": tag}),
        "floor: ?lazy_load=true": ("/api/trackers/?lazy_load=true", auth),
    }
    samples: dict[str, list[tuple[int, float, int]]] = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, (path, request_headers) in variants.items():
            status, seconds, size, got = send(base, path, request_headers)
            samples[name].append((status, seconds, size))
            if "If-None-Match" in request_headers and status == 200:
                request_headers["If-None-Match"] = got["etag"]  # the tag moved (a write, the TTL window)

    print(f"{args.url}, {args.runs} rounds interleaved, fresh connection per request")
    print(f"{'request':<36} {'answers':>14} {'median ms':>10} {'p90 ms':>8} {'bytes':>9}")
    for name, got in samples.items():
        times = sorted(seconds * 1000 for _, seconds, _ in got)
        statuses = sorted({status for status, _, _ in got})
        counts = ", ".join(f"{sum(1 for s, _, _ in got if s == status)}×{status}" for status in statuses)
        p90 = times[int(len(times) * 0.9) - 1]
        print(
            f"{name:<36} {counts:>14} {statistics.median(times):>10.2f} {p90:>8.2f} "
            f"{statistics.median(size for _, _, size in got):>9.0f}"
        )


if __name__ == "__main__":
    main()
