// Dates as caseworkers read them: dd.mm.åååå, instants in Norwegian time (Europe/Oslo).

const ISO_DATO = /^(\d{4})-(\d{2})-(\d{2})$/;
const NORSK_DATO = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/;

/** "2028-08-14" → "14.08.2028"; an absent date is a dash. The date is a calendar date: no time zone. */
export function dato(verdi: string | null | undefined): string {
  if (!verdi) return "–";
  const m = ISO_DATO.exec(verdi.slice(0, 10));
  if (!m) return verdi;
  return `${m[3]}.${m[2]}.${m[1]}`;
}

const OSLO = new Intl.DateTimeFormat("nb-NO", {
  timeZone: "Europe/Oslo",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

/** An RFC 3339 instant → "07.12.2026 kl. 14:03:09" in Norwegian time. */
export function tidspunkt(verdi: string | null | undefined): string {
  if (!verdi) return "–";
  const t = new Date(verdi);
  if (Number.isNaN(t.getTime())) return verdi;
  const del: Record<string, string> = {};
  for (const p of OSLO.formatToParts(t)) del[p.type] = p.value;
  return `${del.day}.${del.month}.${del.year} kl. ${del.hour}:${del.minute}:${del.second}`;
}

function gyldig(aar: number, maaned: number, dag: number): boolean {
  const d = new Date(Date.UTC(aar, maaned - 1, dag));
  return d.getUTCFullYear() === aar && d.getUTCMonth() === maaned - 1 && d.getUTCDate() === dag;
}

/** What a caseworker types ("14.08.2028", "14.8.2028" or "2028-08-14") → "2028-08-14"; null if it is no date. */
export function lesDato(tekst: string): string | null {
  const t = tekst.trim();
  let aar: number, maaned: number, dag: number;
  const iso = ISO_DATO.exec(t);
  const norsk = NORSK_DATO.exec(t);
  if (iso) {
    [aar, maaned, dag] = [Number(iso[1]), Number(iso[2]), Number(iso[3])];
  } else if (norsk) {
    [dag, maaned, aar] = [Number(norsk[1]), Number(norsk[2]), Number(norsk[3])];
  } else {
    return null;
  }
  if (!gyldig(aar, maaned, dag)) return null;
  return `${String(aar).padStart(4, "0")}-${String(maaned).padStart(2, "0")}-${String(dag).padStart(2, "0")}`;
}

/** Whole days from `fra` to `til` (ISO dates); negative when `til` has passed. */
export function dagerMellom(fra: string, til: string): number {
  const a = Date.parse(`${fra.slice(0, 10)}T00:00:00Z`);
  const b = Date.parse(`${til.slice(0, 10)}T00:00:00Z`);
  return Math.round((b - a) / 86_400_000);
}

/** "150850*****": the birth-date part of an identifier, never the personal number, in every list. */
export function maskerIdent(ident: string | null | undefined): string {
  if (!ident) return "–";
  return ident.length > 6 ? ident.slice(0, 6) + "*".repeat(ident.length - 6) : ident;
}

/** A list in Norwegian: "a, b og c". */
export function liste(deler: string[]): string {
  if (deler.length <= 1) return deler.join("");
  return `${deler.slice(0, -1).join(", ")} og ${deler[deler.length - 1]}`;
}
