import { Alert, BodyShort, Button, HStack, Heading, Select, Table, Tag, TextField, VStack } from "@navikt/ds-react";
import { useState, type FormEvent } from "react";
import { api, sisteSkrevnePosisjon, svar } from "../api/klient";
import type { FristRad } from "../api/typer";
import { DatoFelt } from "../komponenter/DatoFelt";
import { Feilvisning } from "../komponenter/Feilvisning";
import { dato, lesDato, maskerIdent } from "../format";
import { FRISTNAVN, nesteFrist } from "../frister";
import { useHent } from "../hooks";
import { TILTAKSTYPER, VARIANTER, VARSELTYPER, navn } from "../koder";
import { Lenke, naviger, useSted } from "../ruter";

const SIDESTORRELSE = 25;

function lenkeTil(rad: FristRad): string {
  return rad.aggregat === "tiltakslop" ? `/tiltakslop/${rad.aggregat_id}` : `/ungdomsgarantier/${rad.aggregat_id}`;
}

function tiltak(rad: FristRad): string {
  if (rad.aggregat === "ungdomsgaranti") return "Ungdomsgaranti";
  const t = navn(TILTAKSTYPER, rad.tiltakstype);
  return rad.variant ? `${t}: ${navn(VARIANTER, rad.variant)}` : t;
}

function sluttdato(rad: FristRad): string | null {
  return rad.aggregat === "tiltakslop" ? rad.sluttdato ?? rad.tom : rad.tom;
}

