-- Per-person keys for the personal fields of events and snapshots (store/keys.py): forgetting a person sets
-- `nokkel` to NULL and stamps `glemt`.

CREATE TABLE IF NOT EXISTS forlop_personnokler (
    person_id uuid PRIMARY KEY,
    nokkel bytea,
    opprettet timestamptz NOT NULL DEFAULT now(),
    glemt timestamptz
);
