"""Statement-level NOTIFY triggers on the cached tables (PostgreSQL only; a no-op on other databases)."""

from pathlib import Path

from django.db import migrations

from cache_layer.operations import PostgresRunSQL

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0001_initial")]

    operations = [
        PostgresRunSQL(
            sql=(SQL_DIR / "notify_triggers.sql").read_text(),
            reverse_sql=(SQL_DIR / "drop_notify_triggers.sql").read_text(),
        ),
    ]
