import {
  Alert,
  BodyShort,
  Box,
  Button,
  HGrid,
  HStack,
  Heading,
  Loader,
  Select,
  Table,
  Tag,
  TextField,
  Textarea,
  VStack,
} from "@navikt/ds-react";
import { useId, useState, type FormEvent, type ReactNode } from "react";
import { api, svar } from "../api/klient";
import type {
  AvslutningCreate,
  ForlengelseCreate,
  Forlengelsesmulighet,
  Historikk,
  KorrigeringCreate,
  LopVisning,
} from "../api/typer";
import { DatoFelt } from "../komponenter/DatoFelt";
import { Fakta } from "../komponenter/Fakta";
import { Feilvisning } from "../komponenter/Feilvisning";
import { Historikkliste } from "../komponenter/Historikkliste";
import { TOMT_TILSKJEMA, TilFelter, tilKropp, type Tilskjema } from "../komponenter/TilFelter";
import { dato, lesDato, maskerIdent } from "../format";
import { useHent, useKommando, type Hentet } from "../hooks";
import {
  AVSLUTNINGSAARSAKER,
  FORLENGELSESAARSAKER,
  MALGRUPPER,
  STATUSER,
  TILTAKSTYPER,
  VARIANTER,
  VARSELTYPER,
  VURDERINGSSTATUS,
  navn,
} from "../koder";
import { kanSkrive, useOkt } from "../okt";
import { Lenke, naviger } from "../ruter";

function Seksjon({ tittel, children }: { tittel: string; children: ReactNode }) {
  const id = useId();
  return (
    <section aria-labelledby={id}>
      <Heading level="2" size="medium" id={id} spacing>
        {tittel}
      </Heading>
      {children}
    </section>
  );
}

function tittel(lop: LopVisning): string {
  const t = navn(TILTAKSTYPER, lop.tiltakstype);
  return lop.variant ? `${t}: ${navn(VARIANTER, lop.variant)}` : t;
}

