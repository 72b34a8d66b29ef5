-- The signed checkpoints of the whole log (store/verification.py): append-only, one row per checkpoint; a
-- trigger refuses UPDATE, DELETE and TRUNCATE (the signature is what protects the rows).

CREATE TABLE IF NOT EXISTS forlop_events_sjekkpunkter (
    nr bigint PRIMARY KEY,
    posisjon bigint NOT NULL,
    antall bigint NOT NULL,
    segment bytea NOT NULL,
    sammendrag bytea NOT NULL,
    nokkel_id text NOT NULL,
    signatur bytea NOT NULL,
    opprettet timestamptz NOT NULL
);

CREATE OR REPLACE FUNCTION forlop_events_sjekkpunkter_kun_tillegg() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'forlop_events_sjekkpunkter is append-only'; END$$;
CREATE OR REPLACE TRIGGER forlop_events_sjekkpunkter_kun_tillegg BEFORE UPDATE OR DELETE ON forlop_events_sjekkpunkter
    FOR EACH ROW EXECUTE FUNCTION forlop_events_sjekkpunkter_kun_tillegg();
CREATE OR REPLACE TRIGGER forlop_events_sjekkpunkter_ingen_truncate BEFORE TRUNCATE ON forlop_events_sjekkpunkter
    FOR EACH STATEMENT EXECUTE FUNCTION forlop_events_sjekkpunkter_kun_tillegg();
