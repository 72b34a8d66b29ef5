// The deadline of a board row: which alert's `frist` (rules.md §8.5) it shows, and when.
import type { FristRad } from "./api/typer";
import { dagerMellom } from "./format";

/** Every alert type's `frist` for the row (null where the row has none). */
export function fristerFor(rad: FristRad): Record<string, string | null> {
  if (rad.aggregat === "ungdomsgaranti") return { ...rad.frister };
  return {
    TOM_NAERMER_SEG: rad.tom,
    CAP_NAERMER_SEG: rad.total_cap_tom,
    VURDERING_FORFALLER: rad.next_review_due,
    VURDERING_FORFALT: rad.next_review_due,
    RATE_ENDRES: rad.next_rate_change_date,
  };
}

export interface Frist {
  type: string | null;
  dato: string;
  dagerIgjen: number;
  varsel: boolean; // an open alert's deadline, or only the next deadline ahead
}

/** What a deadline is, by the alert type whose `frist` it is. */
export const FRISTNAVN: Record<string, string> = {
  TOM_NAERMER_SEG: "sluttdato",
  CAP_NAERMER_SEG: "makstid",
  VURDERING_FORFALLER: "vurdering",
  VURDERING_FORFALT: "vurdering",
  RATE_ENDRES: "satsendring",
  KONTAKTPERSON_MANGLER: "kontaktperson",
  SAMTALE_FORFALLER: "samtale",
  SAMTALE_FORFALT: "samtale",
  ALDERSGRENSE_NAERMER_SEG: "30 år",
};

/** The deadline to show: the filtered alert type's; else the earliest of the open alerts'; else the next
 * deadline still ahead of the business date. */
export function nesteFrist(rad: FristRad, type?: string | null): Frist | null {
  const alle = fristerFor(rad);
  const lag = (t: string | null, d: string): Frist => ({ type: t, dato: d, dagerIgjen: dagerMellom(rad.per, d), varsel: true });
  if (type) {
    const d = alle[type];
    return d ? lag(type, d) : null;
  }
  const apne = rad.open_alerts
    .map((t) => [t, alle[t]] as const)
    .filter((x): x is readonly [string, string] => !!x[1])
    .sort((a, b) => a[1].localeCompare(b[1]));
  if (apne[0]) return lag(apne[0][0], apne[0][1]);
  const fremover = Object.entries(alle)
    .filter((x): x is [string, string] => !!x[1] && x[1] >= rad.per)
    .sort((a, b) => a[1].localeCompare(b[1]));
  return fremover[0] ? { ...lag(fremover[0][0], fremover[0][1]), varsel: false } : null;
}
