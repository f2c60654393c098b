"""A cache-aware QuerySet: Django's bulk paths (update, bulk_create, bulk_update, delete) invalidate after commit.

Signals never see `QuerySet.update()` or `bulk_create()`/`bulk_update()`; this QuerySet
tells the invalidation the table and the columns written (reference cache) and the scopes of
the rows written (query cache), so read-your-writes holds in the writing process at once (on
SQLite too), without waiting for the PostgreSQL listener.
"""

from __future__ import annotations

from django.db import models

from cache_layer import invalidation, query, registry


class CacheAwareQuerySet(models.QuerySet):
    _declared_scopes: dict[str, set] | None = None
    _declared_rows: frozenset[str] = frozenset()

    def declare_scopes(self, group: str, ids) -> CacheAwareQuerySet:
        """The caller vouches that the rows this write touches lie in these scopes of `group`
        (and invalidates them itself, e.g. with `cache_layer.scopes_changed`): the write then
        skips the query that would find them."""
        clone = self._chain()
        clone._declared_scopes = {**(self._declared_scopes or {}), group: set(ids)}
        return clone

    def declare_rows(self, *groups: str) -> CacheAwareQuerySet:
        """The caller reports the changed rows of these feed groups itself (`cache_layer.rows_changed`):
        the write then skips the query that would find them."""
        clone = self._chain()
        clone._declared_rows = self._declared_rows | set(groups)
        return clone

    def _clone(self):
        clone = super()._clone()
        clone._declared_scopes = self._declared_scopes
        clone._declared_rows = self._declared_rows
        return clone

    def _rows(self, columns=None) -> list[registry.Rows]:
        return [
            rows
            for rows in registry.rows_of(self.model._meta.db_table)
            if rows.group not in self._declared_rows and rows.affected_by(columns)
        ]

    def _row_values(self, rows: registry.Rows, queryset=None) -> set:
        """The feed column's values of the rows this write touches (one query, before the write)."""
        queryset = self if queryset is None else queryset
        return set(queryset.order_by().values_list(rows.attname(self.model), flat=True).distinct())

    def _changed(self, columns=None) -> None:
        invalidation.table_changed(self.model._meta.db_table, columns, using=self.db)

    def _columns(self, names) -> set[str]:
        return {self.model._meta.get_field(name).column for name in names}

    def _scopes(self) -> list[registry.Scope]:
        return registry.scopes_of(self.model._meta.db_table)

    def _scope_values(self, scope: registry.Scope, queryset=None) -> set:
        """The scope column's values of the rows this write touches (one query, before the write)."""
        if self._declared_scopes is not None and scope.group in self._declared_scopes:
            return set()  # the caller invalidates them
        queryset = self if queryset is None else queryset
        return set(queryset.order_by().values_list(scope.attname(self.model), flat=True).distinct())

    def _scopes_changed(self, scope: registry.Scope, values: set) -> None:
        invalidation.scope_ids_changed(scope, values, using=self.db)

    def update(self, **kwargs):
        before = {scope: self._scope_values(scope) for scope in self._scopes()}
        feed_before = {feed: self._row_values(feed) for feed in self._rows(self._columns(kwargs))}
        rows = super().update(**kwargs)
        if rows:
            columns = self._columns(kwargs)
            for feed, values in feed_before.items():
                if feed.column in columns:  # rows moved to other values: the new ones are unknown here
                    values = values | self._new_values(feed.column, kwargs)
                invalidation.row_values_changed(feed, values, using=self.db)
            self._changed(columns)
            for scope, values in before.items():
                if scope.column in columns:
                    new = next(v for k, v in kwargs.items() if self.model._meta.get_field(k).column == scope.column)
                    new = getattr(new, "pk", new)
                    if isinstance(new, int | str) or new is None:
                        values = values | {new}
                    else:  # an expression: the new scopes are unknown
                        invalidation.scopes_changed(query.ALL[0], [query.ALL[1]], using=self.db)
                self._scopes_changed(scope, values - {None})
        return rows

    update.alters_data = True

    def _new_values(self, column: str, kwargs: dict) -> set:
        new = next(v for k, v in kwargs.items() if self.model._meta.get_field(k).column == column)
        new = getattr(new, "pk", new)
        return {new} if isinstance(new, int | str) else set()

    def bulk_create(self, objs, *args, **kwargs):
        created = super().bulk_create(objs, *args, **kwargs)
        if created:
            self._changed()
            for scope in self._scopes():
                if self._declared_scopes is not None and scope.group in self._declared_scopes:
                    continue  # the caller invalidates them
                attname = scope.attname(self.model)
                self._scopes_changed(scope, {getattr(obj, attname) for obj in created} - {None})
            for feed in self._rows():
                attname = feed.attname(self.model)
                invalidation.row_values_changed(feed, {getattr(obj, attname) for obj in created}, using=self.db)
        return created

    def bulk_update(self, objs, fields, *args, **kwargs):
        objs = list(objs)
        columns = self._columns(fields)
        before = {
            scope: self._scope_values(scope, self.model._base_manager.filter(pk__in=[o.pk for o in objs]))
            for scope in self._scopes()
            if scope.column in columns
        }
        feed_before = {
            feed: self._row_values(feed, self.model._base_manager.filter(pk__in=[o.pk for o in objs]))
            for feed in self._rows(columns)
            if feed.column in columns
        }
        rows = super().bulk_update(objs, fields, *args, **kwargs)
        if rows:
            self._changed(columns)
            for feed in self._rows(columns):
                attname = feed.attname(self.model)
                values = {getattr(obj, attname) for obj in objs} | feed_before.get(feed, set())
                invalidation.row_values_changed(feed, values, using=self.db)
            for scope in self._scopes():
                attname = scope.attname(self.model)
                values = {getattr(obj, attname) for obj in objs} | before.get(scope, set())
                self._scopes_changed(scope, values - {None})
        return rows

    bulk_update.alters_data = True

    def delete(self):
        before = {scope: self._scope_values(scope) for scope in self._scopes()}
        feed_before = {feed: self._row_values(feed) for feed in self._rows()}
        deleted = super().delete()
        if deleted[0]:
            self._changed()
            for scope, values in before.items():
                self._scopes_changed(scope, values - {None})
            for feed, values in feed_before.items():
                invalidation.row_values_changed(feed, values, using=self.db)
        return deleted

    delete.alters_data = True


CacheAwareManager = models.Manager.from_queryset(CacheAwareQuerySet)
