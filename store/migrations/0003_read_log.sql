-- The read log (store/read_log.py): who read which person's data, when, through which endpoint.
-- Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE. In production the application's role should
-- not own the table either, so that it cannot drop the trigger (see store/read_log.py).

CREATE TABLE IF NOT EXISTS forlop_innsyn (
    nr bigserial PRIMARY KEY,
    tidspunkt timestamptz NOT NULL,
    nav_ident text NOT NULL,
    roller text[] NOT NULL,
    person_pseudonym text NOT NULL CHECK (person_pseudonym ~ '^[0-9a-f]{64}$'),
    endepunkt text NOT NULL,
    aggregat text,
    aggregat_id uuid,
    correlation_id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS forlop_innsyn_person_idx ON forlop_innsyn (person_pseudonym, nr);
CREATE INDEX IF NOT EXISTS forlop_innsyn_ident_idx ON forlop_innsyn (nav_ident, nr);
CREATE INDEX IF NOT EXISTS forlop_innsyn_tid_idx ON forlop_innsyn (tidspunkt);

CREATE OR REPLACE FUNCTION forlop_innsyn_kun_innsetting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the read log forlop_innsyn is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE OR REPLACE TRIGGER forlop_innsyn_kun_innsetting BEFORE UPDATE OR DELETE ON forlop_innsyn
    FOR EACH ROW EXECUTE FUNCTION forlop_innsyn_kun_innsetting();
CREATE OR REPLACE TRIGGER forlop_innsyn_ingen_tomming BEFORE TRUNCATE ON forlop_innsyn
    FOR EACH STATEMENT EXECUTE FUNCTION forlop_innsyn_kun_innsetting();