/** A løp's page: its state, the what-if of an extension beside its form, the other actions, its history. */
export function LopSide({ id }: { id: string }) {
  const okt = useOkt();
  const lop = useHent(() => svar(api.GET("/api/v1/tiltakslop/{lop_id}", { params: { path: { lop_id: id } } })), [id]);
  const muligheter = useHent(
    () => svar(api.GET("/api/v1/tiltakslop/{lop_id}/forlengelse", { params: { path: { lop_id: id } } })),
    [id],
  );
  const historikk = useHent(
    () => svar(api.GET("/api/v1/tiltakslop/{lop_id}/historikk", { params: { path: { lop_id: id } } })),
    [id],
  );
  const [kvittering, settKvittering] = useState<string | null>(null);

  function oppdatert(ny: LopVisning, etag: string | null, melding: string) {
    lop.sett(ny, etag);
    muligheter.lastInn();
    historikk.lastInn();
    settKvittering(melding);
  }
  function lastAltInn() {
    lop.lastInn();
    muligheter.lastInn();
    historikk.lastInn();
  }

  if (lop.laster && !lop.data) return <Loader title="Laster tiltaksløpet" />;
  if (!lop.data) return lop.feil ? <Feilvisning problem={lop.feil} /> : null;
  const l = lop.data;
  const skriver = kanSkrive(okt.meg);
  return (
    <VStack gap="space-32">
      <VStack gap="space-8">
        <Heading level="1" size="large">
          {tittel(l)}
        </Heading>
        <HStack gap="space-8">
          <Tag variant={l.status === "AKTIV" ? "success" : "neutral"}>{navn(STATUSER, l.status)}</Tag>
          <BodyShort>Saksnummer {l.id}</BodyShort>
        </HStack>
      </VStack>
      {kvittering ? (
        <Alert variant="success" role="status" size="small">
          {kvittering}
        </Alert>
      ) : null}
      <HGrid columns={{ xs: 1, md: 2 }} gap="space-32">
        <Seksjon tittel="Oversikt">
          <Fakta
            etikett="Oversikt"
            rader={[
              ["Status", navn(STATUSER, l.status)],
              ["Person", `${maskerIdent(l.person.ident)} (født ${dato(l.person.fodselsdato)})`],
              ["Periode", `${dato(l.fom)} – ${dato(l.tom)}`],
              ...(l.sluttdato ? ([["Avsluttet", `${dato(l.sluttdato)} (${navn(AVSLUTNINGSAARSAKER, l.avslutningsaarsak)})`]] as [string, ReactNode][]) : []),
              ["Målgruppe", navn(MALGRUPPER, l.malgruppe)],
              ["NAV-enhet", l.nav_enhet],
              ["Vedtaksreferanse", l.vedtak_ref],
              ["Grunnperiode til og med", dato(l.base_cap_tom)],
              ["Makstid til og med", dato(l.total_cap_tom)],
              ["Dager igjen", l.days_to_tom ?? "–"],
              ["Dager til makstid", l.days_to_total_cap ?? "–"],
              ...(l.next_review_due
                ? ([["Neste vurdering", `${dato(l.next_review_due)} (${navn(VURDERINGSSTATUS, l.review_status)})`]] as [string, ReactNode][])
                : []),
              ...(l.current_rate !== null ? ([["Tilskuddssats", `${l.current_rate} %`]] as [string, ReactNode][]) : []),
              ...(l.forgjenger_lop_id
                ? ([["Forrige tiltaksløp", <Lenke til={`/tiltakslop/${l.forgjenger_lop_id}`}>{navn(TILTAKSTYPER, l.overgang_fra_tiltakstype)}</Lenke>]] as [string, ReactNode][])
                : []),
              ...(l.overgang_til
                ? ([["Overgang til", <Lenke til={`/tiltakslop/${l.overgang_til.tiltakslop_id}`}>{navn(TILTAKSTYPER, l.overgang_til.tiltakstype)}</Lenke>]] as [string, ReactNode][])
                : []),
              ["Beregnet per", dato(l.per)],
            ]}
          />
        </Seksjon>
        <Seksjon tittel="Åpne varsler">
          {l.open_alerts.length ? (
            <ul aria-label="Åpne varsler">
              {l.open_alerts.map((t) => (
                <li key={t}>{navn(VARSELTYPER, t)}</li>
              ))}
            </ul>
          ) : (
            <BodyShort>Ingen åpne varsler.</BodyShort>
          )}
          {l.warnings.length ? (
            <Alert variant="warning" size="small">
              {l.warnings.join(", ")}
            </Alert>
          ) : null}
        </Seksjon>
      </HGrid>
      <Forlengelse lop={lop} muligheter={muligheter} skriver={skriver} oppdatert={oppdatert} lastInn={lastAltInn} />
      {skriver ? <Handlinger lop={lop} oppdatert={oppdatert} lastInn={lastAltInn} /> : null}
      <HistorikkSeksjon historikk={historikk} />
    </VStack>
  );
}

function HistorikkSeksjon({ historikk }: { historikk: Hentet<Historikk> }) {
  if (historikk.feil) return <Feilvisning problem={historikk.feil} />;
  if (!historikk.data) return <Loader title="Laster historikken" />;
  return <Historikkliste hendelser={historikk.data.elementer} />;
}

interface HandlingProps {
  lop: Hentet<LopVisning>;
  oppdatert: (ny: LopVisning, etag: string | null, melding: string) => void;
  lastInn: () => void;
}

