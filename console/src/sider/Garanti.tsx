import { Alert, BodyShort, Button, HGrid, HStack, Heading, Loader, Select, Table, Tag, TextField, VStack } from "@navikt/ds-react";
import { useId, useState, type FormEvent, type ReactNode } from "react";
import { api, svar } from "../api/klient";
import type { GarantiVisning, Hendelse, KontaktpersonCreate, SamtaleCreate } from "../api/typer";
import { DatoFelt } from "../komponenter/DatoFelt";
import { Fakta } from "../komponenter/Fakta";
import { Feilvisning } from "../komponenter/Feilvisning";
import { Historikkliste } from "../komponenter/Historikkliste";
import { dato, lesDato, maskerIdent, tidspunkt } from "../format";
import { useHent, useKommando, type Hentet } from "../hooks";
import { GARANTI_AVSLUTNINGSAARSAKER, KANALER, STATUSER, VARSELTYPER, navn } from "../koder";
import { kanSkrive, useOkt } from "../okt";

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

/** The conversations of a guarantee, from its history (the read state holds only the last one). */
function samtaler(hendelser: Hendelse[]): Hendelse[] {
  return hendelser.filter((h) => h.type === "OppfolgingssamtaleGjennomfort").sort((a, b) => b.versjon - a.versjon);
}

/** A youth guarantee's page: contact person, conversations, the next one due, its actions and history. */
export function GarantiSide({ id }: { id: string }) {
  const okt = useOkt();
  const garanti = useHent(
    () => svar(api.GET("/api/v1/ungdomsgarantier/{garanti_id}", { params: { path: { garanti_id: id } } })),
    [id],
  );
  const historikk = useHent(
    () => svar(api.GET("/api/v1/ungdomsgarantier/{garanti_id}/historikk", { params: { path: { garanti_id: id } } })),
    [id],
  );
  const [kvittering, settKvittering] = useState<string | null>(null);

  if (garanti.laster && !garanti.data) return <Loader title="Laster ungdomsgarantien" />;
  if (!garanti.data) return garanti.feil ? <Feilvisning problem={garanti.feil} /> : null;
  const g = garanti.data;
  const oppdatert = (ny: GarantiVisning, etag: string | null, melding: string) => {
    garanti.sett(ny, etag);
    historikk.lastInn();
    settKvittering(melding);
  };
  const lastInn = () => {
    garanti.lastInn();
    historikk.lastInn();
  };
  const skriver = kanSkrive(okt.meg) && g.status === "AKTIV";
  const hendelser = historikk.data?.elementer ?? [];
  return (
    <VStack gap="space-32">
      <VStack gap="space-8">
        <Heading level="1" size="large">
          Ungdomsgaranti
        </Heading>
        <HStack gap="space-8">
          <Tag variant={g.status === "AKTIV" ? "success" : "neutral"}>{navn(STATUSER, g.status)}</Tag>
          <BodyShort>Saksnummer {g.id}</BodyShort>
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
              ["Status", `${navn(STATUSER, g.status)}${g.aarsak ? ` (${navn(GARANTI_AVSLUTNINGSAARSAKER, g.aarsak)})` : ""}`],
              ["Person", `${maskerIdent(g.person.ident)} (født ${dato(g.person.fodselsdato)})`],
              ["Fra og med", dato(g.fom)],
              ["Til og med", dato(g.tom)],
              ["Aldersgrense (30 år)", dato(g.aldersgrense_dato)],
              ["NAV-enhet", g.nav_enhet],
              ["Vedtak om bistandsbehov", g.bistandsbehov_vedtak_ref],
              ["Kontaktperson", g.kontaktperson ?? "Ikke tildelt"],
              ["Siste samtale", dato(g.siste_samtale)],
              ["Neste samtale senest", dato(g.next_samtale_due)],
              ["Beregnet per", dato(g.per)],
            ]}
          />
        </Seksjon>
        <Seksjon tittel="Åpne varsler">
          {g.open_alerts.length ? (
            <ul aria-label="Åpne varsler">
              {g.open_alerts.map((t) => (
                <li key={t}>
                  {navn(VARSELTYPER, t)}
                  {g.frister[t] ? ` (frist ${dato(g.frister[t])})` : ""}
                </li>
              ))}
            </ul>
          ) : (
            <BodyShort>Ingen åpne varsler.</BodyShort>
          )}
        </Seksjon>
      </HGrid>
      <HGrid columns={{ xs: 1, md: 2 }} gap="space-32">
        <Seksjon tittel="Kontaktpersoner">
          {g.kontaktpersoner.length ? (
            <Table size="small" aria-label="Kontaktpersoner">
              <Table.Header>
                <Table.Row>
                  <Table.HeaderCell scope="col">NAV-ident</Table.HeaderCell>
                  <Table.HeaderCell scope="col">Fra og med</Table.HeaderCell>
                </Table.Row>
              </Table.Header>
              <Table.Body>
                {g.kontaktpersoner.map((k) => (
                  <Table.Row key={`${k.nav_ident}-${k.fom}`}>
                    <Table.DataCell>{k.nav_ident}</Table.DataCell>
                    <Table.DataCell>{dato(k.fom)}</Table.DataCell>
                  </Table.Row>
                ))}
              </Table.Body>
            </Table>
          ) : (
            <BodyShort>Ingen kontaktperson er tildelt.</BodyShort>
          )}
          {skriver ? <TildelKontaktperson garanti={garanti} oppdatert={oppdatert} lastInn={lastInn} /> : null}
        </Seksjon>
        <Seksjon tittel="Samtaler">
          {samtaler(hendelser).length ? (
            <Table size="small" aria-label="Samtaler">
              <Table.Header>
                <Table.Row>
                  <Table.HeaderCell scope="col">Dato</Table.HeaderCell>
                  <Table.HeaderCell scope="col">Kanal</Table.HeaderCell>
                  <Table.HeaderCell scope="col">Registrert av</Table.HeaderCell>
                </Table.Row>
              </Table.Header>
              <Table.Body>
                {samtaler(hendelser).map((h) => (
                  <Table.Row key={h.id}>
                    <Table.DataCell>{dato(String(h.data.dato ?? ""))}</Table.DataCell>
                    <Table.DataCell>{navn(KANALER, String(h.data.kanal ?? ""))}</Table.DataCell>
                    <Table.DataCell>
                      {h.aktor.nav_ident} {tidspunkt(h.registrert)}
                    </Table.DataCell>
                  </Table.Row>
                ))}
              </Table.Body>
            </Table>
          ) : (
            <BodyShort>Ingen samtaler er registrert.</BodyShort>
          )}
          {skriver ? <RegistrerSamtale garanti={garanti} oppdatert={oppdatert} lastInn={lastInn} /> : null}
        </Seksjon>
      </HGrid>
      {historikk.feil ? <Feilvisning problem={historikk.feil} /> : <Historikkliste hendelser={hendelser} />}
    </VStack>
  );
}

