"""location_history partitioned by month of `timestamp` (PostgreSQL only; SQLite keeps a plain table).

The model is unchanged: Django keeps `id` as its primary key while the table's is (id, timestamp),
as PostgreSQL requires the partition key in every unique constraint. Reversible: the reverse
copies every row back into one plain table. Both directions hold an ACCESS EXCLUSIVE lock on
location_history for the copy (docs: "Operations: partitioned history").
"""

from pathlib import Path

from django.db import migrations

from cache_layer.operations import PostgresRunSQL

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0003_drop_duplicate_fk_indexes"),
        # Its triggers on location_history must exist to be recreated on the partitioned table.
        ("cache_layer", "0003_history_scope_triggers"),
    ]

    operations = [
        PostgresRunSQL(
            sql=(SQL_DIR / "partition_location_history.sql").read_text(),
            reverse_sql=(SQL_DIR / "unpartition_location_history.sql").read_text(),
        ),
    ]
