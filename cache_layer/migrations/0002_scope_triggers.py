"""Query cache: triggers that name the production runs a statement on trackers wrote (PostgreSQL only)."""

from pathlib import Path

from django.db import migrations

from cache_layer.operations import PostgresRunSQL

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


class Migration(migrations.Migration):
    dependencies = [("cache_layer", "0001_notify_triggers")]

    operations = [
        PostgresRunSQL(
            sql=(SQL_DIR / "scope_triggers.sql").read_text(),
            reverse_sql=(SQL_DIR / "drop_scope_triggers.sql").read_text(),
        ),
    ]
