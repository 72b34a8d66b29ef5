-- Indexes for the alert worker's daily pass (workers/varsler.py `_kandidater_i_vinduer` with `fra`: the
-- alerts whose fire date lies in [fra, per]). Without them each pass was a sequential scan of v_lop and
-- v_garanti, growing with every løp ever granted (EXPLAIN at 1M events: 50 ms over 114k rows for ~375 hits;
-- ten times that at 10M); with them the OR of narrow ranges is a BitmapOr over the open rows that match.
-- The løp indexes are partial on the open løp (the query's `NOT annullert AND NOT avsluttet`), so closed
-- løp, the bulk of ten years' log, cost nothing; `satsendringer && $n` needs its GIN index, else one
-- unindexed OR branch forces the scan. The guarantee query's `aktiv OR tom >= $1` implies no partial
-- predicate: those indexes cover every row. A rebuild copies these to its shadow tables
-- (projections/rebuild.py `create_shadow_tables`).

CREATE INDEX IF NOT EXISTS v_lop_tom_apen_idx ON v_lop (tom) WHERE NOT annullert AND NOT avsluttet;
CREATE INDEX IF NOT EXISTS v_lop_total_cap_apen_idx ON v_lop (total_cap_tom) WHERE NOT annullert AND NOT avsluttet;
CREATE INDEX IF NOT EXISTS v_lop_vurdering_apen_idx ON v_lop (next_review_due) WHERE NOT annullert AND NOT avsluttet;
CREATE INDEX IF NOT EXISTS v_lop_satsendringer_apen_idx ON v_lop USING gin (satsendringer)
    WHERE NOT annullert AND NOT avsluttet;
CREATE INDEX IF NOT EXISTS v_garanti_samtale_idx ON v_garanti (next_samtale_due);
CREATE INDEX IF NOT EXISTS v_garanti_aldersgrense_idx ON v_garanti (aldersgrense_dato);
CREATE INDEX IF NOT EXISTS v_garanti_kontaktperson_frist_idx ON v_garanti (kontaktperson_frist);
