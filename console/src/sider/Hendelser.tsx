import { BodyShort, Heading, Table, VStack } from "@navikt/ds-react";
import { useState } from "react";
import { api, svar } from "../api/klient";
import { Feilvisning } from "../komponenter/Feilvisning";
import { Sidebytte } from "../komponenter/Sidebytte";
import { tidspunkt } from "../format";
import { useHent } from "../hooks";
import { HENDELSESTYPER, navn } from "../koder";
import { Lenke } from "../ruter";

const SIDESTORRELSE = 50;

/** "Hendelser": the global event feed (GET /hendelser), paged by position. */
export function HendelserSide() {
  const [posisjoner, settPosisjoner] = useState<number[]>([0]); // `etter` of each page seen
  const etter = posisjoner[posisjoner.length - 1]!;
  const side = useHent(
    () => svar(api.GET("/api/v1/hendelser", { params: { query: { etter, antall: SIDESTORRELSE } } })),
    [etter],
  );
  const hendelser = side.data?.elementer ?? [];
  return (
    <VStack gap="space-24">
      <Heading level="1" size="large">
        Hendelser
      </Heading>
      <BodyShort>Alle lagrede hendelser i rekkefølge, slik de publiseres til andre systemer.</BodyShort>
      {side.feil ? <Feilvisning problem={side.feil} /> : null}
      <Table aria-label="Hendelser" size="small" zebraStripes>
        <Table.Header>
          <Table.Row>
            <Table.HeaderCell scope="col" align="right">Posisjon</Table.HeaderCell>
            <Table.HeaderCell scope="col">Tidspunkt</Table.HeaderCell>
            <Table.HeaderCell scope="col">Type</Table.HeaderCell>
            <Table.HeaderCell scope="col">Aggregat</Table.HeaderCell>
            <Table.HeaderCell scope="col" align="right">Versjon</Table.HeaderCell>
            <Table.HeaderCell scope="col">Aktør</Table.HeaderCell>
          </Table.Row>
        </Table.Header>
        <Table.Body>
          {hendelser.map((h) => (
            <Table.Row key={h.id}>
              <Table.DataCell align="right" className="konsoll-tall">{h.posisjon}</Table.DataCell>
              <Table.DataCell>{tidspunkt(h.registrert)}</Table.DataCell>
              <Table.DataCell>{navn(HENDELSESTYPER, h.type)}</Table.DataCell>
              <Table.DataCell>
                {h.aggregat === "tiltakslop" || h.aggregat === "ungdomsgaranti" ? (
                  <Lenke til={`/historikk/${h.aggregat}/${h.aggregat_id}`}>
                    {h.aggregat === "tiltakslop" ? "Tiltaksløp" : "Ungdomsgaranti"} {h.aggregat_id.slice(0, 8)}
                  </Lenke>
                ) : (
                  `${h.aggregat} ${h.aggregat_id.slice(0, 8)}`
                )}
              </Table.DataCell>
              <Table.DataCell align="right">{h.versjon}</Table.DataCell>
              <Table.DataCell>
                {h.aktor.nav_ident}
                {h.aktor.enhet ? ` (${h.aktor.enhet})` : ""}
              </Table.DataCell>
            </Table.Row>
          ))}
        </Table.Body>
      </Table>
      {!side.laster && !side.feil && hendelser.length === 0 ? <BodyShort>Ingen flere hendelser.</BodyShort> : null}
      <Sidebytte
        harForrige={posisjoner.length > 1}
        neste={hendelser.length === SIDESTORRELSE}
        forrige={() => settPosisjoner(posisjoner.slice(0, -1))}
        videre={() => side.data && settPosisjoner([...posisjoner, side.data.neste])}
      />
    </VStack>
  );
}
