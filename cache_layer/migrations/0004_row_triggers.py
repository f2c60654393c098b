"""Changed-rows feed: triggers that name the trackers a statement wrote (PostgreSQL only)."""

from pathlib import Path

from django.db import migrations

from cache_layer.operations import PostgresRunSQL

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


class Migration(migrations.Migration):
    dependencies = [("cache_layer", "0003_history_scope_triggers")]

    operations = [
        PostgresRunSQL(
            sql=(SQL_DIR / "row_triggers.sql").read_text(),
            reverse_sql=(SQL_DIR / "drop_row_triggers.sql").read_text(),
        ),
    ]
