-- Events the relay could not publish (workers/relay.py): one NATS refused (`grunn`, e.g. larger than the
-- server's max_payload), and the later events of the same aggregate, held behind it so that its order on
-- NATS is never broken (`grunn` NULL). Events of other aggregates keep flowing. An operator lists them
-- with `forlop relay venter` and clears one with `forlop relay hopp-over` (docs/operations.md).

CREATE TABLE forlop_relay_venter (
    posisjon bigint PRIMARY KEY,
    aggregat_id uuid NOT NULL,
    hendelse_id uuid NOT NULL,
    type text NOT NULL,
    storrelse integer NOT NULL,
    grunn text,
    hopp_over boolean NOT NULL DEFAULT false,
    registrert timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX forlop_relay_venter_aggregat_idx ON forlop_relay_venter (aggregat_id, posisjon);
