"""TrackerLatestLocation: each tracker's newest report, kept by triggers on location_history and
filled from the existing history (one index probe per tracker).

Rollback: `manage.py migrate dashboard 0003` drops the triggers, then the table.
"""

from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

from cache_layer.operations import VendorRunSQL

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0003_drop_duplicate_fk_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="TrackerLatestLocation",
            fields=[
                (
                    "tracker",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="latest",
                        serialize=False,
                        to="dashboard.tracker",
                    ),
                ),
                ("history_id", models.BigIntegerField()),
                ("timestamp", models.DateTimeField()),
                ("latitude", models.FloatField()),
                ("longitude", models.FloatField()),
                ("nearest_city", models.CharField(blank=True, max_length=200)),
                ("confidence", models.FloatField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "latest location",
                "db_table": "tracker_latest_locations",
            },
        ),
        # Triggers first: CREATE TRIGGER holds writers of location_history off until commit, so
        # the fill below sees every report and no report is missed in between.
        VendorRunSQL(
            vendor="postgresql",
            sql=sql("latest_location_triggers.sql"),
            reverse_sql=sql("drop_latest_location_triggers.sql"),
        ),
        VendorRunSQL(
            vendor="sqlite",
            sql=sql("latest_location_triggers_sqlite.sql"),
            reverse_sql=sql("drop_latest_location_triggers_sqlite.sql"),
        ),
        migrations.RunSQL(sql=sql("latest_location_fill.sql"), reverse_sql=migrations.RunSQL.noop),
    ]
