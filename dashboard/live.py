"""The live stream's engine: one hub per process reads the changed-rows feed and fans out to open streams.

1. Every committed write that can change a tracker list appends the trackers' ids to the feed
   (`cache_layer.feed`, registered in `dashboard.cache`): Redis Streams across processes, or
   in-process with no Redis.
2. The hub of each web process (one asyncio task) reads the feed, folds what arrived together
   into one batch, and reads those trackers' list items in ONE query (`queries.live_trackers`),
   not one per open stream.
3. It matches each changed tracker against every open stream's scope and filters in memory,
   before (the state it last saw) and after: `items` for trackers that match and changed,
   `removed` for those that matched and no longer do. A change that alters nothing a list shows
   (the same write heard twice: from the writing process and from the PostgreSQL triggers)
   sends nothing.
4. A stream whose queue overflows, a gap in the feed (Redis flushed, an "everything changed"
   entry) or a cursor that can't be replayed gets `resync`: the client refetches.

Nothing here holds a thread per stream: streams are coroutines of the event loop; database
work runs on a small executor of the hub's own (never the thread of the sync views).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from cache_layer.feed import AsyncFeed, Entry, Gap
from dashboard import queries
from dashboard.cache import TRACKER_ROWS
from dashboard.metrics import LIVE_EVENTS, LIVE_FANOUT_LAG, LIVE_RESYNCS, LIVE_STREAMS
from dashboard.queries import LiveTracker, TrackerFilters
from dashboard.scope import Scope

logger = logging.getLogger("dashboard.live")

# The hub's database work (batches, replays, access checks), off the sync views' thread.
_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="live-db")


def _fresh_connection(func):
    """Run `func` in the live executor with a usable database connection (a thread outside Django's
    request cycle: close a connection that is broken or past CONN_MAX_AGE first)."""

    def call(*args, **kwargs):
        close_old_connections()
        return func(*args, **kwargs)

    return sync_to_async(call, thread_sensitive=False, executor=_executor)


live_trackers = _fresh_connection(queries.live_trackers)


def event(name: str, cursor: str | None, data: bytes) -> bytes:
    """One Server-Sent Event (`data` is one line of JSON)."""
    head = f"event: {name}\n" + (f"id: {cursor}\n" if cursor else "")
    return head.encode() + b"data: " + data + b"\n\n"


def changes_payload(items: list[bytes], removed: list[int]) -> bytes:
    return b'{"items":[' + b",".join(items) + b'],"removed":' + orjson.dumps(removed) + b"}"


@dataclass(eq=False)
class Stream:
    """One open stream: who (scope), what (filters), and its queue of encoded events."""

    scope: Scope
    filters: TrackerFilters
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(settings.LIVE_QUEUE_SIZE))
    cursor: str | None = None  # the last position of the feed dispatched to this stream
    overflowed: bool = False
    orphaned: bool = False  # opened while the feed was unreachable: resyncs once the hub starts

    def offer(self, data: bytes | None, cursor: str, published: float | None = None) -> None:
        """Queue an event (None: nothing for this stream, only the cursor moves)."""
        self.cursor = cursor
        if data is None or self.overflowed:
            return
        try:
            self.queue.put_nowait((data, published))
        except asyncio.QueueFull:
            # A client that can't keep up gets one resync instead of an ever longer backlog.
            self.overflowed = True
            LIVE_RESYNCS.labels(reason="overflow").inc()

    def take_overflow(self) -> bytes | None:
        if not self.overflowed:
            return None
        while not self.queue.empty():
            self.queue.get_nowait()
        self.overflowed = False
        return event("resync", self.cursor, b"{}")

    def changes(self, batch: dict[int, tuple[LiveTracker, bytes, bytes]], known: dict[int, LiveTracker], ids):
        """The `changes` payload of this stream for a batch, or None when it concerns nothing here."""
        items, removed = [], []
        bare = not self.filters.include_latest_location
        for tracker_id in ids:
            now = batch.get(tracker_id)
            before = known.get(tracker_id)
            matches_now = now is not None and now[0].matches(self.scope, self.filters)
            matched = before is not None and before.matches(self.scope, self.filters)
            if matches_now and not (matched and before.digest == now[0].digest):
                items.append(now[2] if bare else now[1])
            elif matched and not matches_now:
                removed.append(tracker_id)
        return changes_payload(items, removed) if items or removed else None


class Hub:
    """This process's reader of the feed and its open streams (one per event loop)."""

    def __init__(self) -> None:
        self.feed = AsyncFeed(TRACKER_ROWS)
        self.streams: set[Stream] = set()
        self.known: dict[int, LiveTracker] = {}
        self.cursor: str | None = None
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.healthy = False

    # --- streams ---

    async def open(self, stream: Stream) -> str | None:
        """Register a stream; returns the feed position from which it receives every change (None while
        the feed is unreachable: it gets a resync once the hub is back)."""
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run(), name="live-hub")
        self.streams.add(stream)
        LIVE_STREAMS.inc()
        try:
            await asyncio.wait_for(self.ready.wait(), settings.LIVE_OPEN_TIMEOUT_SECONDS)
        except TimeoutError:
            stream.orphaned = True
            return None
        stream.cursor = self.cursor
        return self.cursor

    def close(self, stream: Stream) -> None:
        if stream in self.streams:
            self.streams.discard(stream)
            LIVE_STREAMS.dec()

    async def replay(self, stream: Stream, after: str) -> bytes:
        """The event that brings a client back from `after` to the hub's position: the current items of
        every tracker changed since that match (and the ids of those that don't), or `resync`."""
        start = stream.cursor
        try:
            entries = await self.feed.replay(after)
        except Gap:
            LIVE_RESYNCS.labels(reason="replay").inc()
            return event("resync", start, b"{}")
        ids = _ids(entries)
        if ids is None:
            LIVE_RESYNCS.labels(reason="replay").inc()
            return event("resync", start, b"{}")
        batch = await live_trackers(ids)
        items, removed = [], []
        bare = not stream.filters.include_latest_location
        for tracker_id in sorted(ids):
            now = batch.get(tracker_id)
            if now is not None and now[0].matches(stream.scope, stream.filters):
                items.append(now[2] if bare else now[1])
            elif (now is not None and stream.scope.allows(now[0].client_id)) or (
                tracker_id in self.known and stream.scope.allows(self.known[tracker_id].client_id)
            ):
                removed.append(tracker_id)  # in scope (or was): never another tenant's ids
        LIVE_EVENTS.labels(event="replay").inc()
        return event("changes", start or after, changes_payload(items, removed))

    # --- the reader ---

    async def run(self) -> None:
        """Read the feed until the process ends: (re)start, read, dispatch; on a feed error wait and
        continue from the same cursor (entries wait in Redis); on a gap resync every stream."""
        backoff = 0.2
        while True:
            try:
                if self.cursor is None:
                    await self.start()
                entries = await self.feed.read(self.cursor)
                if entries and settings.LIVE_BATCH_SECONDS:
                    await asyncio.sleep(settings.LIVE_BATCH_SECONDS)  # fold what arrives together
                    entries += await self.feed.read(entries[-1].cursor, timeout=0.001)
                if entries:
                    await self.dispatch(entries)
                if not self.healthy:
                    # Entries appended meanwhile were waiting in the stream: nothing was missed.
                    self.healthy = True
                    logger.info("live feed is back", extra={"event": "live_feed_back"})
                backoff = 0.2
            except Gap:
                logger.warning("live feed gap; every stream resyncs", extra={"event": "live_feed_gap"})
                self.cursor = None  # start() again: a new position, the state re-read, every stream resynced
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self.healthy:
                    logger.warning("live feed unavailable (%r); retrying", error, extra={"event": "live_feed_down"})
                self.healthy = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def start(self) -> None:
        """The feed's position first, then every tracker's state: a change between the two is read
        again, harmlessly."""
        cursor = await self.feed.head()
        self.known = {tracker_id: row[0] for tracker_id, row in (await live_trackers(None)).items()}
        first = not self.ready.is_set()
        self.cursor = cursor
        self.healthy = True
        self.ready.set()
        for stream in list(self.streams):
            if not first or stream.orphaned:
                stream.orphaned = False
                stream.offer(event("resync", cursor, b"{}"), cursor)
                LIVE_RESYNCS.labels(reason="restart").inc()

    async def dispatch(self, entries: list[Entry]) -> None:
        ids = _ids(entries)
        cursor = entries[-1].cursor
        published = min(entry.published for entry in entries)
        if ids is None:
            self.known = {tracker_id: row[0] for tracker_id, row in (await live_trackers(None)).items()}
            self.cursor = cursor
            self.resync_all("everything")
            return
        batch = await live_trackers(ids)
        for stream in list(self.streams):
            payload = stream.changes(batch, self.known, ids)
            stream.offer(event("changes", cursor, payload) if payload else None, cursor, published)
        for tracker_id in ids:
            if tracker_id in batch:
                self.known[tracker_id] = batch[tracker_id][0]
            else:
                self.known.pop(tracker_id, None)
        self.cursor = cursor

    def resync_all(self, reason: str) -> None:
        for stream in list(self.streams):
            stream.offer(event("resync", self.cursor, b"{}"), self.cursor or stream.cursor or "")
            LIVE_RESYNCS.labels(reason=reason).inc()


