"""The changed-rows feed: after each commit, which rows of a registered group it changed, in order.

Entries carry a cursor `<epoch>.<id>` and are kept for at least REPLAY_SECONDS, so a reader can
resume from a cursor it was given (or learn that it can't: `Gap`). On django-redis the feed is a
Redis Stream per group (every process and host appends and reads it; `XADD ... MINID` keeps
the window bounded by time, not by a guessed length; the epoch names one life of the stream, so a
cursor from before a flush or eviction is never replayed against the new one); on any other
backend (local memory: the embedded default) it lives in this process.

These are the only stream commands of cache_layer: appends go through `store`'s circuit breaker
(a failed append is not lost: the group is marked "everything changed" once the backend is back);
readers are async (`AsyncFeed`), for event-loop consumers such as a live stream.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.signals import setting_changed

from cache_layer import conf, store

logger = logging.getLogger("cache_layer")

ALL = "*"  # an entry's ids: every row of the group may have changed


@dataclass(frozen=True)
class Entry:
    cursor: str
    ids: frozenset[int] | None  # None: any row of the group (a bulk statement, a gap)
    published: float  # the publisher's wall clock (seconds) at append: for lag metrics only


class Gap(Exception):
    """The feed cannot replay from this cursor (too old, malformed, or from another life of the feed)."""


def _encode(ids: Iterable[int] | None) -> str:
    return ALL if ids is None else ",".join(str(i) for i in sorted(ids))


def _decode(text: str) -> frozenset[int] | None:
    return None if text == ALL else frozenset(int(i) for i in text.split(",") if i)


def _split(cursor: str) -> tuple[str, str]:
    epoch, sep, entry_id = (cursor or "").partition(".")
    if not sep or not epoch or not entry_id:
        raise Gap(f"not a cursor: {cursor[:40]!r}")
    return epoch, entry_id


def _redis_backend():
    backend = store._backend()
    client = getattr(backend, "client", None)
    return backend if client is not None and hasattr(client, "get_client") else None


def stream_key(group: str) -> str:
    return store.key("feed", group)


def epoch_key(group: str) -> str:
    return store.key("feed", group, "epoch")


def floor_key(group: str) -> str:
    return store.key("feed", group, "floor")


# --- Appending (sync, after commit) ------------------------------------------------------

# A stream that is new (or whose epoch is gone) starts a new epoch: cursors of its previous life
# can't be replayed. MINID trims entries older than the window; when it trims any, the floor key
# records the threshold, so a replay from a cursor below it is known to be incomplete.
_APPEND = """
if redis.call('exists', KEYS[1]) == 0 or redis.call('exists', KEYS[2]) == 0 then
  redis.call('del', KEYS[1], KEYS[3])
  redis.call('set', KEYS[2], ARGV[1])
end
local now = redis.call('time')
local minid = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[2])
local before = redis.call('xlen', KEYS[1])
local id = redis.call('xadd', KEYS[1], 'MINID', minid, '*', 'ids', ARGV[3], 't', ARGV[4])
if redis.call('xlen', KEYS[1]) <= before then
  redis.call('set', KEYS[3], minid)
