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


def _within(
    xs: list[float], ys: list[float], weights: list[float], ts: list[float], i: int, j: int, limit: float
) -> bool:
    """Whether every point between i and j lies within `limit` (as `_worst` measures it) of where
    segment i–j puts the tracker at its instant: `_worst(…)[0] <= limit`, but stopping at the first
    point past it."""
    xi, yi, ti = xs[i], ys[i], ts[i]
    span = ts[j] - ti
    if span <= 0:
        return _worst(xs, ys, weights, ts, i, j)[0] <= limit
    vx, vy = (xs[j] - xi) / span, (ys[j] - yi) / span
    ax, ay = xi - ti * vx, yi - ti * vy
    return not any(
        w * (ex := x - (ax + t * vx)) * ex + (ey := y - (ay + t * vy)) * ey > limit
        for x, y, w, t in zip(xs[i + 1 : j], ys[i + 1 : j], weights[i + 1 : j], ts[i + 1 : j])
    )


# A long trail is first cut every CHUNK_REPORTS reports. Split from its two ends alone, the top of
# the split tree scans the whole trail once per level (each report is measured again at every level
# above the segment it ends in), and a month that loops around one region splits unevenly (28 scans
# of all 43,200 reports, measured); the cuts start the split a few levels down. A cut is a point the
# trail did not choose: it is taken out again when the trail does not need it (see `simplify`), and
# the points it frees are spent again where the error is largest.
CHUNK_REPORTS = 128
CUTS_PER_BUDGET = 4  # at most one cut per this many points of max_points


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
    4. Take out each cut whose neighbours' segment holds every point between within the largest
       error left in the trail (the tolerance, or the worst segment's error when the budget ran
       out): dropping it makes no report worse off than one already is. A cut right after one
       taken out waits for the next pass (so a pass reads each report at most once, where a run
       of cuts taken out one after another would read the run again for each). When any went and
       the budget ran out, spend the freed points as in 2–3; check the cuts left again, until a
       pass takes none out.
    So a cut kept is one the trail needs: dropping it would put a report farther off than any other.
    A trail within the tolerance from its first point to its last (a tracker that stood still, a
    straight drive) is found by one scan that stops at the first report past it.
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
    if count > CHUNK_REPORTS and _within(xs, ys, weights, ts, 0, count - 1, limit):
        return [0, count - 1]  # else the cuts, each taken out again, would cost a scan per pass

    parts = max(1, min(math.ceil((count - 1) / CHUNK_REPORTS), max_points // CUTS_PER_BUDGET))
    bounds = sorted({round(part * (count - 1) / parts) for part in range(parts + 1)})
    cuts = set(bounds[1:-1])
    kept = set(bounds)
    # The heap of segments by their worst error; `live` holds the segments between neighbours kept
    # now (a heap entry whose segment a cut's removal merged away is skipped).
    segments, live = [], set()
    push, pop = heapq.heappush, heapq.heappop

    def measure(start: int, end: int, worst: float | None = None, split: int = 0) -> None:
        live.add((start, end))
        if end - start >= 2:
            if worst is None:
                worst, split = _worst(xs, ys, weights, ts, start, end)
            push(segments, (-worst, start, end, split))

    def drop(previous: int, cut: int, following: int) -> None:
        cuts.discard(cut)
        kept.discard(cut)
        live.discard((previous, cut))
        live.discard((cut, following))

    for start, end in zip(bounds, bounds[1:]):
        measure(start, end)
    while True:
        while segments and len(kept) < max_points:
            negative, i, j, at = segments[0]
            if (i, j) not in live:
                pop(segments)
                continue
            if -negative <= limit:
                break  # the worst segment is within the tolerance: so is every other
            pop(segments)
            live.remove((i, j))
            kept.add(at)
            measure(i, at)
            measure(at, j)
        if not cuts:
            break
        while segments and (segments[0][1], segments[0][2]) not in live:
            pop(segments)
        largest = max(limit, -segments[0][0]) if segments else limit
        order = sorted(kept)
        previous, dropped, waiting, after_drop = order[0], False, False, False
        for place in range(1, len(order) - 1):
            index, following = order[place], order[place + 1]
            if index in cuts:
                if after_drop:
                    waiting = True  # its segment would start before the cut just dropped: next pass
                elif largest > limit:  # the budget ran out: the merged segment's error is needed
                    worst, split = _worst(xs, ys, weights, ts, previous, following)
                    if worst <= largest:  # from the last point kept to the next: the next is checked in its turn
                        drop(previous, index, following)
                        measure(previous, following, worst, split)  # the freed points may split it
                        dropped = after_drop = True
                        continue
                elif _within(xs, ys, weights, ts, previous, following, limit):
                    drop(previous, index, following)
                    live.add((previous, following))  # within the tolerance: never split again
                    dropped = after_drop = True
                    continue
            previous, after_drop = index, False
        if not waiting and (not dropped or largest <= limit):
            break
    return sorted(kept)
