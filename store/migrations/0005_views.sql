-- The projections' tracking rows (projections/runner.py: one row per projection, and the relay's) and the
-- deadline views of projections/oversikt.py. This is the one definition of the views' columns and indexes:
-- a rebuild's shadow tables and a replay's tables are made LIKE these (projections/rebuild.py).

CREATE TABLE IF NOT EXISTS forlop_sporing (
    projeksjon text PRIMARY KEY,
    posisjon bigint NOT NULL DEFAULT 0,
    oppdatert timestamptz NOT NULL DEFAULT now()
);

-- FristOversikt (rules.md §8.1) with the review cadence (§8.2) and the rate schedule (§8.3); Tiltakshistorikk
-- (§8.4) is a query over it by person.
CREATE TABLE IF NOT EXISTS v_lop (
    lop_id uuid PRIMARY KEY,
    versjon bigint NOT NULL,
    person uuid NOT NULL,
    nav_enhet text NOT NULL,
    tiltakstype text NOT NULL,
    fom date NOT NULL,
    tom date,
    opptatt_tom date,
    avsluttet boolean NOT NULL,
    annullert boolean NOT NULL,
    base_cap_tom date,
    total_cap_tom date,
    next_review_due date,
    satsendringer date[] NOT NULL,
    forgjenger_lop_id uuid,
    tilstand bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS v_lop_enhet_idx ON v_lop (nav_enhet, lop_id);
CREATE INDEX IF NOT EXISTS v_lop_person_idx ON v_lop (person);

-- UngdomsgarantiOversikt; KontaktpersonCaseload is a query over it.
CREATE TABLE IF NOT EXISTS v_garanti (
    garanti_id uuid PRIMARY KEY,
    versjon bigint NOT NULL,
    person uuid NOT NULL,
    nav_enhet text NOT NULL,
    fom date NOT NULL,
    tom date,
    aktiv boolean NOT NULL,
    aldersgrense_dato date NOT NULL,
    kontaktperson text,
    next_samtale_due date NOT NULL,
    kontaktperson_frist date NOT NULL,
    tilstand bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS v_garanti_enhet_idx ON v_garanti (nav_enhet, garanti_id);
CREATE INDEX IF NOT EXISTS v_garanti_person_idx ON v_garanti (person);
CREATE INDEX IF NOT EXISTS v_garanti_kontaktperson_idx ON v_garanti (kontaktperson) WHERE aktiv;
