"""Migration operations of cache_layer."""

from django.db import migrations


class VendorRunSQL(migrations.RunSQL):
    """RunSQL applied on one database vendor only (`"postgresql"`, `"sqlite"`), skipped on the others."""

    def __init__(self, *args, vendor: str, **kwargs):
        self.vendor = vendor
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, args, kwargs = super().deconstruct()
        kwargs["vendor"] = self.vendor
        return name, args, kwargs

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class PostgresRunSQL(VendorRunSQL):
    """RunSQL applied on PostgreSQL only (SQLite has neither NOTIFY nor a listener)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, vendor="postgresql", **kwargs)

    def deconstruct(self):
        name, args, kwargs = super().deconstruct()
        kwargs.pop("vendor")
        return name, args, kwargs
