"""Interleaved timings of a few URLs over HTTP (keep-alive, token, `Accept-Encoding: gzip`). Not a test.

Compare requests to one or more running servers under the same load, e.g. the cached list
against an authenticated `?lazy_load=true`, or a server with QUERY_CACHE_ENABLED=false:

    .venv/bin/python bench/scripts/measure_http.py --rounds 20 \\
        --case "lazy=http://127.0.0.1:8210/api/trackers/?lazy_load=true@TOKEN" \\
        --case "list cached=http://127.0.0.1:8210/api/trackers/?size=5000@TOKEN" \\
        --case "list uncached=http://127.0.0.1:8212/api/trackers/?size=5000@TOKEN"

A token comes from `manage.py drf_create_token admin` on the server's database. Prints the
median and p95 of each, the bytes on the wire and their encoding.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import time
from urllib.parse import urlsplit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", required=True, help="label=URL@TOKEN")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    cases = []
    for spec in args.case:
        at = spec.index("=http")  # labels and URLs may hold "=" themselves
        label, (url, token) = spec[:at], spec[at + 1 :].rsplit("@", 1)
        cases.append((label, urlsplit(url), token))
    connections: dict[tuple, http.client.HTTPConnection] = {}

    def get(url, token) -> tuple[bytes, str]:
        key = (url.hostname, url.port)
        connection = connections.setdefault(key, http.client.HTTPConnection(url.hostname, url.port, timeout=120))
        path = url.path + (f"?{url.query}" if url.query else "")
        connection.request("GET", path, headers={"Authorization": f"Token {token}", "Accept-Encoding": "gzip"})
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status, body[:200])
        return body, response.getheader("Content-Encoding") or "plain"

    samples: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    wire: dict[str, tuple[int, str]] = {}
    for _label, url, token in cases:
        get(url, token)  # warm-up: connection, caches
    for _ in range(args.rounds):
        for label, url, token in cases:
            started = time.perf_counter()
            body, encoding = get(url, token)
            samples[label].append((time.perf_counter() - started) * 1000)
            wire[label] = (len(body), encoding)

    print(f"{args.rounds} rounds interleaved, keep-alive, token, Accept-Encoding: gzip")
    print("| request | median ms | p95 ms | bytes on the wire |")
    print("|---|---:|---:|---:|")
    for label, _, _ in cases:
        ordered = sorted(samples[label])
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        size, encoding = wire[label]
        print(f"| {label} | {statistics.median(ordered):.1f} | {p95:.1f} | {size:,} ({encoding}) |")


if __name__ == "__main__":
    main()
