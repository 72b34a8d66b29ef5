import { Alert, BodyShort, Button, Heading, Loader, Table, VStack } from "@navikt/ds-react";
import { api, svar } from "../api/klient";
import { Feilvisning } from "../komponenter/Feilvisning";
import { tidspunkt } from "../format";
import { useHent } from "../hooks";
import { Lenke } from "../ruter";

const GRUNNER: Record<string, string> = {
  LINK_MISMATCH: "Lenken stemmer ikke med hendelsen (endret eller byttet ut)",
  LINK_MISSING: "Hendelsen mangler lenke",
  VERSION_GAP: "En versjon mangler i kjeden",
  SIGNATURE_INVALID: "Signaturen er ugyldig",
  UNKNOWN_KEY: "Ukjent signeringsnøkkel",
  CHECKPOINT_ALTERED: "Sjekkpunktet er endret",
  LOG_CHANGED: "Loggen er endret siden sjekkpunktet ble signert",
  SEQUENCE_GAP: "Et sjekkpunkt mangler",
};

/** "Verifisering": every hash chain and signed checkpoint (GET /revisjon/verifisering). */
export function VerifiseringSide() {
  const v = useHent(() => svar(api.GET("/api/v1/revisjon/verifisering")), []);
  return (
    <VStack gap="space-24">
      <Heading level="1" size="large">
        Verifisering
      </Heading>
      {v.feil ? <Feilvisning problem={v.feil} /> : null}
      {v.laster ? <Loader title="Verifiserer loggen" /> : null}
      {v.data && !v.laster ? (
        v.data.ok ? (
          <Alert variant="success" role="status">
            <Heading level="2" size="small">
              OK
            </Heading>
            <BodyShort>
              Alle {v.data.hendelser} hendelser i {v.data.strommer} kjeder og {v.data.sjekkpunkter} signerte sjekkpunkter
              holder (til og med posisjon {v.data.til_posisjon}).
            </BodyShort>
          </Alert>
        ) : (
          <Alert variant="error" role="alert">
            <Heading level="2" size="small">
              Kjeden er brutt
            </Heading>
            <BodyShort>
              {v.data.antall_lenkefeil === 1 ? "1 hendelse holder" : `${v.data.antall_lenkefeil} hendelser holder`} ikke lenken sin
              {v.data.sjekkpunktfeil.length ? `, og ${v.data.sjekkpunktfeil.length} sjekkpunkter feiler` : ""}.
            </BodyShort>
            {v.data.lenkefeil[0] ? (
              <BodyShort>
                Første brudd: aggregat {v.data.lenkefeil[0].aggregat_id}, versjon {v.data.lenkefeil[0].versjon}.
              </BodyShort>
            ) : null}
          </Alert>
        )
      ) : null}
      {v.data && v.data.lenkefeil.length ? (
        <Table aria-label="Brudd i kjeden" size="small">
          <Table.Header>
            <Table.Row>
              <Table.HeaderCell scope="col">Aggregat</Table.HeaderCell>
              <Table.HeaderCell scope="col" align="right">Versjon</Table.HeaderCell>
              <Table.HeaderCell scope="col" align="right">Posisjon</Table.HeaderCell>
              <Table.HeaderCell scope="col">Grunn</Table.HeaderCell>
            </Table.Row>
          </Table.Header>
          <Table.Body>
            {v.data.lenkefeil.map((f) => (
              <Table.Row key={`${f.aggregat_id}-${f.versjon}`}>
                <Table.DataCell>
                  <Lenke til={`/historikk?id=${f.aggregat_id}`}>{f.aggregat_id}</Lenke>
                </Table.DataCell>
                <Table.DataCell align="right">{f.versjon}</Table.DataCell>
                <Table.DataCell align="right">{f.posisjon}</Table.DataCell>
                <Table.DataCell>{GRUNNER[f.grunn] ?? f.grunn}</Table.DataCell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table>
      ) : null}
      {v.data && v.data.sjekkpunktfeil.length ? (
        <Table aria-label="Sjekkpunkter som feiler" size="small">
          <Table.Header>
            <Table.Row>
              <Table.HeaderCell scope="col" align="right">Sjekkpunkt</Table.HeaderCell>
              <Table.HeaderCell scope="col" align="right">Posisjon</Table.HeaderCell>
              <Table.HeaderCell scope="col">Grunner</Table.HeaderCell>
            </Table.Row>
          </Table.Header>
          <Table.Body>
            {v.data.sjekkpunktfeil.map((f) => (
              <Table.Row key={f.nr}>
                <Table.DataCell align="right">{f.nr}</Table.DataCell>
                <Table.DataCell align="right">{f.posisjon}</Table.DataCell>
                <Table.DataCell>{f.grunner.map((g) => GRUNNER[g] ?? g).join("; ")}</Table.DataCell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table>
      ) : null}
      {v.data?.siste_sjekkpunkt ? (
        <BodyShort size="small">
          Siste signerte sjekkpunkt: nr. {v.data.siste_sjekkpunkt.nr}, posisjon {v.data.siste_sjekkpunkt.posisjon}, laget{" "}
          {tidspunkt(v.data.siste_sjekkpunkt.opprettet)} ({v.data.algoritme}).
        </BodyShort>
      ) : null}
      <div>
        <Button variant="secondary" type="button" onClick={v.lastInn} loading={v.laster}>
          Verifiser på nytt
        </Button>
      </div>
    </VStack>
  );
}