function Forlengelse({
  lop,
  muligheter,
  skriver,
  oppdatert,
  lastInn,
}: HandlingProps & { muligheter: Hentet<Forlengelsesmulighet>; skriver: boolean }) {
  const id = lop.data!.id;
  const [nyTom, settNyTom] = useState("");
  const [aarsak, settAarsak] = useState("");
  const [begrunnelse, settBegrunnelse] = useState("");
  const kommando = useKommando((kropp: { ny_tom: string | null; aarsak: string | null; begrunnelse: string | null }, nokkel: string) =>
    svar(
      api.POST("/api/v1/tiltakslop/{lop_id}/forlengelser", {
        params: { path: { lop_id: id }, header: { "Idempotency-Key": nokkel, "If-Match": lop.etag ?? "*" } },
        body: kropp as ForlengelseCreate,
      }),
    ),
  );
  const grunner = muligheter.data?.grunner ?? [];
  const valgt = aarsak || grunner[0]?.aarsak || "";

  async function forleng(e: FormEvent) {
    e.preventDefault();
    const s = await kommando.send({
      ny_tom: lesDato(nyTom) ?? (nyTom.trim() || null),
      aarsak: valgt || null,
      begrunnelse: begrunnelse.trim() || null,
    });
    if (s) {
      oppdatert(s.data, s.etag, `Forlenget til ${dato(s.data.tom)}.`);
      settNyTom("");
      settBegrunnelse("");
    }
  }

  return (
    <Seksjon tittel="Forlengelse">
      <HGrid columns={{ xs: 1, md: 2 }} gap="space-32">
        <VStack gap="space-8">
          <Heading level="3" size="small">
            Hva en forlengelse kan nå
          </Heading>
          {muligheter.feil ? <Feilvisning problem={muligheter.feil} /> : null}
          {muligheter.data ? (
            muligheter.data.mulig && grunner.length ? (
              <Table size="small" aria-label="Mulige forlengelser">
                <Table.Header>
                  <Table.Row>
                    <Table.HeaderCell scope="col">Årsak</Table.HeaderCell>
                    <Table.HeaderCell scope="col">Senest til og med</Table.HeaderCell>
                  </Table.Row>
                </Table.Header>
                <Table.Body>
                  {grunner.map((g) => (
                    <Table.Row key={g.aarsak}>
                      <Table.DataCell>{navn(FORLENGELSESAARSAKER, g.aarsak)}</Table.DataCell>
                      <Table.DataCell>{g.max_tom ? dato(g.max_tom) : "Ingen øvre grense"}</Table.DataCell>
                    </Table.Row>
                  ))}
                </Table.Body>
              </Table>
            ) : (
              <BodyShort>Tiltaksløpet kan ikke forlenges nå.</BodyShort>
            )
          ) : (
            <Loader size="small" title="Laster mulige forlengelser" />
          )}
        </VStack>
        {skriver ? (
          <form onSubmit={forleng} aria-label="Forleng tiltaksløpet">
            <VStack gap="space-12">
              <DatoFelt label="Ny sluttdato" verdi={nyTom} onChange={settNyTom} paakrevd />
              <Select label="Årsak" value={valgt} onChange={(e) => settAarsak(e.target.value)}>
                {grunner.length === 0 ? <option value="">Ingen årsak er mulig nå</option> : null}
                {grunner.map((g) => (
                  <option key={g.aarsak} value={g.aarsak}>
                    {navn(FORLENGELSESAARSAKER, g.aarsak)}
                  </option>
                ))}
              </Select>
              <Textarea
                label="Begrunnelse"
                description="Påkrevd for særlige grunner"
                value={begrunnelse}
                onChange={(e) => settBegrunnelse(e.target.value)}
                maxLength={4000}
                minRows={2}
              />
              {kommando.feil ? <Feilvisning problem={kommando.feil} lastInn={lastInn} provIgjen={kommando.provIgjen} /> : null}
              <div>
                <Button type="submit" loading={kommando.sender}>
                  Forleng
                </Button>
              </div>
            </VStack>
          </form>
        ) : null}
      </HGrid>
    </Seksjon>
  );
}

type Valg = "avslutt" | "overgang" | "korriger" | null;

function Handlinger(props: HandlingProps) {
  const [valg, settValg] = useState<Valg>(null);
  const knapp = (v: Exclude<Valg, null>, tekst: string) => (
    <Button
      type="button"
      variant={valg === v ? "primary" : "secondary"}
      aria-expanded={valg === v}
      onClick={() => settValg(valg === v ? null : v)}
    >
      {tekst}
    </Button>
  );
  return (
    <Seksjon tittel="Andre handlinger">
      <HStack gap="space-8">
        {knapp("avslutt", "Avslutt")}
        {knapp("overgang", "Overgang")}
        {knapp("korriger", "Korriger")}
      </HStack>
      <Box marginBlock="space-16 space-0" maxWidth="40rem">
        {valg === "avslutt" ? <Avslutt {...props} lukk={() => settValg(null)} /> : null}
        {valg === "overgang" ? <Overgang {...props} lukk={() => settValg(null)} /> : null}
        {valg === "korriger" ? <Korriger {...props} lukk={() => settValg(null)} /> : null}
      </Box>
    </Seksjon>
  );
}

