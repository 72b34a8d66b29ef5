import { BodyShort, Button, HStack, Heading, Select, Table, TextField, VStack } from "@navikt/ds-react";
import { useState, type FormEvent } from "react";
import { api, svar } from "../api/klient";
import { DatoFelt } from "../komponenter/DatoFelt";
import { Feilvisning } from "../komponenter/Feilvisning";
import { Sidebytte } from "../komponenter/Sidebytte";
import { dato, lesDato, tidspunkt } from "../format";
import { useHent } from "../hooks";
import { VARSELTYPER, navn } from "../koder";
import { Lenke } from "../ruter";

/** "Varsler": the alerts decided for the caseworker's offices (GET /varsler), the inbox. */
export function VarslerSide() {
  const [skjema, settSkjema] = useState({ enhet: "", type: "", per: "" });
  const [filter, settFilter] = useState(skjema);
  const [markorer, settMarkorer] = useState<string[]>([]);
  const etter = markorer[markorer.length - 1];
  const side = useHent(
    () =>
      svar(
        api.GET("/api/v1/varsler", {
          params: {
            query: {
              enhet: filter.enhet ? filter.enhet.split(",").map((x) => x.trim()).filter(Boolean) : undefined,
              type: filter.type || undefined,
              per: lesDato(filter.per) ?? undefined,
              etter,
              antall: 50,
            },
          },
        }),
      ),
    [filter, etter],
  );
  function vis(e: FormEvent) {
    e.preventDefault();
    settMarkorer([]);
    settFilter({ ...skjema });
  }
  const varsler = side.data?.elementer ?? [];
  return (
    <VStack gap="space-24">
      <Heading level="1" size="large">
        Varsler
      </Heading>
      <form onSubmit={vis} aria-label="Filtre for varsler">
        <HStack gap="space-16" align="end" wrap>
          <TextField label="Enhet" description="Tom: dine enheter" htmlSize={14} value={skjema.enhet} onChange={(e) => settSkjema({ ...skjema, enhet: e.target.value })} />
          <Select label="Varseltype" value={skjema.type} onChange={(e) => settSkjema({ ...skjema, type: e.target.value })}>
            <option value="">Alle</option>
            {Object.entries(VARSELTYPER).map(([kode, tekst]) => (
              <option key={kode} value={kode}>
                {tekst}
              </option>
            ))}
          </Select>
          <DatoFelt label="Per dato" verdi={skjema.per} onChange={(v) => settSkjema({ ...skjema, per: v })} description="Tom: i dag" />
          <Button type="submit" variant="secondary">
            Vis
          </Button>
        </HStack>
      </form>
      {side.feil ? <Feilvisning problem={side.feil} /> : null}
      <Table aria-label="Varsler" size="small" zebraStripes>
        <Table.Header>
          <Table.Row>
            <Table.HeaderCell scope="col">Varsel</Table.HeaderCell>
            <Table.HeaderCell scope="col">Sak</Table.HeaderCell>
            <Table.HeaderCell scope="col">Enhet</Table.HeaderCell>
            <Table.HeaderCell scope="col">Frist</Table.HeaderCell>
            <Table.HeaderCell scope="col" align="right">Dager igjen</Table.HeaderCell>
            <Table.HeaderCell scope="col">Kontaktperson</Table.HeaderCell>
            <Table.HeaderCell scope="col">Varslet</Table.HeaderCell>
            <Table.HeaderCell scope="col">Sendt</Table.HeaderCell>
          </Table.Row>
        </Table.Header>
        <Table.Body>
          {varsler.map((v) => (
            <Table.Row key={v.varsel_id}>
              <Table.DataCell>{navn(VARSELTYPER, v.type)}</Table.DataCell>
              <Table.DataCell>
                <Lenke til={v.aggregat === "tiltakslop" ? `/tiltakslop/${v.aggregat_id}` : `/ungdomsgarantier/${v.aggregat_id}`}>
                  {v.aggregat === "tiltakslop" ? "Tiltaksløp" : "Ungdomsgaranti"}
                </Lenke>
              </Table.DataCell>
              <Table.DataCell>{v.nav_enhet}</Table.DataCell>
              <Table.DataCell>{dato(v.frist)}</Table.DataCell>
              <Table.DataCell align="right">{v.dager_igjen}</Table.DataCell>
              <Table.DataCell>{v.kontaktperson ?? "–"}</Table.DataCell>
              <Table.DataCell>
                {dato(v.per)}
                {v.forsinket ? " (forsinket)" : ""}
              </Table.DataCell>
              <Table.DataCell>{v.publisert ? tidspunkt(v.publisert) : "Ikke sendt ennå"}</Table.DataCell>
            </Table.Row>
          ))}
        </Table.Body>
      </Table>
      {!side.laster && !side.feil && varsler.length === 0 ? <BodyShort>Ingen varsler.</BodyShort> : null}
      <Sidebytte
        harForrige={markorer.length > 0}
        neste={!!side.data?.neste}
        forrige={() => settMarkorer(markorer.slice(0, -1))}
        videre={() => side.data?.neste && settMarkorer([...markorer, side.data.neste])}
      />
    </VStack>
  );
}
