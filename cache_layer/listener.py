"""The PostgreSQL listener: LISTENs for the triggers' notifications and invalidates what they name.

Runs on its own autocommit connection (never idle in a transaction, which would block the
NOTIFY queue). After any (re)connect it LISTENs first and then invalidates every registered
table: PostgreSQL keeps nothing for a listener that was away.
"""

from __future__ import annotations

import logging
import time

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import sql

from cache_layer import conf, feed, invalidation, query, registry, store

logger = logging.getLogger("cache_layer.listener")

_CONNECT_PARAMS = ("dbname", "user", "password", "host", "port", "connect_timeout", "sslmode")


def heartbeat_key() -> str:
    return store.key("listener", "heartbeat")


class Listener:
    def __init__(self, *, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self.channel = conf.get("CHANNEL")
        self.connection: psycopg.Connection | None = None
        self.stopping = False
        self.reconnects = 0  # connects after the first one
        self.connects = 0
        self.last_ping = 0.0

    def connect(self) -> None:
        """Connect, LISTEN, then invalidate everything (whatever was sent while away is lost)."""
        params = connections[self.using].get_connection_params()
        kwargs = {k: params[k] for k in _CONNECT_PARAMS if params.get(k) not in (None, "")}
        self.connection = psycopg.connect(**kwargs, autocommit=True)
        self.connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        if self.connects:
            self.reconnects += 1
        self.connects += 1
        self.last_ping = time.monotonic()
        logger.info(
            "listening on %r (connect #%d); invalidating every cached table", self.channel, self.connects,
            extra={"event": "listener_connected", "connects": self.connects},
        )
        invalidation.invalidate_all()
        for group in registry.row_groups():  # the live readers resync: changes may have been missed
            feed.append(group, None)

    def backend_pid(self) -> int | None:
        return self.connection.info.backend_pid if self.connection is not None else None

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except psycopg.Error:
                pass
            self.connection = None

    def run_once(self, timeout: float = 0.5) -> set[str]:
        """One iteration: (re)connect if needed, handle what arrives within `timeout` seconds,
        ping the connection now and then, record the heartbeat. Returns the tables notified."""
        notified: set[str] = set()
        try:
            if self.connection is None or self.connection.closed:
                self.close()
                self.connect()
            for notify in self.connection.notifies(timeout=timeout):
                notified.add(notify.payload)
                handle(notify.payload)
            if time.monotonic() - self.last_ping >= conf.get("LISTENER_PING_SECONDS"):
                self.connection.execute("SELECT 1")
                self.last_ping = time.monotonic()
        except psycopg.Error as error:
            logger.warning(
                "listener connection lost (%s); reconnecting", error, extra={"event": "listener_reconnecting"}
            )
            self.close()
            time.sleep(min(timeout, 1.0))
            return notified
        self.heartbeat()
        return notified

    def heartbeat(self) -> None:
        try:
            store.set(heartbeat_key(), time.time(), timeout=None)  # also retries a failed backend
        except store.CacheUnavailable:
            pass

    def run(self, timeout: float = 0.5) -> None:
        while not self.stopping:
            self.run_once(timeout)
        self.close()


def last_heartbeat() -> float | None:
    """Wall-clock time of the listener's last heartbeat (health only; never used for freshness)."""
    value = store.get(heartbeat_key())
    return float(value) if value is not None else None


def handle(payload: str) -> None:
    """'<table>' → the reference tables it makes stale; 'scope:<group>:<id>,<id>|*' → query-cache scopes;
    'rows:<group>:<id>,<id>|*' → an entry of the changed-rows feed."""
    if payload.startswith("rows:"):
        _, group, ids = payload.split(":", 2)
        feed.append(group, None if ids == "*" else {int(i) for i in ids.split(",") if i})
        return
    if not payload.startswith("scope:"):
        invalidation.table_changed(payload)
        return
    _, group, ids = payload.split(":", 2)
    if ids == "*":
        query.invalidate_all()
    else:
        query.bump((group, int(i)) for i in ids.split(",") if i)
