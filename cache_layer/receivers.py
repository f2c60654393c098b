"""Signal receivers: a model write to a watched table invalidates what it makes stale, after commit."""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps
from django.db.models.signals import post_delete, post_init, post_save

from cache_layer import invalidation, registry

_MISSING = object()
_connected: set[str] = set()


def connect_tables(tables: Iterable[str]) -> None:
    """Connect the receivers to the models of `tables` (`cache_layer.register` and `register_scope` do)."""
    for model in apps.get_models():
        table = model._meta.db_table
        if table in tables and table not in _connected:
            _connected.add(table)
            uid = f"cache_layer.{table}"
            post_init.connect(remember_watched_values, sender=model, dispatch_uid=f"{uid}.post_init")
            post_save.connect(invalidate_on_save, sender=model, dispatch_uid=f"{uid}.post_save")
            post_delete.connect(invalidate_on_delete, sender=model, dispatch_uid=f"{uid}.post_delete")


def _watched_attnames(model) -> list[str]:
    table = model._meta.db_table
    columns = set(registry.watched_columns(table) or ()) | {scope.column for scope in registry.scopes_of(table)}
    for rows in registry.rows_of(table):
        columns |= {rows.column, *(rows.columns or ())}
    return [f.attname for f in model._meta.concrete_fields if f.column in columns]


def remember_watched_values(sender, instance, **kwargs) -> None:
    # Only the columns a dependency watches (trackers.production_run_id): so that a save can
    # tell "moved to another run" from the constant stream of ingest updates.
    instance._cache_layer_loaded = {a: instance.__dict__.get(a, _MISSING) for a in _watched_attnames(sender)}


def invalidate_on_save(sender, instance, created, raw=False, using=None, update_fields=None, **kwargs) -> None:
    table = sender._meta.db_table
    columns = None if created else _changed_columns(sender, instance, update_fields)
    invalidation.table_changed(table, columns, using=using)
    before = getattr(instance, "_cache_layer_loaded", {})
    scopes_changed(sender, [instance], using=using, before=before)
    rows_changed(sender, [instance], columns, using=using, before=before)
    remember_watched_values(sender, instance)


def invalidate_on_delete(sender, instance, using=None, **kwargs) -> None:
    invalidation.table_changed(sender._meta.db_table, None, using=using)
    scopes_changed(sender, [instance], using=using)
    rows_changed(sender, [instance], None, using=using)


def rows_changed(model, instances, columns, *, using, before=None) -> None:
    """The changed-rows feed's rows of these instances (now, and as loaded) go out after commit."""
    for rows in registry.rows_of(model._meta.db_table):
        if not rows.affected_by(columns):
            continue
        attname = rows.attname(model)
        values = {getattr(instance, attname, None) for instance in instances}
        if before is not None and before.get(attname, _MISSING) is not _MISSING:
            values.add(before[attname])
        invalidation.row_values_changed(rows, values, using=using)


def scopes_changed(model, instances, *, using, before=None) -> None:
    """The query-cache scopes of these rows (now, and as loaded: a row moved between scopes
    changes both) move after commit."""
    for scope in registry.scopes_of(model._meta.db_table):
        attname = scope.attname(model)
        ids = {getattr(instance, attname, None) for instance in instances}
        if before is not None and before.get(attname, _MISSING) is not _MISSING:
            ids.add(before[attname])
        ids.discard(None)
        invalidation.scope_ids_changed(scope, ids, using=using)


def _changed_columns(model, instance, update_fields) -> set[str]:
    """Watched columns this save changed (a watched value not known at load counts as changed)."""
    loaded = getattr(instance, "_cache_layer_loaded", {})
    changed = set()
    for field in model._meta.concrete_fields:
        # update_fields may name the field or its column attribute ("production_run_id").
        saved = update_fields is None or field.name in update_fields or field.attname in update_fields
        if field.attname not in loaded or not saved:
            continue
        before = loaded[field.attname]
        if before is _MISSING or before != instance.__dict__.get(field.attname):
            changed.add(field.column)
    return changed  # tables cached for themselves are invalidated whatever the columns
