// A refusal from the API (application/problem+json, contract.md §2) in Norwegian, naming the limit that
// explains it (`max_tom`, `max_prosent`, ...). One message per code: tests/console/test_feilmeldinger.py
// fails when the backend can answer a code that has none here.

import { dato, liste } from "./format";
import { FELTNAVN, FORLENGELSESAARSAKER, MALGRUPPER, navn } from "./koder";

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  code: string;
  detail?: string | null;
  instance?: string | null;
  correlation_id?: string | null;
  [grense: string]: unknown;
}

function tekst(p: Problem, felt: string): string | null {
  const v = p[felt];
  return typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : null;
}

function tekster(p: Problem, felt: string): string[] {
  const v = p[felt];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

function feltnavn(p: Problem): string | null {
  const felt = tekst(p, "felt");
  return felt ? navn(FELTNAVN, felt) : null;
}

/** " mellom 01.01.2025 og 30.06.2025" / " etter 30.06.2025" / "" from min_dato, max_dato, min_tom. */
function datoGrenser(p: Problem): string {
  const min = tekst(p, "min_dato") ?? tekst(p, "min_tom");
  const maks = tekst(p, "max_dato");
  if (min && maks) return ` Datoen må ligge mellom ${dato(min)} og ${dato(maks)}.`;
  if (tekst(p, "min_tom")) return ` Ny sluttdato må være etter ${dato(tekst(p, "min_tom"))}.`;
  if (min) return ` Datoen kan ikke være før ${dato(min)}.`;
  if (maks) return ` Datoen kan ikke være etter ${dato(maks)}.`;
  return "";
}

type Melding = (p: Problem) => string;

export const MELDINGER: Record<string, Melding> = {
  // Tiltaksløp (rules.md §7.2)
  AGE_BELOW_MINIMUM: (p) => {
    const min = tekst(p, "min_alder");
    const alder = tekst(p, "alder");
    if (min) return `Personen er for ung for tiltaket: må ha fylt ${min} år på startdatoen${alder ? ` (er ${alder})` : ""}.`;
    const fom = tekst(p, "min_fom");
    return fom
      ? `Personen er for ung: ungdomsgarantien kan tidligst starte ${dato(fom)} (16-årsdagen).`
      : "Personen er for ung for tiltaket på startdatoen.";
  },
  AGE_ABOVE_MAXIMUM: (p) => {
    const maks = tekst(p, "maks_alder");
    if (maks) return `Personen er over aldersgrensen for tiltaket (${maks} år) på startdatoen.`;
    const fom = tekst(p, "max_fom");
    return fom
      ? `Personen er for gammel: ungdomsgarantien må starte senest ${dato(fom)} (dagen før 30-årsdagen).`
      : "Personen er over aldersgrensen på startdatoen.";
  },
  PARENTAL_CONSENT_REQUIRED: () =>
    "Personen er under 18 år på startdatoen: samtykke fra begge foreldre må være gitt.",
  TARGET_GROUP_NOT_ELIGIBLE: (p) => {
    const tillatt = tekster(p, "tillatte_malgrupper").map((m) => navn(MALGRUPPER, m).toLowerCase());
    return `Målgruppen kan ikke få dette tiltaket.${tillatt.length ? ` Tiltaket krever ${liste(tillatt)}.` : ""}`;
  },
  INVALID_DATE_RANGE: (p) => {
    const felt = feltnavn(p);
    return `Datoene henger ikke sammen${felt ? ` (${felt})` : ""}: fra og med må være før til og med, og en ny sluttdato må komme etter den nåværende.${datoGrenser(p)}`;
  },
  EXCEEDS_BASE_DURATION: (p) =>
    `Sluttdatoen er for sen for en innvilgelse: grunnperioden går til og med ${dato(tekst(p, "max_tom"))}. Lengre varighet gis som forlengelse.`,
  EXTENSION_REASON_REQUIRED: () => "Velg en årsak til forlengelsen.",
  EXCEEDS_MAX_DURATION: (p) =>
    `Kan ikke forlenges lenger enn til ${dato(tekst(p, "max_tom"))} (tiltakets samlede makstid).`,
  EXTENSION_REASON_NOT_ALLOWED: (p) => {
    const maks = tekst(p, "max_tom");
    const grunner = tekster(p, "tillatte_grunner").map((g) => navn(FORLENGELSESAARSAKER, g).toLowerCase());
    if (maks) return `Årsaken gir bare forlengelse til og med ${dato(maks)}.${grunner.length ? ` Tillatte årsaker: ${liste(grunner)}.` : ""}`;
    return grunner.length
      ? `Årsaken er ikke tillatt for denne forlengelsen. Tillatte årsaker: ${liste(grunner)}.`
      : "Tiltaket kan ikke forlenges med denne årsaken.";
  },
  BEGRUNNELSE_REQUIRED: () => "Skriv en begrunnelse: den er påkrevd for dette valget.",
  LOP_CLOSED: () => "Tiltaksløpet er avsluttet eller annullert. Bare korrigering er mulig.",
  BEFORE_SCHEME_START: (p) => {
    const fom = tekst(p, "min_fom");
    return fom ? `Ordningen har ikke startet: tidligste startdato er ${dato(fom)}.` : "Ordningen har ikke startet på startdatoen.";
  },
  AFTER_SCHEME_END: (p) => `Ordningen er slutt: sluttdatoen kan ikke være senere enn ${dato(tekst(p, "max_tom"))}.`,
  OUTSIDE_PILOT_AREA: (p) => {
    const fylker = tekster(p, "fylker");
    return `Forsøket gjelder ikke denne NAV-enheten.${fylker.length ? ` Det gjelder enheter i fylkene ${liste(fylker)}.` : ""}`;
  },
  OVERLAPPING_EXCLUSIVE_MEASURE: () =>
    "Personen har et annet tiltaksløp i perioden som ikke kan kombineres med dette (AFT og ordinær utdanning utelukker hverandre).",
  OVERLAPPING_MEASURE: () => "Personen har et annet tiltaksløp i samme periode, og de to kan ikke overlappe.",
  CORRECTION_VIOLATES_CAP: (p) =>
    `Korrigeringen ville bryte makstiden: sluttdatoen kan ikke være senere enn ${dato(tekst(p, "max_tom"))}. Korriger sluttdatoen i samme korrigering.`,
  RATE_ABOVE_MAXIMUM: (p) => `Tilskuddssatsen er for høy: høyst ${tekst(p, "max_prosent") ?? "–"} % for perioden.`,
  LEAVE_TOO_LONG: (p) => `Permisjonen er for lang: den kan vare til og med ${dato(tekst(p, "max_tom"))} (høyst et halvt år).`,
  // Ungdomsgaranti (rules.md §5.2)
  ALREADY_ACTIVE: () => "Personen har allerede en aktiv ungdomsgaranti.",
  GUARANTEE_CLOSED: (p) => {
    const tom = tekst(p, "avsluttet_tom");
    return `Ungdomsgarantien er avsluttet${tom ? ` (til og med ${dato(tom)})` : ""}. Bare korrigering er mulig.`;
  },
  NEED_ASSESSMENT_REQUIRED: () =>
    "Ungdomsgarantien krever en henvisning til vedtaket om bistandsbehov (§ 14 a).",
  // The HTTP API's own codes (contract.md §2)
  INVALID_REQUEST: (p) => {
    const felt = feltnavn(p);
    return `Noe i skjemaet er ugyldig${felt ? ` (${felt})` : ""}. Sjekk feltene og prøv igjen.`;
  },
  UNAUTHENTICATED: () => "Du er ikke logget inn, eller innloggingen har utløpt. Logg inn på nytt.",
  FORBIDDEN: () => "Du har ikke tilgang til dette med din rolle eller dine NAV-enheter.",
  NOT_FOUND: (p) =>
    tekst(p, "kjent_per")
      ? `Oversikten er ikke bygget for tidspunktet ${tekst(p, "kjent_per")}: kjør «forlop replay --kjent-per» med det først.`
      : "Fant ikke det du ba om.",
  METHOD_NOT_ALLOWED: () => "Handlingen er ikke mulig her.",
  VERSION_CONFLICT: () => "Noen andre endret saken i samme øyeblikk. Last inn på nytt og prøv igjen.",
  PRECONDITION_FAILED: () =>
    "Noen andre har endret saken siden du åpnet den. Last inn på nytt for å se endringene før du prøver igjen.",
  IDEMPOTENCY_KEY_REUSED: () => "Det samme forsøket ble sendt med et annet innhold. Send skjemaet på nytt.",
  PAYLOAD_TOO_LARGE: () => "Skjemaet er for stort. Forkort begrunnelsen og prøv igjen.",
  UNSUPPORTED_MEDIA_TYPE: () => "Forespørselen hadde feil format.",
  PERSON_GLEMT: () => "Personopplysningene i saken er slettet etter krav om sletting.",
  READ_LOG_UNAVAILABLE: () =>
    "Oppslaget kan ikke logges akkurat nå, så det vises ikke (alle oppslag i personopplysninger logges). Prøv igjen om litt.",
  VIEWS_BEHIND: () => "Oversikten er ikke oppdatert ennå. Prøv igjen om et øyeblikk.",
  DATABASE_UNAVAILABLE: () => "Databasen svarer ikke. Ingenting ble lagret; prøv igjen om litt.",
  UNAVAILABLE: () => "Tjenesten svarer ikke akkurat nå. Ingenting ble lagret; prøv igjen om litt.",
  INTERNAL_ERROR: (p) =>
    `Det oppstod en uventet feil.${p.correlation_id ? ` Oppgi referansen ${p.correlation_id} til brukerstøtte.` : ""}`,
  CONSOLE_NOT_BUILT: () => "Konsollet er ikke bygget på serveren (kjør «make install»).",
  ERROR: () => "Forespørselen ble avvist.",
};

/** The Norwegian message of a refusal; a code the console does not know is named as it came. */
export function feilmelding(p: Problem): string {
  const melding = MELDINGER[p.code];
  return melding ? melding(p) : `Forespørselen ble avvist (${p.code}).`;
}

/** A failure the same attempt may be sent again for (same Idempotency-Key): the answer may never have come. */
export function kanSendesIgjen(p: Problem): boolean {
  return p.status === 0 || p.status >= 500;
}
