"""The monthly partitions of location_history on PostgreSQL: list, create ahead, drop past retention.

Partitions are named location_history_pYYYYMM and hold [first of the month, first of the next)
in UTC; location_history_default catches any row no month holds yet
(dashboard/sql/partition_location_history.sql, which also defines the SQL function that creates one).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import OperationalError, connection, transaction

logger = logging.getLogger(__name__)

TABLE = "location_history"
DEFAULT_PARTITION = "location_history_default"
_MONTHLY = re.compile(r"^location_history_p(\d{4})(\d{2})$")

# Creating or dropping a partition takes an ACCESS EXCLUSIVE lock on location_history, and
# every reader that arrives while the DDL waits for it queues behind it: the DDL gives up after
# LOCK_TIMEOUT (so no reader waits longer) and tries again a little later.
LOCK_TIMEOUT = "50ms"
LOCK_ATTEMPTS = 20
LOCK_RETRY_PAUSE = 0.2  # seconds, times the attempt number
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime  # inclusive
    end: datetime  # exclusive


def month_start(instant: datetime) -> datetime:
    instant = instant.astimezone(UTC)
    return datetime(instant.year, instant.month, 1, tzinfo=UTC)


def add_months(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"location_history_p{month_start(month):%Y%m}"


def is_partitioned() -> bool:
    """True when location_history is a partitioned table (PostgreSQL after migration 0005)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def monthly_partitions() -> list[Partition]:
    """The monthly partitions that exist, oldest first (the default partition is not one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        names = [name for (name,) in cursor.fetchall()]
    partitions = []
    for name in names:
        match = _MONTHLY.match(name)
        if match:
            start = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
            partitions.append(Partition(name=name, start=start, end=add_months(start, 1)))
    return sorted(partitions, key=lambda partition: partition.start)


def partition_create(month: datetime) -> bool:
    """Create the partition of `month` unless it exists (rows of that month waiting in the default
    partition move into it); True when it was created."""
    (created,) = _ddl("SELECT location_history_create_partition(%s)", [month_start(month)])
    return bool(created)


def partition_drop(partition: Partition) -> None:
    # A DROP, not a DELETE: no dead rows, no vacuum, and it takes milliseconds whatever its size.
    # PostgreSQL refuses it while rows written earlier in the same transaction wait for their
    # deferred foreign-key check: those run first (none in the command's own transactions).
    _ddl(f'SET CONSTRAINTS ALL IMMEDIATE; DROP TABLE "{partition.name}"')


def default_partition_prune(*, before: datetime) -> int:
    """Delete the default partition's rows older than `before` (it holds only strays: rows of
    months that had no partition), except a tracker's latest report (its latest-location row
    would fall back to an older one, or go); returns how many."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{DEFAULT_PARTITION}" WHERE "timestamp" < %s'
            " AND id NOT IN (SELECT history_id FROM tracker_latest_locations)",
            [before],
        )
        return cursor.rowcount


def oldest_timestamp() -> datetime | None:
    """The oldest report kept: one probe per tracker of the (tracker, timestamp) index, oldest
    partition first (a full min() would read every row of the oldest month)."""
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT min(first."timestamp") FROM trackers t CROSS JOIN LATERAL ('
            '  SELECT h."timestamp" FROM location_history h WHERE h.tracker_id = t.id'
            '  ORDER BY h."timestamp" LIMIT 1'
            ") first"
        )
        return cursor.fetchone()[0]


def partitions_read(statement: str) -> set[str]:
    """The location_history partitions PostgreSQL's plan of `statement` reads (after pruning)."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement)
        plan = cursor.fetchone()[0]
    found, nodes = set(), [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        if node.get("Relation Name", "").startswith(TABLE):
            found.add(node["Relation Name"])
        nodes.extend(node.get("Plans", []))
    return found


def _ddl(sql: str, params: list | None = None) -> tuple | None:
    """Run one statement in its own transaction under LOCK_TIMEOUT, retrying while the lock is busy."""
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
                cursor.execute(sql, params)
                return cursor.fetchone() if cursor.description else None
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE or attempt == LOCK_ATTEMPTS:
                raise
            logger.info("location_history busy (attempt %d of %d): %s", attempt, LOCK_ATTEMPTS, sql)
            time.sleep(LOCK_RETRY_PAUSE * attempt)
    return None  # not reached
