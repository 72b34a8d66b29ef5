import { BodyShort, Detail, Heading, Label } from "@navikt/ds-react";
import { useId } from "react";
import type { Hendelse } from "../api/typer";
import { dato, tidspunkt } from "../format";
import {
  AVSLUTNINGSAARSAKER,
  FELTNAVN,
  FORLENGELSESAARSAKER,
  GARANTI_AVSLUTNINGSAARSAKER,
  HENDELSESTYPER,
  KANALER,
  MALGRUPPER,
  TILTAKSTYPER,
  VARIANTER,
  navn,
} from "../koder";

const DATO = /^\d{4}-\d{2}-\d{2}$/;
const TIDSPUNKT = /^\d{4}-\d{2}-\d{2}T/;

function kodetabell(type: string, felt: string): Record<string, string> | null {
  if (felt === "aarsak") {
    if (type.startsWith("Ungdomsgaranti")) return GARANTI_AVSLUTNINGSAARSAKER;
    return type === "TiltakslopForlenget" ? FORLENGELSESAARSAKER : AVSLUTNINGSAARSAKER;
  }
  if (felt === "tiltakstype" || felt === "overgang_fra_tiltakstype") return TILTAKSTYPER;
  if (felt === "variant") return VARIANTER;
  if (felt === "malgruppe" || felt === "ny_malgruppe") return MALGRUPPER;
  if (felt === "kanal") return KANALER;
  return null;
}

/** One value of an event's data as a caseworker reads it. */
export function visVerdi(type: string, felt: string, verdi: unknown): string {
  if (verdi === null || verdi === undefined) return "–";
  if (typeof verdi === "boolean") return verdi ? "Ja" : "Nei";
  if (typeof verdi === "number") return String(verdi);
  if (typeof verdi === "string") {
    if (DATO.test(verdi)) return dato(verdi);
    if (TIDSPUNKT.test(verdi)) return tidspunkt(verdi);
    const tabell = kodetabell(type, felt);
    return tabell ? navn(tabell, verdi) : verdi;
  }
  if (Array.isArray(verdi)) return verdi.map((v) => visVerdi(type, felt, v)).join(", ");
  return Object.entries(verdi as Record<string, unknown>)
    .map(([k, v]) => `${navn(FELTNAVN, k)}: ${visVerdi(type, k, v)}`)
    .join("; ");
}

function storForbokstav(t: string): string {
  return t.charAt(0).toUpperCase() + t.slice(1);
}

const SKJULT = new Set(["begrunnelse", "regelsett_id", "glemt"]); // shown elsewhere in the entry

/** "Historikk": every event, newest first, with what changed, when, who (NAV ident and office) and why. */
export function Historikkliste({ hendelser, tittel = "Historikk" }: { hendelser: Hendelse[]; tittel?: string }) {
  const id = useId();
  const nyesteForst = [...hendelser].sort((a, b) => b.versjon - a.versjon);
  return (
    <section aria-labelledby={id}>
      <Heading level="2" size="medium" id={id} spacing>
        {tittel}
      </Heading>
      {nyesteForst.length === 0 ? <BodyShort>Ingen hendelser.</BodyShort> : null}
      <ol className="konsoll-historikk" aria-labelledby={id}>
        {nyesteForst.map((h) => {
          const endringer = Object.entries(h.data).filter(([k, v]) => !SKJULT.has(k) && v !== null && v !== undefined);
          return (
            <li key={h.id}>
              <Label as="p">
                {navn(HENDELSESTYPER, h.type)} <Detail as="span">(versjon {h.versjon})</Detail>
              </Label>
              <BodyShort size="small">
                Registrert {tidspunkt(h.registrert)} av {h.aktor.nav_ident}
                {h.aktor.enhet ? `, NAV-enhet ${h.aktor.enhet}` : ""}
              </BodyShort>
              {endringer.length ? (
                <dl className="konsoll-endringer">
                  {endringer.map(([k, v]) => (
                    <div key={k} style={{ display: "contents" }}>
                      <dt>{storForbokstav(navn(FELTNAVN, k))}</dt>
                      <dd>{visVerdi(h.type, k, v)}</dd>
                    </div>
                  ))}
                </dl>
              ) : null}
              <BodyShort size="small">Begrunnelse: {h.begrunnelse || "ingen oppgitt"}</BodyShort>
              {h.data.glemt ? <Detail>Personopplysningene er slettet.</Detail> : null}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