/** The deadline board (GET /frister): filters in the address, so a view can be shared; paged by cursor. */
export function FristerSide() {
  const { sok } = useSted();
  const filter = {
    enhet: sok.getAll("enhet"),
    type: sok.get("type") ?? "",
    fra: sok.get("fra") ?? "",
    til: sok.get("til") ?? "",
    per: sok.get("per") ?? "",
    kjent_per: sok.get("kjent_per") ?? "",
  };
  const [skjema, settSkjema] = useState({
    enhet: filter.enhet.join(", "),
    type: filter.type,
    fra: filter.fra ? dato(filter.fra) : "",
    til: filter.til ? dato(filter.til) : "",
    per: filter.per ? dato(filter.per) : "",
    kjent_per: filter.kjent_per,
  });
  const [markorer, settMarkorer] = useState<string[]>([]); // the cursors of the pages before this one
  const etter = markorer[markorer.length - 1];
  const nokkel = sok.toString();

  const side = useHent(
    () =>
      svar(
        api.GET("/api/v1/frister", {
          params: {
            query: {
              enhet: filter.enhet.length ? filter.enhet : undefined,
              type: filter.type || undefined,
              fra: filter.fra || undefined,
              til: filter.til || undefined,
              per: filter.per || undefined,
              kjent_per: filter.kjent_per || undefined,
              etter,
              antall: SIDESTORRELSE,
              min_posisjon: filter.kjent_per ? undefined : sisteSkrevnePosisjon() ?? undefined,
            },
          },
        }),
      ),
    [nokkel, etter],
  );

  function vis(e: FormEvent) {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const enhet of skjema.enhet.split(",").map((x) => x.trim()).filter(Boolean)) q.append("enhet", enhet);
    if (skjema.type) q.set("type", skjema.type);
    for (const felt of ["fra", "til", "per"] as const) {
      const d = lesDato(skjema[felt]);
      if (d) q.set(felt, d);
    }
    if (skjema.kjent_per.trim()) q.set("kjent_per", skjema.kjent_per.trim());
    settMarkorer([]);
    naviger(`/frister${q.toString() ? `?${q}` : ""}`);
  }

  const rader = (side.data?.elementer ?? []) as FristRad[];
  return (
    <VStack gap="space-24">
      <Heading level="1" size="large">
        Frister
      </Heading>
      <form onSubmit={vis} aria-label="Filtre for frister">
        <HStack gap="space-16" align="end" wrap>
          <TextField
            label="Enhet"
            description="Tom: dine enheter"
            htmlSize={14}
            value={skjema.enhet}
            onChange={(e) => settSkjema({ ...skjema, enhet: e.target.value })}
          />
          <Select label="Varseltype" value={skjema.type} onChange={(e) => settSkjema({ ...skjema, type: e.target.value })}>
            <option value="">Alle</option>
            {Object.entries(VARSELTYPER).map(([kode, tekst]) => (
              <option key={kode} value={kode}>
                {tekst}
              </option>
            ))}
          </Select>
          <DatoFelt label="Fra" verdi={skjema.fra} onChange={(v) => settSkjema({ ...skjema, fra: v })} description="Frist fra og med" />
          <DatoFelt label="Til" verdi={skjema.til} onChange={(v) => settSkjema({ ...skjema, til: v })} description="Frist til og med" />
          <DatoFelt label="Per dato" verdi={skjema.per} onChange={(v) => settSkjema({ ...skjema, per: v })} description="Tom: i dag" />
          <TextField
            label="Kjent per"
            description="Tidspunkt, f.eks. 2025-03-01T12:00:00Z"
            htmlSize={24}
            value={skjema.kjent_per}
            onChange={(e) => settSkjema({ ...skjema, kjent_per: e.target.value })}
          />
          <Button type="submit" variant="secondary">
            Vis
          </Button>
        </HStack>
      </form>
      {filter.kjent_per ? (
        <Alert variant="info" size="small">
          Oversikten slik systemet kjente den {filter.kjent_per}.
        </Alert>
      ) : null}
      {side.feil ? <Feilvisning problem={side.feil} /> : null}
      <Table aria-label="Frister" size="small" zebraStripes>
        <Table.Header>
          <Table.Row>
            <Table.HeaderCell scope="col">Person</Table.HeaderCell>
            <Table.HeaderCell scope="col">Tiltak</Table.HeaderCell>
            <Table.HeaderCell scope="col">Enhet</Table.HeaderCell>
            <Table.HeaderCell scope="col">Sluttdato</Table.HeaderCell>
            <Table.HeaderCell scope="col">Frist</Table.HeaderCell>
            <Table.HeaderCell scope="col">Varsel</Table.HeaderCell>
            <Table.HeaderCell scope="col" align="right">
              Dager igjen
            </Table.HeaderCell>
          </Table.Row>
        </Table.Header>
        <Table.Body>
          {rader.map((rad) => {
            const frist = nesteFrist(rad, filter.type || null);
            return (
              <Table.Row key={rad.aggregat_id}>
                <Table.DataCell className="konsoll-tall">{maskerIdent(rad.person.ident)}</Table.DataCell>
                <Table.DataCell>
                  <Lenke til={lenkeTil(rad)}>{tiltak(rad)}</Lenke>
                </Table.DataCell>
                <Table.DataCell>{rad.nav_enhet}</Table.DataCell>
                <Table.DataCell>{dato(sluttdato(rad))}</Table.DataCell>
                <Table.DataCell>
                  {frist ? `${dato(frist.dato)}${frist.type && FRISTNAVN[frist.type] ? ` (${FRISTNAVN[frist.type]})` : ""}` : "–"}
                </Table.DataCell>
                <Table.DataCell>
                  {rad.open_alerts.length ? (
                    <HStack gap="space-4" wrap>
                      {rad.open_alerts.map((t) => (
                        <Tag key={t} size="small" variant="warning">
                          {navn(VARSELTYPER, t)}
                        </Tag>
                      ))}
                    </HStack>
                  ) : (
                    "Ingen"
                  )}
                </Table.DataCell>
                <Table.DataCell align="right" className="konsoll-tall">
                  {frist ? frist.dagerIgjen : "–"}
                </Table.DataCell>
              </Table.Row>
            );
          })}
        </Table.Body>
      </Table>
      {!side.laster && !side.feil && rader.length === 0 ? <BodyShort>Ingen åpne saker med disse filtrene.</BodyShort> : null}
      <HStack gap="space-8">
        <Button
          variant="secondary"
          size="small"
          type="button"
          disabled={markorer.length === 0}
          onClick={() => settMarkorer(markorer.slice(0, -1))}
        >
          Forrige side
        </Button>
        <Button
          variant="secondary"
          size="small"
          type="button"
          disabled={!side.data?.neste}
          onClick={() => side.data?.neste && settMarkorer([...markorer, side.data.neste])}
        >
          Neste side
        </Button>
      </HStack>
    </VStack>
  );
}
