"""location_history partitioned by month of `timestamp` (PostgreSQL only; SQLite keeps a plain table).

The model is unchanged: Django keeps `id` as its primary key while the table's is (id, timestamp),
as PostgreSQL requires the partition key in every unique constraint. Reversible (`migrate dashboard 0004`): the reverse
copies every row back into one plain table. Both directions hold an ACCESS EXCLUSIVE lock on
location_history for the copy (README: Operations, "Partitioned history and retention").
"""

from pathlib import Path

from django.db import migrations

from cache_layer.operations import PostgresRunSQL

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


class Migration(migrations.Migration):
    dependencies = [
        # The triggers on location_history (the latest-location table's, cache_layer's) must exist
        # to be recreated on the partitioned table.
        ("dashboard", "0004_tracker_latest_location"),
        ("cache_layer", "0003_history_scope_triggers"),
    ]

    operations = [
        PostgresRunSQL(
            sql=(SQL_DIR / "partition_location_history.sql").read_text(),
            reverse_sql=(SQL_DIR / "unpartition_location_history.sql").read_text(),
        ),
    ]