def _ids(entries: list[Entry]) -> set[int] | None:
    ids: set[int] = set()
    for entry in entries:
        if entry.ids is None:
            return None
        ids |= entry.ids
    return ids


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """This event loop's hub (one per worker process under uvicorn)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        for other in [other for other in _hubs if other.is_closed()]:
            del _hubs[other]
        found = _hubs[loop] = Hub()
    return found


async def events(stream: Stream, *, last_event_id: str | None, still_allowed) -> object:
    """The body of one stream: the retry hint and where it starts, then its events, a heartbeat
    comment every LIVE_HEARTBEAT_SECONDS (carrying the cursor, so a quiet stream resumes from
    where the feed is), until the client leaves or `still_allowed()` says no."""
    live = hub()
    cursor = await live.open(stream)
    try:
        yield f"retry: {settings.LIVE_RETRY_MILLISECONDS}\n".encode() + (
            f"id: {cursor}\n\n".encode() if cursor and not last_event_id else b"\n"
        )
        if last_event_id:
            if cursor is None:
                yield event("resync", None, b"{}")
            else:
                yield await live.replay(stream, last_event_id)
        heartbeat = settings.LIVE_HEARTBEAT_SECONDS
        recheck_at = time.monotonic() + settings.LIVE_AUTH_RECHECK_SECONDS
        while True:
            overflow = stream.take_overflow()
            if overflow is not None:
                yield overflow
            try:
                data, published = await asyncio.wait_for(stream.queue.get(), heartbeat)
            except TimeoutError:
                data, published = None, None
            if time.monotonic() >= recheck_at:
                if not await still_allowed():
                    LIVE_EVENTS.labels(event="closed_access").inc()
                    return
                recheck_at = time.monotonic() + settings.LIVE_AUTH_RECHECK_SECONDS
            if data is None:
                yield b": keepalive\n" + (f"id: {stream.cursor}\n\n".encode() if stream.cursor else b"\n")
                continue
            yield data
            LIVE_EVENTS.labels(event="changes" if data.startswith(b"event: changes") else "resync").inc()
            if published:
                LIVE_FANOUT_LAG.observe(max(0.0, time.time() - published))
    finally:
        live.close(stream)
