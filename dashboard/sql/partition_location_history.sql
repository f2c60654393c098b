-- location_history becomes a table partitioned by month of "timestamp" (PostgreSQL native
-- declarative partitioning), converted in place without losing a row. Run by migration 0005
-- in one transaction: readers and writers of location_history wait until it commits.
--
-- 1. Set the plain table aside under another name (its index-backed constraints and its
--    identity sequence too: their names are schema-wide).
-- 2. Create the partitioned table with the same columns and constraint names. The primary key
--    must contain the partition key: (id, "timestamp"). Django keeps `id` as the model's pk:
--    ids stay unique because one sequence hands them out.
-- 3. Monthly partitions for every month that holds rows, the current month and the next three,
--    and a DEFAULT partition so that no insert ever fails for lack of a partition.
-- 4. Copy every row, then build the indexes and check the foreign key once (cheaper than
--    maintaining them row by row), and refuse to commit if a row went missing.
-- 5. Recreate every trigger that lived on the plain table (cache_layer's scope triggers, and
--    any other) on the partitioned table, from their own definitions, then drop the old table.

LOCK TABLE location_history IN ACCESS EXCLUSIVE MODE;

ALTER TABLE location_history RENAME TO location_history_unpartitioned;
ALTER TABLE location_history_unpartitioned RENAME CONSTRAINT location_history_pkey TO location_history_unpartitioned_pkey;
ALTER TABLE location_history_unpartitioned
    RENAME CONSTRAINT location_history_one_per_instant TO location_history_unpartitioned_one_per_instant;
ALTER INDEX location_history_latest_idx RENAME TO location_history_unpartitioned_latest_idx;
ALTER SEQUENCE location_history_id_seq RENAME TO location_history_unpartitioned_id_seq;

-- Partitioned tables can't have identity columns before PostgreSQL 17: a sequence owned by the column.
CREATE SEQUENCE location_history_id_seq AS bigint;
CREATE TABLE location_history (
    id bigint NOT NULL DEFAULT nextval('location_history_id_seq'),
    "timestamp" timestamp with time zone NOT NULL,
    latitude double precision NOT NULL,
    longitude double precision NOT NULL,
    nearest_city varchar(200) NOT NULL,
    confidence double precision NULL,
    tracker_id bigint NOT NULL,
    CONSTRAINT location_history_latitude_range CHECK (latitude >= -90.0 AND latitude <= 90.0),
    CONSTRAINT location_history_longitude_range CHECK (longitude >= -180.0 AND longitude <= 180.0),
    CONSTRAINT location_history_confidence_range CHECK (confidence IS NULL OR (confidence >= 0.0 AND confidence <= 1.0))
) PARTITION BY RANGE ("timestamp");
ALTER SEQUENCE location_history_id_seq OWNED BY location_history.id;
SELECT setval('location_history_id_seq', last_value, is_called) FROM location_history_unpartitioned_id_seq;

-- One month's partition, named location_history_pYYYYMM, bounds in UTC. Called by this
-- migration and by `manage.py maintain_history`. A month whose rows already landed in the
-- DEFAULT partition (inserted before the month had its own) gets them moved in: PostgreSQL
-- refuses a new partition whose rows sit in the default one. Returns true when it created one.
CREATE OR REPLACE FUNCTION location_history_create_partition(month_start timestamptz) RETURNS boolean AS $$
DECLARE
    lower_bound timestamptz := date_trunc('month', month_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    upper_bound timestamptz := (date_trunc('month', month_start AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    partition_name text := 'location_history_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM');
    strays boolean;
BEGIN
    IF to_regclass(partition_name) IS NOT NULL THEN
        RETURN false;
    END IF;
    strays := false;
    IF to_regclass('location_history_default') IS NOT NULL THEN  -- not yet while this migration runs
        strays := EXISTS (
            SELECT 1 FROM location_history_default WHERE "timestamp" >= lower_bound AND "timestamp" < upper_bound
        );
    END IF;
    IF strays THEN
        ALTER TABLE location_history DETACH PARTITION location_history_default;
    END IF;
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF location_history FOR VALUES FROM (%L) TO (%L)',
        partition_name, lower_bound, upper_bound
    );
    IF strays THEN
        WITH moved AS (
            DELETE FROM location_history_default
            WHERE "timestamp" >= lower_bound AND "timestamp" < upper_bound RETURNING *
        )
        INSERT INTO location_history SELECT * FROM moved;
        ALTER TABLE location_history ATTACH PARTITION location_history_default DEFAULT;
    END IF;
    RETURN true;
END;
$$ LANGUAGE plpgsql SET TimeZone = 'UTC';

SELECT location_history_create_partition(month)
FROM (
    SELECT DISTINCT date_trunc('month', "timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month
    FROM location_history_unpartitioned
    UNION
    SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + make_interval(months => ahead)
    FROM generate_series(0, 3) AS ahead
) AS months;
CREATE TABLE location_history_default PARTITION OF location_history DEFAULT;

INSERT INTO location_history (id, "timestamp", latitude, longitude, nearest_city, confidence, tracker_id)
SELECT id, "timestamp", latitude, longitude, nearest_city, confidence, tracker_id FROM location_history_unpartitioned;

ALTER TABLE location_history ADD CONSTRAINT location_history_pkey PRIMARY KEY (id, "timestamp");
ALTER TABLE location_history ADD CONSTRAINT location_history_one_per_instant UNIQUE (tracker_id, "timestamp");
CREATE INDEX location_history_latest_idx ON location_history (tracker_id, "timestamp" DESC);
ALTER TABLE location_history ADD CONSTRAINT location_history_tracker_id_87aba29f_fk_trackers_id
    FOREIGN KEY (tracker_id) REFERENCES trackers (id) DEFERRABLE INITIALLY DEFERRED;

DO $$
DECLARE
    definition text;
BEGIN
    IF (SELECT count(*) FROM location_history) <> (SELECT count(*) FROM location_history_unpartitioned) THEN
        RAISE EXCEPTION 'location_history conversion lost rows';
    END IF;
    FOR definition IN
        SELECT pg_get_triggerdef(oid) FROM pg_trigger
        WHERE tgrelid = 'location_history_unpartitioned'::regclass AND NOT tgisinternal ORDER BY tgname
    LOOP
        EXECUTE regexp_replace(definition, ' ON (\S+\.)?location_history_unpartitioned ', ' ON location_history ');
    END LOOP;
END;
$$;

DROP TABLE location_history_unpartitioned;
ANALYZE location_history;