function Avslutt({ lop, oppdatert, lastInn, lukk }: HandlingProps & { lukk: () => void }) {
  const id = lop.data!.id;
  const [sluttdato, settSluttdato] = useState("");
  const [aarsak, settAarsak] = useState("FULLFORT");
  const [begrunnelse, settBegrunnelse] = useState("");
  const kommando = useKommando((kropp: { sluttdato: string | null; aarsak: string; begrunnelse: string | null }, nokkel: string) =>
    svar(
      api.POST("/api/v1/tiltakslop/{lop_id}/avslutning", {
        params: { path: { lop_id: id }, header: { "Idempotency-Key": nokkel, "If-Match": lop.etag ?? "*" } },
        body: kropp as AvslutningCreate,
      }),
    ),
  );
  async function avslutt(e: FormEvent) {
    e.preventDefault();
    const s = await kommando.send({
      sluttdato: lesDato(sluttdato) ?? (sluttdato.trim() || null),
      aarsak,
      begrunnelse: begrunnelse.trim() || null,
    });
    if (s) {
      oppdatert(s.data, s.etag, `Avsluttet med sluttdato ${dato(s.data.sluttdato)}.`);
      lukk();
    }
  }
  return (
    <form onSubmit={avslutt} aria-label="Avslutt tiltaksløpet">
      <VStack gap="space-12">
        <DatoFelt label="Sluttdato" verdi={sluttdato} onChange={settSluttdato} paakrevd />
        <Select label="Avslutningsårsak" value={aarsak} onChange={(e) => settAarsak(e.target.value)}>
          {Object.entries(AVSLUTNINGSAARSAKER)
            .filter(([k]) => k !== "OVERGANG_TILTAK")
            .map(([kode, tekst]) => (
              <option key={kode} value={kode}>
                {tekst}
              </option>
            ))}
        </Select>
        <Textarea label="Begrunnelse for avslutningen" value={begrunnelse} onChange={(e) => settBegrunnelse(e.target.value)} maxLength={4000} minRows={2} />
        {kommando.feil ? <Feilvisning problem={kommando.feil} lastInn={lastInn} provIgjen={kommando.provIgjen} /> : null}
        <div>
          <Button type="submit" loading={kommando.sender}>
            Avslutt tiltaksløpet
          </Button>
        </div>
      </VStack>
    </form>
  );
}

function Overgang({ lop, lastInn }: HandlingProps & { lukk: () => void }) {
  const l = lop.data!;
  const [sluttdato, settSluttdato] = useState("");
  const [til, settTil] = useState<Tilskjema>({ ...TOMT_TILSKJEMA, malgruppe: l.malgruppe, nav_enhet: l.nav_enhet, vedtak_ref: "" });
  const kommando = useKommando((kropp: { sluttdato: string; til: Tilskjema }, nokkel: string) =>
    svar(
      api.POST("/api/v1/tiltakslop/{lop_id}/overgang", {
        params: { path: { lop_id: l.id }, header: { "Idempotency-Key": nokkel, "If-Match": lop.etag ?? "*" } },
        body: { sluttdato: lesDato(kropp.sluttdato) ?? (kropp.sluttdato.trim() || null), til: tilKropp(kropp.til) },
      }),
    ),
  );
  async function overgang(e: FormEvent) {
    e.preventDefault();
    const s = await kommando.send({ sluttdato, til });
    if (s) naviger(`/tiltakslop/${s.data.id}`);
  }
  return (
    <form onSubmit={overgang} aria-label="Overgang til nytt tiltak">
      <VStack gap="space-12">
        <DatoFelt label="Sluttdato" description="Siste dag i dette tiltaksløpet (dd.mm.åååå)" verdi={sluttdato} onChange={settSluttdato} paakrevd />
        <Heading level="3" size="xsmall">
          Nytt tiltak
        </Heading>
        <TilFelter verdi={til} endre={settTil} />
        {kommando.feil ? <Feilvisning problem={kommando.feil} lastInn={lastInn} provIgjen={kommando.provIgjen} /> : null}
        <div>
          <Button type="submit" loading={kommando.sender}>
            Gjennomfør overgang
          </Button>
        </div>
      </VStack>
    </form>
  );
}

