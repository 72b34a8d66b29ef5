import { Button, HStack, Heading, Loader, Select, TextField, VStack } from "@navikt/ds-react";
import { useState, type FormEvent } from "react";
import { api, svar, type Svar } from "../api/klient";
import type { Historikk } from "../api/typer";
import { Fakta } from "../komponenter/Fakta";
import { Feilvisning } from "../komponenter/Feilvisning";
import { Historikkliste } from "../komponenter/Historikkliste";
import { dato } from "../format";
import { useHent } from "../hooks";
import { STATUSER, navn } from "../koder";
import { Lenke, naviger, useSted } from "../ruter";

function hentHistorikk(aggregat: string, id: string): Promise<Svar<Historikk>> {
  return aggregat === "ungdomsgaranti"
    ? svar(api.GET("/api/v1/ungdomsgarantier/{garanti_id}/historikk", { params: { path: { garanti_id: id } } }))
    : svar(api.GET("/api/v1/tiltakslop/{lop_id}/historikk", { params: { path: { lop_id: id } } }));
}

/** Any aggregate's whole history for an auditor, and its state as the system knew it at an instant. */
export function AggregatHistorikkSide({ aggregat, id }: { aggregat?: string; id?: string }) {
  const { sok } = useSted();
  const [skjema, settSkjema] = useState({ aggregat: aggregat ?? "tiltakslop", id: id ?? sok.get("id") ?? "" });
  function vis(e: FormEvent) {
    e.preventDefault();
    if (skjema.id.trim()) naviger(`/historikk/${skjema.aggregat}/${skjema.id.trim()}`);
  }
  return (
    <VStack gap="space-24">
      <Heading level="1" size="large">
        Historikk for en sak
      </Heading>
      <form onSubmit={vis} aria-label="Velg sak">
        <HStack gap="space-16" align="end" wrap>
          <Select label="Type sak" value={skjema.aggregat} onChange={(e) => settSkjema({ ...skjema, aggregat: e.target.value })}>
            <option value="tiltakslop">Tiltaksløp</option>
            <option value="ungdomsgaranti">Ungdomsgaranti</option>
          </Select>
          <TextField label="Saksnummer" htmlSize={38} value={skjema.id} onChange={(e) => settSkjema({ ...skjema, id: e.target.value })} />
          <Button type="submit" variant="secondary">
            Vis historikk
          </Button>
        </HStack>
      </form>
      {aggregat && id ? <Visning aggregat={aggregat} id={id} /> : null}
    </VStack>
  );
}

function Visning({ aggregat, id }: { aggregat: string; id: string }) {
  const historikk = useHent(() => hentHistorikk(aggregat, id), [aggregat, id]);
  const [kjentPer, settKjentPer] = useState("");
  const [instant, settInstant] = useState<string | null>(null);
  return (
    <VStack gap="space-24">
      <HStack gap="space-16">
        <Lenke til={aggregat === "ungdomsgaranti" ? `/ungdomsgarantier/${id}` : `/tiltakslop/${id}`}>Åpne saken</Lenke>
      </HStack>
      <form
        aria-label="Tilstand kjent per"
        onSubmit={(e) => {
          e.preventDefault();
          settInstant(kjentPer.trim() || null);
        }}
      >
        <HStack gap="space-16" align="end" wrap>
          <TextField label="Kjent per" description="Tidspunkt, f.eks. 2025-03-01T12:00:00Z" htmlSize={26} value={kjentPer} onChange={(e) => settKjentPer(e.target.value)} />
          <Button type="submit" variant="secondary">
            Vis tilstand
          </Button>
        </HStack>
      </form>
      {instant ? <KjentTilstand aggregat={aggregat} id={id} kjentPer={instant} /> : null}
      {historikk.feil ? <Feilvisning problem={historikk.feil} /> : null}
      {historikk.laster ? <Loader title="Laster historikken" /> : null}
      {historikk.data ? <Historikkliste hendelser={historikk.data.elementer} /> : null}
    </VStack>
  );
}

function KjentTilstand({ aggregat, id, kjentPer }: { aggregat: string; id: string; kjentPer: string }) {
  const tilstand = useHent<{ status: string; versjon: number; fom: string; tom: string | null }>(
    () =>
      aggregat === "ungdomsgaranti"
        ? svar(api.GET("/api/v1/ungdomsgarantier/{garanti_id}", { params: { path: { garanti_id: id }, query: { kjent_per: kjentPer } } }))
        : svar(api.GET("/api/v1/tiltakslop/{lop_id}", { params: { path: { lop_id: id }, query: { kjent_per: kjentPer } } })),
    [aggregat, id, kjentPer],
  );
  if (tilstand.feil) return <Feilvisning problem={tilstand.feil} />;
  if (!tilstand.data) return <Loader title="Laster tilstanden" />;
  const t = tilstand.data;
  return (
    <Fakta
      etikett={`Tilstand kjent per ${kjentPer}`}
      rader={[
        ["Kjent per", kjentPer],
        ["Versjon", t.versjon],
        ["Status", navn(STATUSER, t.status)],
        ["Periode", `${dato(t.fom)} – ${dato(t.tom)}`],
      ]}
    />
  );
}
