-- The relay's log (workers/relay.py): the stream sequence each published event got.

CREATE TABLE IF NOT EXISTS forlop_relay_logg (
    posisjon bigint PRIMARY KEY,
    hendelse_id uuid NOT NULL,
    sekvens bigint NOT NULL,
    publisert timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS forlop_relay_logg_sekvens_idx ON forlop_relay_logg (sekvens);
