-- The event store: eventsourcing's PostgreSQL layout (its PostgresApplicationRecorder's events table, with
-- `notification_id bigserial` and its unique index, the composite type `stored_event_uuid` and the function
-- `es_insert_events_uuid`; its PostgresAggregateRecorder's snapshots table), so that eventsourcing's own
-- recorders read and write the same tables (tests/integration/test_store_compat.py). Ours besides: the
-- command records of store/idempotency.py and the batch writer `forlop_save_forlop_events` of
-- store/recorder.py (one call per group-commit batch).
--
-- Migrations 0001-0007 are the baseline: every object is created IF NOT EXISTS (or OR REPLACE), so that
-- they also adopt a database that the code before migrations set up at run time.

DO $$
BEGIN
    -- CREATE TYPE has no IF NOT EXISTS.
    IF NOT EXISTS (SELECT FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE t.typname = 'stored_event_uuid' AND n.nspname = 'public') THEN
        CREATE TYPE "public".stored_event_uuid AS
            (originator_id uuid, originator_version bigint, topic text, state bytea);
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS "public"."forlop_events" (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version)
) WITH (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000,
        autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000,
        autovacuum_analyze_scale_factor = 0.01);

CREATE UNIQUE INDEX IF NOT EXISTS "forlop_events_notification_id_idx"
    ON "public"."forlop_events" (notification_id ASC);

-- eventsourcing's insert function (its recorder uses it when enable_db_functions is set), lock_timeout 0.
CREATE OR REPLACE FUNCTION "public".es_insert_events_uuid(events "public".stored_event_uuid[])
RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$
BEGIN
    SET LOCAL lock_timeout = '0s';
    NOTIFY "forlop_events";
    RETURN QUERY
    INSERT INTO "public"."forlop_events" AS t (originator_id, originator_version, topic, state)
    SELECT originator_id, originator_version, topic, state FROM unnest(events)
    RETURNING notification_id;
END;
$BODY$;

CREATE TABLE IF NOT EXISTS "public"."forlop_snapshots" (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    PRIMARY KEY (originator_id, originator_version)
) WITH (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000,
        autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000,
        autovacuum_analyze_scale_factor = 0.01);

-- Idempotent commands (LOP-12): a command id is stored in the same transaction as its events.
CREATE TABLE IF NOT EXISTS "public"."forlop_kommandoer" (
    command_id text PRIMARY KEY,
    fingerprint text NOT NULL,
    svar bytea NOT NULL,
    registrert timestamptz NOT NULL DEFAULT now()
);

-- The batch writer: one call per batch, in autocommit (the call is its own transaction). Parameters: heads
-- ($1-$4: request no, aggregate id, first new version, hex link of the version before it), commands
-- ($5-$8), events ($9-$13), $14 the lock timeout. The EXCLUSIVE lock is taken before any notification id is
-- drawn and held to the end of the calling statement's transaction, as in eventsourcing's protocol; all
-- CTEs see the same snapshot, taken under that lock, so the checks cannot be overtaken by another writer.
-- The plan is generic (cached per session): replanning it per call would cost more than executing it.
CREATE OR REPLACE FUNCTION "public"."forlop_save_forlop_events"(
    int[], uuid[], bigint[], bytea[], int[], text[], text[], bytea[], int[], uuid[], bigint[], text[], bytea[], text)
RETURNS TABLE (kind int, save_no int, originator_id uuid, notification_id bigint,
               command_id text, fingerprint text, svar bytea, registrert timestamptz)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $FUNCTION$
