import { BodyShort, Button, HStack, Heading, Table, TextField, VStack } from "@navikt/ds-react";
import { useState, type FormEvent } from "react";
import { api, svar } from "../api/klient";
import { Feilvisning } from "../komponenter/Feilvisning";
import { Sidebytte } from "../komponenter/Sidebytte";
import { tidspunkt } from "../format";
import { useHent } from "../hooks";
import { Lenke } from "../ruter";

/** "Innsyn": who read which person's data, when and through which endpoint (GET /revisjon/innsyn). */
export function InnsynSide() {
  const [skjema, settSkjema] = useState({ nav_ident: "", person_pseudonym: "", fra: "", til: "" });
  const [filter, settFilter] = useState(skjema);
  const [markorer, settMarkorer] = useState<string[]>([]);
  const etter = markorer[markorer.length - 1];
  const side = useHent(
    () =>
      svar(
        api.GET("/api/v1/revisjon/innsyn", {
          params: {
            query: {
              nav_ident: filter.nav_ident.trim() || undefined,
              person_pseudonym: filter.person_pseudonym.trim() || undefined,
              fra: filter.fra.trim() || undefined,
              til: filter.til.trim() || undefined,
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
  const rader = side.data?.elementer ?? [];
  return (
    <VStack gap="space-24">
      <Heading level="1" size="large">
        Innsyn
      </Heading>
      <BodyShort>Hvem som har lest hvilken persons opplysninger, når og gjennom hvilket endepunkt.</BodyShort>
      <form onSubmit={vis} aria-label="Filtre for innsyn">
        <HStack gap="space-16" align="end" wrap>
          <TextField label="Lest av (NAV-ident)" htmlSize={10} value={skjema.nav_ident} onChange={(e) => settSkjema({ ...skjema, nav_ident: e.target.value })} />
          <TextField label="Personpseudonym" htmlSize={24} value={skjema.person_pseudonym} onChange={(e) => settSkjema({ ...skjema, person_pseudonym: e.target.value })} />
          <TextField label="Lest fra" description="Tidspunkt, f.eks. 2025-03-01T00:00:00Z" htmlSize={22} value={skjema.fra} onChange={(e) => settSkjema({ ...skjema, fra: e.target.value })} />
          <TextField label="Lest til" description="Tidspunkt" htmlSize={22} value={skjema.til} onChange={(e) => settSkjema({ ...skjema, til: e.target.value })} />
          <Button type="submit" variant="secondary">
            Vis
          </Button>
        </HStack>
      </form>
      {side.feil ? <Feilvisning problem={side.feil} /> : null}
      <Table aria-label="Innsyn" size="small" zebraStripes>
        <Table.Header>
          <Table.Row>
            <Table.HeaderCell scope="col">Tidspunkt</Table.HeaderCell>
            <Table.HeaderCell scope="col">Lest av</Table.HeaderCell>
            <Table.HeaderCell scope="col">Rolle</Table.HeaderCell>
            <Table.HeaderCell scope="col">Person (pseudonym)</Table.HeaderCell>
            <Table.HeaderCell scope="col">Endepunkt</Table.HeaderCell>
            <Table.HeaderCell scope="col">Sak</Table.HeaderCell>
          </Table.Row>
        </Table.Header>
        <Table.Body>
          {rader.map((r) => (
            <Table.Row key={r.nr}>
              <Table.DataCell>{tidspunkt(r.tidspunkt)}</Table.DataCell>
              <Table.DataCell>{r.nav_ident}</Table.DataCell>
              <Table.DataCell>{r.roller.join(", ")}</Table.DataCell>
              <Table.DataCell>
                <span title={r.person_pseudonym}>{r.person_pseudonym.slice(0, 12)}…</span>
              </Table.DataCell>
              <Table.DataCell>{r.endepunkt}</Table.DataCell>
              <Table.DataCell>
                {r.aggregat && r.aggregat_id ? (
                  <Lenke til={`/historikk/${r.aggregat}/${r.aggregat_id}`}>{r.aggregat_id.slice(0, 8)}</Lenke>
                ) : (
                  "–"
                )}
              </Table.DataCell>
            </Table.Row>
          ))}
        </Table.Body>
      </Table>
      {!side.laster && !side.feil && rader.length === 0 ? <BodyShort>Ingen oppslag.</BodyShort> : null}
      <Sidebytte
        harForrige={markorer.length > 0}
        neste={!!side.data?.neste}
        forrige={() => settMarkorer(markorer.slice(0, -1))}
        videre={() => side.data?.neste && settMarkorer([...markorer, side.data.neste])}
      />
    </VStack>
  );
}
