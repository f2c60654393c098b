"""Trail simplification: a time-aware Douglas–Peucker (top-down, time ratio), in plain Python.

A trail is replayed on a time slider, so a point is judged by the *synchronised* distance: how
far it lies from where the simplified trail puts the tracker at that point's instant (the
position interpolated in time along the kept segment around it). That distance is never less
than the distance to the segment itself, so a trail within the tolerance keeps its shape on the
map and its timing on the slider — a tracker that waited an hour still waits, where plain
Douglas–Peucker would let it creep along the segment instead. (Meratnia & de By, "Spatiotemporal
compression techniques for moving point objects", EDBT 2004: the TD-TR algorithm.)

Splits are taken worst first, so the point budget is spent where the error is largest: the
result holds at most `max_points` points and stops early once every dropped point lies within
`tolerance_m` metres. Positions are interpolated linearly in latitude and longitude, as the map
draws a segment and the slider moves along it; the distance from there to the report is measured
in metres at the report's latitude (equirectangular about the report: for offsets of metres to
kilometres as exact as the spherical Earth, ~0.5 %). Longitudes are unwrapped, so a trail crossing
±180° stays short.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

EARTH_RADIUS_M = 6_371_008.8  # the mean radius
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180


def unwrap(longitudes: Sequence[float]) -> list[float]:
    """Longitudes made continuous: each step taken the short way round (179.9 → -179.9 is +0.2°)."""
    if not longitudes or max(longitudes) - min(longitudes) <= 180.0:
        return list(longitudes)  # no step can be the long way round
    previous = longitudes[0]
    unwrapped, total = [previous], previous
    for longitude in longitudes[1:]:
        total += (longitude - previous + 180.0) % 360.0 - 180.0
        previous = longitude
        unwrapped.append(total)
    return unwrapped


def _worst(
    xs: list[float], ys: list[float], weights: list[float], ts: list[float], i: int, j: int
) -> tuple[float, int]:
    """(squared synchronised distance in degrees of latitude, index) of the point between i and j
    farthest from where segment i–j puts the tracker at its instant."""
    xi, yi, ti = xs[i], ys[i], ts[i]
    span = ts[j] - ti
    if span > 0:
        vx, vy = (xs[j] - xi) / span, (ys[j] - yi) / span  # degrees per unit of time along the segment
        ax, ay = xi - ti * vx, yi - ti * vy  # so that the position at t is (ax + t·vx, ay + t·vy)
        errors = [  # the hot loop: ~10 float operations a point, no call
            w * (ex := x - (ax + t * vx)) * ex + (ey := y - (ay + t * vy)) * ey
            for x, y, w, t in zip(xs[i + 1 : j], ys[i + 1 : j], weights[i + 1 : j], ts[i + 1 : j])
        ]
    else:  # every point between shares one instant: interpolate by position in the sequence instead
        steps = j - i
        vx, vy = (xs[j] - xi) / steps, (ys[j] - yi) / steps
        errors = [
            w * (ex := x - (xi + k * vx)) * ex + (ey := y - (yi + k * vy)) * ey
            for k, (x, y, w) in enumerate(zip(xs[i + 1 : j], ys[i + 1 : j], weights[i + 1 : j]), start=1)
        ]
    worst = max(errors)
    return worst, i + 1 + errors.index(worst)


# A long trail is first cut every CHUNK_REPORTS reports. Split from its two ends alone, the top of
# the split tree scans the whole trail once per level, and a month that loops around one region
# splits unevenly (28 scans of all 43,200 reports, measured); the cuts make those levels one scan.
# A cut the trail did not need is taken out again at the end.
CHUNK_REPORTS = 2048
CUTS_PER_BUDGET = 8  # at most one cut per this many points of max_points


def simplify(
    times: Sequence[float],
    latitudes: Sequence[float],
    longitudes: Sequence[float],
    *,
    max_points: int,
    tolerance_m: float,
) -> list[int]:
    """The indices of the points to keep, ascending: the first and the last always, at most
    `max_points` (≥ 2) in all.

    `times` are in any unit from any origin (seconds, microseconds since 1970), ascending; the
    three sequences are equally long.
    1. The trail starts as its first and last point, and a cut every CHUNK_REPORTS reports
       between (as many as the budget affords): a few segments.
    2. Take the segment whose farthest point (synchronised distance) is worst; stop when that
       is within `tolerance_m`, or when the budget is spent.
    3. Keep that point, which splits the segment in two; measure both; repeat.
    4. Take out each cut whose neighbours' segment holds every point between within the tolerance.
    """
    if max_points < 2:
        raise ValueError("max_points must be at least 2 (the first and the last point)")
    count = len(times)
    if count <= 2:
        return list(range(count))
    origin = times[0]  # times from the first: small numbers keep the interpolation exact
    xs, ys, ts = unwrap(longitudes), list(latitudes), [moment - origin for moment in times]
    # A degree of longitude is cos(latitude) of a degree of latitude: squared, the weight of its error.
    cos, radians_per_degree = math.cos, math.pi / 180
    weights = [(c := cos(latitude * radians_per_degree)) * c for latitude in ys]
    limit = (tolerance_m / METRES_PER_DEGREE) ** 2

    parts = max(1, min(math.ceil((count - 1) / CHUNK_REPORTS), max_points // CUTS_PER_BUDGET))
    bounds = sorted({round(part * (count - 1) / parts) for part in range(parts + 1)})
    cuts = bounds[1:-1]
    kept = set(bounds)
    segments = []
    for start, end in zip(bounds, bounds[1:]):
        if end - start >= 2:
            worst, split = _worst(xs, ys, weights, ts, start, end)
            segments.append((-worst, start, end, split))
    heapq.heapify(segments)
    while segments and len(kept) < max_points:
        negative, i, j, at = heapq.heappop(segments)
        if -negative <= limit:
            break  # the worst segment is within the tolerance: so is every other
        kept.add(at)
        for start, end in ((i, at), (at, j)):
            if end - start >= 2:
                worst, split = _worst(xs, ys, weights, ts, start, end)
                heapq.heappush(segments, (-worst, start, end, split))

    result = sorted(kept)
    if not cuts:
        return result
    cuts = set(cuts)
    thinned = [result[0]]
    for place in range(1, len(result) - 1):
        index = result[place]
        # A cut goes when the segment from the last point kept to the next holds every point
        # between (the next is checked in its turn, over the whole of its own segment).
        if index in cuts and _worst(xs, ys, weights, ts, thinned[-1], result[place + 1])[0] <= limit:
            continue
        thinned.append(index)
    thinned.append(result[-1])
    return thinned