interface SkjemaProps {
  garanti: Hentet<GarantiVisning>;
  oppdatert: (ny: GarantiVisning, etag: string | null, melding: string) => void;
  lastInn: () => void;
}

function TildelKontaktperson({ garanti, oppdatert, lastInn }: SkjemaProps) {
  const id = garanti.data!.id;
  const [navIdent, settNavIdent] = useState("");
  const [fom, settFom] = useState("");
  const kommando = useKommando((kropp: { nav_ident: string | null; fom: string | null }, nokkel: string) =>
    svar(
      api.POST("/api/v1/ungdomsgarantier/{garanti_id}/kontaktperson", {
        params: { path: { garanti_id: id }, header: { "Idempotency-Key": nokkel, "If-Match": garanti.etag ?? "*" } },
        body: kropp as KontaktpersonCreate, // an empty field as null: the API's refusal names it (TilFelter.tsx)
      }),
    ),
  );
  async function tildel(e: FormEvent) {
    e.preventDefault();
    const s = await kommando.send({ nav_ident: navIdent.trim() || null, fom: lesDato(fom) ?? (fom.trim() || null) });
    if (s) {
      oppdatert(s.data, s.etag, `${s.data.kontaktperson ?? navIdent} er kontaktperson.`);
      settNavIdent("");
      settFom("");
    }
  }
  return (
    <form onSubmit={tildel} aria-label="Tildel kontaktperson" style={{ marginTop: "1rem" }}>
      <VStack gap="space-12">
        <Heading level="3" size="small">
          Tildel kontaktperson
        </Heading>
        <TextField label="Kontaktpersonens NAV-ident" value={navIdent} onChange={(e) => settNavIdent(e.target.value)} htmlSize={10} />
        <DatoFelt label="Kontaktperson fra og med" verdi={fom} onChange={settFom} paakrevd />
        {kommando.feil ? <Feilvisning problem={kommando.feil} lastInn={lastInn} provIgjen={kommando.provIgjen} /> : null}
        <div>
          <Button type="submit" variant="secondary" loading={kommando.sender}>
            Tildel kontaktperson
          </Button>
        </div>
      </VStack>
    </form>
  );
}

function RegistrerSamtale({ garanti, oppdatert, lastInn }: SkjemaProps) {
  const id = garanti.data!.id;
  const [datoTekst, settDato] = useState("");
  const [kanal, settKanal] = useState("MOTE");
  const kommando = useKommando((kropp: { dato: string | null; kanal: string }, nokkel: string) =>
    svar(
      api.POST("/api/v1/ungdomsgarantier/{garanti_id}/samtaler", {
        params: { path: { garanti_id: id }, header: { "Idempotency-Key": nokkel, "If-Match": garanti.etag ?? "*" } },
        body: kropp as SamtaleCreate,
      }),
    ),
  );
  async function registrer(e: FormEvent) {
    e.preventDefault();
    const s = await kommando.send({ dato: lesDato(datoTekst) ?? (datoTekst.trim() || null), kanal });
    if (s) {
      oppdatert(s.data, s.etag, `Samtalen er registrert. Neste samtale senest ${dato(s.data.next_samtale_due)}.`);
      settDato("");
    }
  }
  return (
    <form onSubmit={registrer} aria-label="Registrer samtale" style={{ marginTop: "1rem" }}>
      <VStack gap="space-12">
        <Heading level="3" size="small">
          Registrer samtale
        </Heading>
        <DatoFelt label="Samtaledato" verdi={datoTekst} onChange={settDato} paakrevd />
        <Select label="Kanal" value={kanal} onChange={(e) => settKanal(e.target.value)}>
          {Object.entries(KANALER).map(([kode, tekst]) => (
            <option key={kode} value={kode}>
              {tekst}
            </option>
          ))}
        </Select>
        {kommando.feil ? <Feilvisning problem={kommando.feil} lastInn={lastInn} provIgjen={kommando.provIgjen} /> : null}
        <div>
          <Button type="submit" variant="secondary" loading={kommando.sender}>
            Registrer samtale
          </Button>
        </div>
      </VStack>
    </form>
  );
}
