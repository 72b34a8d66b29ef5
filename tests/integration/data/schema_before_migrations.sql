-- The schema the code before migrations (main at 784a7c2) set up at run time: every module's CREATE ... IF
-- NOT EXISTS (recorder.create_tables, the key table, the read log, the checkpoints, the tracking table and
-- views, the relay log, the alert outbox), as pg_dump --schema-only --no-owner --no-privileges wrote it.
-- tests/integration/test_migrations.py upgrades a database made from it.
--
-- PostgreSQL database dump
--

-- Dumped from database version 16.2
-- Dumped by pg_dump version 16.2

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: stored_event_uuid; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.stored_event_uuid AS (
	originator_id uuid,
	originator_version bigint,
	topic text,
	state bytea
);


--
-- Name: es_insert_events_uuid(public.stored_event_uuid[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.es_insert_events_uuid(events public.stored_event_uuid[]) RETURNS SETOF bigint
    LANGUAGE plpgsql
    AS $$BEGIN    SET LOCAL lock_timeout = '0s';    NOTIFY "forlop_events";    RETURN QUERY    INSERT INTO "public"."forlop_events" AS t (originator_id, originator_version, topic, state)    SELECT originator_id, originator_version, topic, state FROM unnest(events)    RETURNING notification_id;END;$$;


--
-- Name: forlop_events_sjekkpunkter_kun_tillegg(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.forlop_events_sjekkpunkter_kun_tillegg() RETURNS trigger
    LANGUAGE plpgsql
    AS $$BEGIN RAISE EXCEPTION 'forlop_events_sjekkpunkter is append-only'; END$$;


--
-- Name: forlop_innsyn_kun_innsetting(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.forlop_innsyn_kun_innsetting() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
        BEGIN
            RAISE EXCEPTION 'the read log forlop_innsyn is append-only (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;


--
-- Name: forlop_save_forlop_events(integer[], uuid[], bigint[], bytea[], integer[], text[], text[], bytea[], integer[], uuid[], bigint[], text[], bytea[], text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.forlop_save_forlop_events(integer[], uuid[], bigint[], bytea[], integer[], text[], text[], bytea[], integer[], uuid[], bigint[], text[], bytea[], text) RETURNS TABLE(kind integer, save_no integer, originator_id uuid, notification_id bigint, command_id text, fingerprint text, svar bytea, registrert timestamp with time zone)
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $_$
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
    WHERE EXISTS (SELECT FROM "public"."forlop_events" e WHERE e.originator_id = h.id AND e.originator_version >= h.v0)
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
       NULL::text AS command_id, NULL::text AS fingerprint, NULL::bytea AS svar, NULL::timestamptz AS registrert
FROM inserted
UNION ALL SELECT 1, save_no, NULL, NULL, NULL, NULL, NULL, NULL FROM conflicts
;
    ELSE
        RETURN QUERY 
WITH heads AS (
    SELECT * FROM unnest($1::int[], $2::uuid[], $3::bigint[], $4::bytea[]) AS h(save_no, id, v0, prev)
), cmds AS (
    SELECT * FROM unnest($5::int[], $6::text[], $7::text[], $8::bytea[]) AS c(save_no, command_id, fingerprint, svar)
), conflicts AS (
    SELECT h.save_no FROM heads h
    WHERE EXISTS (SELECT FROM "public"."forlop_events" e WHERE e.originator_id = h.id AND e.originator_version >= h.v0)
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
       NULL::text AS command_id, NULL::text AS fingerprint, NULL::bytea AS svar, NULL::timestamptz AS registrert
FROM inserted
UNION ALL SELECT 1, save_no, NULL, NULL, NULL, NULL, NULL, NULL FROM conflicts
UNION ALL SELECT 2, save_no, NULL, NULL, command_id, fingerprint, svar, registrert FROM duplicates
;
    END IF;
END;
$_$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: forlop_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.forlop_events (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigint NOT NULL
)
WITH (autovacuum_enabled='true', autovacuum_vacuum_threshold='100000000', autovacuum_vacuum_scale_factor='0.5', autovacuum_analyze_threshold='1000', autovacuum_analyze_scale_factor='0.01');


--
-- Name: forlop_events_notification_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.forlop_events_notification_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: forlop_events_notification_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.forlop_events_notification_id_seq OWNED BY public.forlop_events.notification_id;


--
-- Name: forlop_events_sjekkpunkter; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.forlop_events_sjekkpunkter (
    nr bigint NOT NULL,
    posisjon bigint NOT NULL,
    antall bigint NOT NULL,
    segment bytea NOT NULL,
    sammendrag bytea NOT NULL,
    nokkel_id text NOT NULL,
    signatur bytea NOT NULL,
    opprettet timestamp with time zone NOT NULL
);


--
-- Name: forlop_innsyn; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.forlop_innsyn (
    nr bigint NOT NULL,
    tidspunkt timestamp with time zone NOT NULL,
    nav_ident text NOT NULL,
    roller text[] NOT NULL,
    person_pseudonym text NOT NULL,
    endepunkt text NOT NULL,
    aggregat text,
    aggregat_id uuid,
    correlation_id uuid NOT NULL,
    CONSTRAINT forlop_innsyn_person_pseudonym_check CHECK ((person_pseudonym ~ '^[0-9a-f]{64}$'::text))
);


--
-- Name: forlop_innsyn_nr_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.forlop_innsyn_nr_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: forlop_innsyn_nr_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.forlop_innsyn_nr_seq OWNED BY public.forlop_innsyn.nr;


--
-- Name: forlop_kommandoer; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.forlop_kommandoer (
    command_id text NOT NULL,
    fingerprint text NOT NULL,
    svar bytea NOT NULL,
    registrert timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: forlop_personnokler; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.forlop_personnokler (
    person_id uuid NOT NULL,
    nokkel bytea,
    opprettet timestamp with time zone DEFAULT now() NOT NULL,
    glemt timestamp with time zone
);


--
-- Name: forlop_relay_logg; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.forlop_relay_logg (
    posisjon bigint NOT NULL,
    hendelse_id uuid NOT NULL,
    sekvens bigint NOT NULL,
    publisert timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: forlop_snapshots; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.forlop_snapshots (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea
)
WITH (autovacuum_enabled='true', autovacuum_vacuum_threshold='100000000', autovacuum_vacuum_scale_factor='0.5', autovacuum_analyze_threshold='1000', autovacuum_analyze_scale_factor='0.01');


--
-- Name: forlop_sporing; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.forlop_sporing (
    projeksjon text NOT NULL,
    posisjon bigint DEFAULT 0 NOT NULL,
    oppdatert timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: forlop_varsler; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.forlop_varsler (
    varsel_id uuid NOT NULL,
    nr bigint NOT NULL,
    type text NOT NULL,
    frist date NOT NULL,
    per date NOT NULL,
    dager_igjen integer NOT NULL,
    aggregat text NOT NULL,
    aggregat_id uuid NOT NULL,
    nav_enhet text NOT NULL,
    kontaktperson text,
    forsinket boolean NOT NULL,
    besluttet timestamp with time zone DEFAULT now() NOT NULL,
    besluttet_per date NOT NULL,
    publisert timestamp with time zone,
    nats_sekvens bigint
);


--
-- Name: forlop_varsler_nr_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.forlop_varsler_nr_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: forlop_varsler_nr_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.forlop_varsler_nr_seq OWNED BY public.forlop_varsler.nr;


--
-- Name: forlop_varsler_sporing; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.forlop_varsler_sporing (
    navn text NOT NULL,
    per date,
    posisjon bigint NOT NULL,
    oppdatert timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: v_garanti; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.v_garanti (
    garanti_id uuid NOT NULL,
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


--
-- Name: v_lop; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.v_lop (
    lop_id uuid NOT NULL,
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


--
-- Name: forlop_events notification_id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_events ALTER COLUMN notification_id SET DEFAULT nextval('public.forlop_events_notification_id_seq'::regclass);


--
-- Name: forlop_innsyn nr; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_innsyn ALTER COLUMN nr SET DEFAULT nextval('public.forlop_innsyn_nr_seq'::regclass);


--
-- Name: forlop_varsler nr; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_varsler ALTER COLUMN nr SET DEFAULT nextval('public.forlop_varsler_nr_seq'::regclass);


--
-- Name: forlop_events forlop_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_events
    ADD CONSTRAINT forlop_events_pkey PRIMARY KEY (originator_id, originator_version);


--
-- Name: forlop_events_sjekkpunkter forlop_events_sjekkpunkter_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_events_sjekkpunkter
    ADD CONSTRAINT forlop_events_sjekkpunkter_pkey PRIMARY KEY (nr);


--
-- Name: forlop_innsyn forlop_innsyn_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_innsyn
    ADD CONSTRAINT forlop_innsyn_pkey PRIMARY KEY (nr);


--
-- Name: forlop_kommandoer forlop_kommandoer_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_kommandoer
    ADD CONSTRAINT forlop_kommandoer_pkey PRIMARY KEY (command_id);


--
-- Name: forlop_personnokler forlop_personnokler_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_personnokler
    ADD CONSTRAINT forlop_personnokler_pkey PRIMARY KEY (person_id);


--
-- Name: forlop_relay_logg forlop_relay_logg_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_relay_logg
    ADD CONSTRAINT forlop_relay_logg_pkey PRIMARY KEY (posisjon);


--
-- Name: forlop_snapshots forlop_snapshots_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_snapshots
    ADD CONSTRAINT forlop_snapshots_pkey PRIMARY KEY (originator_id, originator_version);


--
-- Name: forlop_sporing forlop_sporing_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_sporing
    ADD CONSTRAINT forlop_sporing_pkey PRIMARY KEY (projeksjon);


--
-- Name: forlop_varsler forlop_varsler_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_varsler
    ADD CONSTRAINT forlop_varsler_pkey PRIMARY KEY (varsel_id);


--
-- Name: forlop_varsler_sporing forlop_varsler_sporing_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.forlop_varsler_sporing
    ADD CONSTRAINT forlop_varsler_sporing_pkey PRIMARY KEY (navn);


--
-- Name: v_garanti v_garanti_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.v_garanti
    ADD CONSTRAINT v_garanti_pkey PRIMARY KEY (garanti_id);


--
-- Name: v_lop v_lop_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.v_lop
    ADD CONSTRAINT v_lop_pkey PRIMARY KEY (lop_id);


--
-- Name: forlop_events_notification_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX forlop_events_notification_id_idx ON public.forlop_events USING btree (notification_id);


--
-- Name: forlop_innsyn_ident_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX forlop_innsyn_ident_idx ON public.forlop_innsyn USING btree (nav_ident, nr);


--
-- Name: forlop_innsyn_person_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX forlop_innsyn_person_idx ON public.forlop_innsyn USING btree (person_pseudonym, nr);


--
-- Name: forlop_innsyn_tid_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX forlop_innsyn_tid_idx ON public.forlop_innsyn USING btree (tidspunkt);


--
-- Name: forlop_relay_logg_sekvens_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX forlop_relay_logg_sekvens_idx ON public.forlop_relay_logg USING btree (sekvens);


--
-- Name: forlop_varsler_innboks_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX forlop_varsler_innboks_idx ON public.forlop_varsler USING btree (nav_enhet, per DESC, varsel_id);


--
-- Name: forlop_varsler_per_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX forlop_varsler_per_idx ON public.forlop_varsler USING btree (per DESC, varsel_id);


--
-- Name: forlop_varsler_usendt_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX forlop_varsler_usendt_idx ON public.forlop_varsler USING btree (nr) WHERE (publisert IS NULL);


--
-- Name: v_garanti_enhet_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX v_garanti_enhet_idx ON public.v_garanti USING btree (nav_enhet, garanti_id);


--
-- Name: v_garanti_kontaktperson_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX v_garanti_kontaktperson_idx ON public.v_garanti USING btree (kontaktperson) WHERE aktiv;


--
-- Name: v_garanti_person_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX v_garanti_person_idx ON public.v_garanti USING btree (person);


--
-- Name: v_lop_enhet_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX v_lop_enhet_idx ON public.v_lop USING btree (nav_enhet, lop_id);


--
-- Name: v_lop_person_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX v_lop_person_idx ON public.v_lop USING btree (person);


--
-- Name: forlop_events_sjekkpunkter forlop_events_sjekkpunkter_ingen_truncate; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER forlop_events_sjekkpunkter_ingen_truncate BEFORE TRUNCATE ON public.forlop_events_sjekkpunkter FOR EACH STATEMENT EXECUTE FUNCTION public.forlop_events_sjekkpunkter_kun_tillegg();


--
-- Name: forlop_events_sjekkpunkter forlop_events_sjekkpunkter_kun_tillegg; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER forlop_events_sjekkpunkter_kun_tillegg BEFORE DELETE OR UPDATE ON public.forlop_events_sjekkpunkter FOR EACH ROW EXECUTE FUNCTION public.forlop_events_sjekkpunkter_kun_tillegg();


--
-- Name: forlop_innsyn forlop_innsyn_ingen_tomming; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER forlop_innsyn_ingen_tomming BEFORE TRUNCATE ON public.forlop_innsyn FOR EACH STATEMENT EXECUTE FUNCTION public.forlop_innsyn_kun_innsetting();


--
-- Name: forlop_innsyn forlop_innsyn_kun_innsetting; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER forlop_innsyn_kun_innsetting BEFORE DELETE OR UPDATE ON public.forlop_innsyn FOR EACH ROW EXECUTE FUNCTION public.forlop_innsyn_kun_innsetting();


--
-- PostgreSQL database dump complete
--