end
return {redis.call('get', KEYS[2]), id}
"""

_failed_groups: set[str] = set()
_failed_lock = threading.Lock()


def append(group: str, ids: Iterable[int] | None) -> str | None:
    """Append one entry (None = every row may have changed); returns its cursor, None when the
    backend is unavailable (the group then gets an "everything" entry once it is back)."""
    ids = None if ids is None else frozenset(ids)
    if ids is not None and not ids:
        return None
    backend = _redis_backend()
    if backend is None:
        return _local(group).append(ids)
    from cache_layer.metrics import FEED_APPEND_FAILURES, FEED_APPENDS

    client = backend.client
    window_ms = int(conf.get("FEED_REPLAY_SECONDS") * 1000)

    def operation():
        return client.get_client(write=True).eval(
            _APPEND, 3, *_keys(client, group), secrets.token_hex(6), window_ms, _encode(ids), f"{time.time():.6f}"
        )

    try:
        epoch, entry_id = store._call(operation)
    except store.CacheUnavailable:
        FEED_APPEND_FAILURES.labels(group=group).inc()
        with _failed_lock:
            _failed_groups.add(group)
        logger.warning(
            "changed rows of %s could not reach the feed; an 'everything changed' entry follows when it is back",
            group, extra={"event": "feed_append_failed", "group": group},
        )
        return None
    FEED_APPENDS.labels(group=group).inc()
    return f"{_text(epoch)}.{_text(entry_id)}"


def _keys(client, group: str) -> tuple[str, str, str]:
    return tuple(client.make_key(k) for k in (stream_key(group), epoch_key(group), floor_key(group)))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _append_all_for_failed_groups() -> None:
    """Recovery hook: every group whose append failed gets one "everything changed" entry."""
    with _failed_lock:
        groups = set(_failed_groups)
    backend = _redis_backend()
    if backend is None or not groups:
        return
    client = backend.client
    window_ms = int(conf.get("FEED_REPLAY_SECONDS") * 1000)
    for group in groups:
        try:
            client.get_client(write=True).eval(
                _APPEND, 3, *_keys(client, group), secrets.token_hex(6), window_ms, ALL, f"{time.time():.6f}"
            )
        except Exception as error:  # still down: the breaker stays open, the hook runs again later
            raise store.CacheUnavailable(str(error)) from error
        with _failed_lock:
            _failed_groups.discard(group)


store.add_recovery_hook(_append_all_for_failed_groups)


# --- In-process feed (no Redis) ----------------------------------------------------------


class _LocalStream:
    """One group's feed in this process: a time-bounded deque, thread-safe, that wakes async readers."""

    def __init__(self) -> None:
        self.epoch = secrets.token_hex(6)
        self.entries: deque[tuple[int, frozenset[int] | None, float, float]] = deque()  # seq, ids, wall, mono
        self.sequence = itertools.count(1)
        self.trimmed = 0  # the highest sequence number dropped from the window
        self.lock = threading.Lock()
        self.waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def append(self, ids: frozenset[int] | None) -> str:
        now = time.monotonic()
        with self.lock:
            seq = next(self.sequence)
            self.entries.append((seq, ids, time.time(), now))
            horizon = now - conf.get("FEED_REPLAY_SECONDS")
            while self.entries and self.entries[0][3] < horizon:
                self.trimmed = self.entries.popleft()[0]
            waiters = list(self.waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                self.waiters.discard((loop, event))
        return f"{self.epoch}.{seq}"

    def head(self) -> str:
        with self.lock:
            return f"{self.epoch}.{self.entries[-1][0] if self.entries else self.trimmed}"

    def after(self, cursor: str, *, replay: bool) -> list[Entry]:
        epoch, entry_id = _split(cursor)
        if epoch != self.epoch or not entry_id.isdigit():
            raise Gap("cursor from another life of the feed")
        seq = int(entry_id)
        with self.lock:
            if replay and seq < self.trimmed:
                raise Gap("cursor older than the replay window")
            return [Entry(f"{self.epoch}.{s}", ids, wall) for s, ids, wall, _ in self.entries if s > seq]


_local_streams: dict[str, _LocalStream] = {}
_local_lock = threading.Lock()


def _local(group: str) -> _LocalStream:
    with _local_lock:
        stream = _local_streams.get(group)
        if stream is None:
            stream = _local_streams[group] = _LocalStream()
        return stream


# --- Reading (async) ---------------------------------------------------------------------


class AsyncFeed:
    """A reader of one group's feed for an event loop: `head()`, `read(after)`, `replay(after)`.

    Raises `Gap` when the cursor can't be continued, and the backend's own connection errors
    (the caller retries; entries appended meanwhile are still in the stream when it is back).
    """

    def __init__(self, group: str) -> None:
        self.group = group
        backend = _redis_backend()
        self.redis = None
        if backend is not None:
            import redis.asyncio

            self.block_ms = int(conf.get("FEED_BLOCK_SECONDS") * 1000)
            timeout = conf.get("FEED_SOCKET_TIMEOUT_SECONDS")
            self.redis = redis.asyncio.Redis.from_url(
                backend.client._server[0],  # the primary: django-redis writes there too
                socket_timeout=timeout + self.block_ms / 1000,
                socket_connect_timeout=timeout,
            )
            self.stream, self.epoch_key, self.floor_key = _keys(backend.client, group)

    @property
    def is_local(self) -> bool:
        return self.redis is None

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    async def head(self) -> str:
        """The cursor of the newest entry (creating the feed's epoch if it has none yet)."""
        if self.redis is None:
            return _local(self.group).head()
        epoch = await self.redis.get(self.epoch_key)
        if epoch is None or not await self.redis.exists(self.stream):
            # Start this life of the stream the way an append would.
            await self.redis.eval(
                _APPEND, 3, self.stream, self.epoch_key, self.floor_key, secrets.token_hex(6),
                int(conf.get("FEED_REPLAY_SECONDS") * 1000), "", f"{time.time():.6f}",
            )
            epoch = await self.redis.get(self.epoch_key)
        last = await self.redis.xrevrange(self.stream, count=1)
        return f"{_text(epoch)}.{_text(last[0][0]) if last else '0-0'}"

    async def read(self, after: str, *, timeout: float | None = None) -> list[Entry]:
        """Entries after the cursor, waiting up to `timeout` seconds (FEED_BLOCK_SECONDS) for one."""
        if self.redis is None:
            return await self._read_local(after, timeout)
        epoch, entry_id = await self._check_epoch(after)
        block = self.block_ms if timeout is None else int(timeout * 1000)
        answer = await self.redis.xread({self.stream: entry_id}, block=max(block, 1), count=10_000)
        return self._entries(epoch, answer[0][1] if answer else [])

    async def replay(self, after: str) -> list[Entry]:
        """Every entry after the cursor, or `Gap` when some of them have left the window."""
        if self.redis is None:
            return _local(self.group).after(after, replay=True)
        epoch, entry_id = await self._check_epoch(after)
        floor = await self.redis.get(self.floor_key)
        if floor is not None and _id_tuple(entry_id) < (int(floor), 0):
            raise Gap("cursor older than the replay window")
        entries = await self.redis.xrange(self.stream, min=f"({entry_id}", count=conf.get("FEED_MAX_REPLAY_ENTRIES"))
        if len(entries) >= conf.get("FEED_MAX_REPLAY_ENTRIES"):
            raise Gap("too many entries to replay")
        return self._entries(epoch, entries)

    async def _check_epoch(self, cursor: str) -> tuple[str, str]:
        epoch, entry_id = _split(cursor)
        try:
            _id_tuple(entry_id)
        except ValueError:
            raise Gap(f"not a cursor: {cursor[:40]!r}") from None
        current = await self.redis.get(self.epoch_key)
        if current is None or _text(current) != epoch:
            raise Gap("cursor from another life of the feed")
        return epoch, entry_id

    def _entries(self, epoch: str, raw) -> list[Entry]:
        entries = []
        for entry_id, fields in raw:
            fields = {_text(k): _text(v) for k, v in fields.items()}
            if not fields.get("ids"):  # the empty entry that started this life of the stream
                continue
            entries.append(Entry(f"{epoch}.{_text(entry_id)}", _decode(fields["ids"]), float(fields.get("t", 0))))
        return entries

    async def _read_local(self, after: str, timeout: float | None) -> list[Entry]:
        stream = _local(self.group)
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        waiter = (loop, event)
        with stream.lock:
            stream.waiters.add(waiter)
        try:
            entries = stream.after(after, replay=False)
            if entries:
                return entries
            try:
                await asyncio.wait_for(event.wait(), conf.get("FEED_BLOCK_SECONDS") if timeout is None else timeout)
            except TimeoutError:
                return []
            return stream.after(after, replay=False)
        finally:
            with stream.lock:
                stream.waiters.discard(waiter)


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def reset_local() -> None:
    """Forget the in-process feeds (tests)."""
    with _local_lock:
        _local_streams.clear()


def _on_setting_changed(setting, **kwargs) -> None:
    if setting in ("CACHES", "CACHE_LAYER"):
        with _failed_lock:
            _failed_groups.clear()


setting_changed.connect(_on_setting_changed, dispatch_uid="cache_layer.feed.setting_changed")