#variable_conflict use_column
BEGIN
    PERFORM set_config('lock_timeout', $14, true);
    LOCK TABLE "public"."forlop_events" IN EXCLUSIVE MODE;
    NOTIFY "forlop_events";
    IF cardinality($6) = 0 THEN  -- no command ids in the batch: the lighter statement
        RETURN QUERY
        WITH heads AS (
            SELECT * FROM unnest($1::int[], $2::uuid[], $3::bigint[], $4::bytea[]) AS h(save_no, id, v0, prev)
        ), conflicts AS (
            SELECT h.save_no FROM heads h
            WHERE EXISTS (SELECT FROM "public"."forlop_events" e
                          WHERE e.originator_id = h.id AND e.originator_version >= h.v0)
               OR (h.v0 > 1 AND NOT EXISTS (
                   SELECT FROM "public"."forlop_events" e
                   WHERE e.originator_id = h.id AND e.originator_version = h.v0 - 1
                     AND (h.prev IS NULL OR substring(e.state FROM 11 FOR 64) = h.prev)))
        ), inserted AS (
            INSERT INTO "public"."forlop_events" (originator_id, originator_version, topic, state)
            SELECT n.id, n.v, n.topic, n.state
            FROM unnest($9::int[], $10::uuid[], $11::bigint[], $12::text[], $13::bytea[])
                 WITH ORDINALITY AS n(save_no, id, v, topic, state, i)
            WHERE n.save_no NOT IN (SELECT save_no FROM conflicts)
            ORDER BY n.i
            RETURNING originator_id, notification_id
        )
        SELECT 0 AS kind, NULL::int AS save_no, originator_id, notification_id,
               NULL::text AS command_id, NULL::text AS fingerprint, NULL::bytea AS svar,
               NULL::timestamptz AS registrert
        FROM inserted
        UNION ALL SELECT 1, save_no, NULL, NULL, NULL, NULL, NULL, NULL FROM conflicts;
    ELSE
        RETURN QUERY
        WITH heads AS (
            SELECT * FROM unnest($1::int[], $2::uuid[], $3::bigint[], $4::bytea[]) AS h(save_no, id, v0, prev)
        ), cmds AS (
            SELECT * FROM unnest($5::int[], $6::text[], $7::text[], $8::bytea[])
                AS c(save_no, command_id, fingerprint, svar)
        ), conflicts AS (
            SELECT h.save_no FROM heads h
            WHERE EXISTS (SELECT FROM "public"."forlop_events" e
                          WHERE e.originator_id = h.id AND e.originator_version >= h.v0)
               OR (h.v0 > 1 AND NOT EXISTS (
                   SELECT FROM "public"."forlop_events" e
                   WHERE e.originator_id = h.id AND e.originator_version = h.v0 - 1
                     AND (h.prev IS NULL OR substring(e.state FROM 11 FOR 64) = h.prev)))
        ), duplicates AS (
            SELECT c.save_no, k.command_id, k.fingerprint, k.svar, k.registrert
            FROM cmds c JOIN "public"."forlop_kommandoer" k ON k.command_id = c.command_id
        ), rejected AS (
            SELECT save_no FROM conflicts UNION ALL SELECT save_no FROM duplicates
        ), inserted AS (
            INSERT INTO "public"."forlop_events" (originator_id, originator_version, topic, state)
            SELECT n.id, n.v, n.topic, n.state
            FROM unnest($9::int[], $10::uuid[], $11::bigint[], $12::text[], $13::bytea[])
                 WITH ORDINALITY AS n(save_no, id, v, topic, state, i)
            WHERE n.save_no NOT IN (SELECT save_no FROM rejected)
            ORDER BY n.i
            RETURNING originator_id, notification_id
        ), recorded AS (
            INSERT INTO "public"."forlop_kommandoer" (command_id, fingerprint, svar)
            SELECT c.command_id, c.fingerprint, c.svar FROM cmds c
            WHERE c.save_no NOT IN (SELECT save_no FROM rejected)
        )
        SELECT 0 AS kind, NULL::int AS save_no, originator_id, notification_id,
               NULL::text AS command_id, NULL::text AS fingerprint, NULL::bytea AS svar,
               NULL::timestamptz AS registrert
        FROM inserted
        UNION ALL SELECT 1, save_no, NULL, NULL, NULL, NULL, NULL, NULL FROM conflicts
        UNION ALL SELECT 2, save_no, NULL, NULL, command_id, fingerprint, svar, registrert FROM duplicates;
    END IF;
END;
$FUNCTION$;
