"""A cache-aware QuerySet: Django's bulk paths (update, bulk_create, bulk_update, delete) invalidate after commit.

Signals never see `QuerySet.update()` or `bulk_create()`/`bulk_update()`; this QuerySet
tells the invalidation the table and the columns written, so read-your-writes holds in the
writing process at once (on SQLite too), without waiting for the PostgreSQL listener.
"""

from __future__ import annotations

from django.db import models

from cache_layer import invalidation


class CacheAwareQuerySet(models.QuerySet):
    def _changed(self, columns=None) -> None:
        invalidation.table_changed(self.model._meta.db_table, columns, using=self.db)

    def _columns(self, names) -> set[str]:
        return {self.model._meta.get_field(name).column for name in names}

    def update(self, **kwargs):
        rows = super().update(**kwargs)
        if rows:
            self._changed(self._columns(kwargs))
        return rows

    update.alters_data = True

    def bulk_create(self, objs, *args, **kwargs):
        created = super().bulk_create(objs, *args, **kwargs)
        if created:
            self._changed()
        return created

    def bulk_update(self, objs, fields, *args, **kwargs):
        rows = super().bulk_update(objs, fields, *args, **kwargs)
        if rows:
            self._changed(self._columns(fields))
        return rows

    bulk_update.alters_data = True

    def delete(self):
        deleted = super().delete()
        if deleted[0]:
            self._changed()
        return deleted

    delete.alters_data = True


CacheAwareManager = models.Manager.from_queryset(CacheAwareQuerySet)
