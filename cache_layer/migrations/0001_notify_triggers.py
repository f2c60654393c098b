"""Statement-level NOTIFY triggers on the cached tables (PostgreSQL only; a no-op on other databases)."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


class PostgresRunSQL(migrations.RunSQL):
    """RunSQL applied on PostgreSQL only (SQLite has neither NOTIFY nor a listener)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0001_initial")]

    operations = [
        PostgresRunSQL(
            sql=(SQL_DIR / "notify_triggers.sql").read_text(),
            reverse_sql=(SQL_DIR / "drop_notify_triggers.sql").read_text(),
        ),
    ]