function Korriger({ lop, oppdatert, lastInn, lukk }: HandlingProps & { lukk: () => void }) {
  const l = lop.data!;
  const [felt, settFelt] = useState({ fom: "", tom: "", sluttdato: "", malgruppe: "", nav_enhet: "", vedtak_ref: "", begrunnelse: "" });
  const kommando = useKommando((kropp: KorrigeringCreate, nokkel: string) =>
    svar(
      api.POST("/api/v1/tiltakslop/{lop_id}/korrigeringer", {
        params: { path: { lop_id: l.id }, header: { "Idempotency-Key": nokkel, "If-Match": lop.etag ?? "*" } },
        body: kropp,
      }),
    ),
  );
  async function korriger(e: FormEvent) {
    e.preventDefault();
    const kropp: KorrigeringCreate = { begrunnelse: felt.begrunnelse.trim() || null };
    for (const k of ["fom", "tom", "sluttdato"] as const) if (felt[k].trim()) kropp[k] = lesDato(felt[k]) ?? felt[k].trim();
    if (felt.malgruppe.trim()) kropp.malgruppe = felt.malgruppe.trim() as KorrigeringCreate["malgruppe"];
    for (const k of ["nav_enhet", "vedtak_ref"] as const) if (felt[k].trim()) kropp[k] = felt[k].trim();
    const s = await kommando.send(kropp);
    if (s) {
      oppdatert(s.data, s.etag, "Korrigeringen er lagret.");
      lukk();
    }
  }
  return (
    <form onSubmit={korriger} aria-label="Korriger tiltaksløpet">
      <VStack gap="space-12">
        <BodyShort>Fyll ut bare det som skal rettes. Det opprinnelige står fortsatt i historikken.</BodyShort>
        <DatoFelt label="Riktig fra og med" verdi={felt.fom} onChange={(v) => settFelt({ ...felt, fom: v })} />
        <DatoFelt label="Riktig til og med" verdi={felt.tom} onChange={(v) => settFelt({ ...felt, tom: v })} />
        {l.sluttdato ? (
          <DatoFelt label="Riktig sluttdato" verdi={felt.sluttdato} onChange={(v) => settFelt({ ...felt, sluttdato: v })} />
        ) : null}
        <Select label="Riktig målgruppe" value={felt.malgruppe} onChange={(e) => settFelt({ ...felt, malgruppe: e.target.value })}>
          <option value="">Uendret</option>
          {Object.entries(MALGRUPPER).map(([kode, tekst]) => (
            <option key={kode} value={kode}>
              {tekst}
            </option>
          ))}
        </Select>
        <TextField label="Riktig NAV-enhet" htmlSize={8} value={felt.nav_enhet} onChange={(e) => settFelt({ ...felt, nav_enhet: e.target.value })} />
        <TextField label="Riktig vedtaksreferanse" value={felt.vedtak_ref} onChange={(e) => settFelt({ ...felt, vedtak_ref: e.target.value })} />
        <Textarea label="Begrunnelse for korrigeringen" value={felt.begrunnelse} onChange={(e) => settFelt({ ...felt, begrunnelse: e.target.value })} maxLength={4000} minRows={2} />
        {kommando.feil ? <Feilvisning problem={kommando.feil} lastInn={lastInn} provIgjen={kommando.provIgjen} /> : null}
        <div>
          <Button type="submit" loading={kommando.sender}>
            Lagre korrigering
          </Button>
        </div>
      </VStack>
    </form>
  );
}
