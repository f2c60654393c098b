"""Migration operations of cache_layer."""

from django.db import migrations


class PostgresRunSQL(migrations.RunSQL):
    """RunSQL applied on PostgreSQL only (SQLite has neither NOTIFY nor a listener)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
