import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.django_db
def test_models_and_migrations_agree():
    # Exits non-zero (SystemExit) if a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_migrations_apply_backwards_and_forwards():
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    call_command("migrate", "dashboard", "zero", verbosity=0)
    assert "trackers" not in connection.introspection.table_names()
    call_command("migrate", verbosity=0)
    assert {"trackers", "location_history", "user_profiles"} <= set(connection.introspection.table_names())


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_latest_location_index_exists_on_postgres():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'location_history_latest_idx'")
        (indexdef,) = cursor.fetchone()
    assert '(tracker_id, "timestamp" DESC)' in indexdef


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("table", ["trackers", "production_runs", "location_history"])
def test_no_two_indexes_cover_the_same_columns(table):
    # A duplicate index only costs writes (ingest updates every reporting tracker's row).
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        columns = [indexdef.split(" USING btree ")[1] for (indexdef,) in cursor.fetchall()]
    assert len(columns) == len(set(columns)), columns
