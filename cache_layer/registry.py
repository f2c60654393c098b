"""The registry of cached tables: name → loader, the database tables it reads, and its dependencies."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Loader = Callable[[], Any]


@dataclass(frozen=True)
class Cached:
    name: str
    loader: Loader
    # Database tables whose every change makes the cached rows stale.
    tables: frozenset[str]
    # Other database tables whose changes matter only through the named columns (an empty set
    # means any change): `{"trackers": {"production_run_id"}}` for a tracker count per run.
    depends_on: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def affected_by(self, table: str, columns: Iterable[str] | None) -> bool:
        """Whether a change of `table` (None = any column, or rows inserted/deleted) can change the rows."""
        if table in self.tables:
            return True
        if table not in self.depends_on:
            return False
        watched = self.depends_on[table]
        return not watched or columns is None or bool(watched & set(columns))


_registry: dict[str, Cached] = {}


@dataclass(frozen=True)
class Scope:
    """Query-cache freshness unit: rows of `table` belong to the scope `group` named by `column`
    (trackers.production_run_id → "production_run"); `resolve` maps the column's values to scope
    ids when they differ (location_history.tracker_id → production runs)."""

    group: str
    table: str
    column: str
    resolve: Callable[[set], set] | None = None

    def attname(self, model) -> str:
        """The attribute of `model` (a Django model of `table`) that holds `column`."""
        return column_attname(model, self.column)


_scopes: dict[str, list[Scope]] = {}


@dataclass(frozen=True)
class Rows:
    """Changed-rows feed: a write to `table` changes the rows of `group` named by `column`
    (location_history.tracker_id → "tracker"); `columns` restricts it to writes of those columns
    (None = any write); `resolve` maps the column's values to row ids when they differ (a
    production run moved to another brand → its trackers)."""

    group: str
    table: str
    column: str
    columns: frozenset[str] | None = None
    resolve: Callable[[set], set] | None = None

    def affected_by(self, columns: Iterable[str] | None) -> bool:
        return self.columns is None or columns is None or bool(self.columns & set(columns))

    def attname(self, model) -> str:
        return column_attname(model, self.column)


def column_attname(model, column: str) -> str:
    return next(f.attname for f in model._meta.concrete_fields if f.column == column)


_rows: dict[str, list[Rows]] = {}


def register(
    name: str,
    loader: Loader,
    *,
    tables: Iterable[str] | None = None,
    depends_on: Mapping[str, Iterable[str]] | Iterable[str] | None = None,
) -> Cached:
    """Record a cached table. `tables` defaults to `[name]`; `depends_on` maps table → columns.
    (`cache_layer.register` also connects the receivers of the tables it reads.)"""
    if isinstance(depends_on, Mapping):
        deps = {table: frozenset(columns) for table, columns in depends_on.items()}
    else:
        deps = {table: frozenset() for table in depends_on or ()}
    entry = Cached(name=name, loader=loader, tables=frozenset(tables or [name]), depends_on=deps)
    _registry[name] = entry
    return entry


def register_scope(group: str, *, table: str, column: str, resolve: Callable[[set], set] | None = None) -> Scope:
    """Record that writes to `table` change the query-cache scope `group` named by `column`.
    (`cache_layer.register_scope` also connects the receivers of `table`.)"""
    scope = Scope(group=group, table=table, column=column, resolve=resolve)
    _scopes[table] = [s for s in _scopes.get(table, []) if s.group != group] + [scope]
    return scope


def register_rows(
    group: str,
    *,
    table: str,
    column: str,
    columns: Iterable[str] | None = None,
    resolve: Callable[[set], set] | None = None,
) -> Rows:
    """Declare that writes to `table` change the rows of `group` named by `column`: after commit they
    are appended to the changed-rows feed (`cache_layer.feed`), whatever the write path."""
    watched = None if columns is None else frozenset(columns)
    rows = Rows(group=group, table=table, column=column, columns=watched, resolve=resolve)
    _rows[table] = [r for r in _rows.get(table, []) if r.group != group] + [rows]
    return rows


def rows_of(table: str) -> list[Rows]:
    return _rows.get(table, [])


def row_groups() -> set[str]:
    return {rows.group for entries in _rows.values() for rows in entries}


def scopes_of(table: str) -> list[Scope]:
    return _scopes.get(table, [])


def unregister(name: str) -> None:
    _registry.pop(name, None)


def get(name: str) -> Cached:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"cache_layer: no cached table named {name!r} is registered") from None


def names() -> list[str]:
    return list(_registry)


def affected(table: str, columns: Iterable[str] | None = None) -> list[str]:
    """Names of the cached tables that a change of `table` (restricted to `columns`) makes stale."""
    cols = None if columns is None else frozenset(columns)
    return [name for name, entry in _registry.items() if entry.affected_by(table, cols)]


def watched_columns(table: str) -> frozenset[str] | None:
    """Columns of `table` whose change matters to the reference cache, or None when any change does."""
    columns: set[str] = set()
    for entry in _registry.values():
        if table in entry.tables:
            return None
        if table in entry.depends_on:
            if not entry.depends_on[table]:
                return None
            columns |= entry.depends_on[table]
    return frozenset(columns)


