-- The deadline-alert worker (workers/varsler.py): the outbox between deciding and sending, and the worker's
-- tracking row (business date, event position).

CREATE TABLE IF NOT EXISTS forlop_varsler (
    varsel_id uuid PRIMARY KEY,
    nr bigserial NOT NULL,
    type text NOT NULL,
    frist date NOT NULL,
    per date NOT NULL,
    dager_igjen integer NOT NULL,
    aggregat text NOT NULL,
    aggregat_id uuid NOT NULL,
    nav_enhet text NOT NULL,
    kontaktperson text,
    forsinket boolean NOT NULL,
    besluttet timestamptz NOT NULL DEFAULT now(),
    besluttet_per date NOT NULL,
    publisert timestamptz,
    nats_sekvens bigint
);
CREATE INDEX IF NOT EXISTS forlop_varsler_usendt_idx ON forlop_varsler (nr) WHERE publisert IS NULL;
CREATE INDEX IF NOT EXISTS forlop_varsler_innboks_idx ON forlop_varsler (nav_enhet, per DESC, varsel_id);
CREATE INDEX IF NOT EXISTS forlop_varsler_per_idx ON forlop_varsler (per DESC, varsel_id);

CREATE TABLE IF NOT EXISTS forlop_varsler_sporing (
    navn text PRIMARY KEY,
    per date,
    posisjon bigint NOT NULL,
    oppdatert timestamptz NOT NULL DEFAULT now()
);
