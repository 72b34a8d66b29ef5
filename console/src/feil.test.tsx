import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { MELDINGER, feilmelding, kanSendesIgjen, type Problem } from "./feil";
import { Feilvisning } from "./komponenter/Feilvisning";

const p = (code: string, grenser: Record<string, unknown> = {}, status = 422): Problem => ({ status, code, ...grenser });

describe("feilmelding", () => {
  it("names the total cap of a refused extension as a Norwegian date", () => {
    expect(feilmelding(p("EXCEEDS_MAX_DURATION", { max_tom: "2028-08-14" }))).toBe(
      "Kan ikke forlenges lenger enn til 14.08.2028 (tiltakets samlede makstid).",
    );
  });
  it("names the limit of every refusal that carries one", () => {
    expect(feilmelding(p("EXCEEDS_BASE_DURATION", { max_tom: "2027-08-14" }))).toContain("14.08.2027");
    expect(feilmelding(p("AFTER_SCHEME_END", { max_tom: "2032-12-31" }))).toContain("31.12.2032");
    expect(feilmelding(p("BEFORE_SCHEME_START", { min_fom: "2023-09-01" }))).toContain("01.09.2023");
    expect(feilmelding(p("CORRECTION_VIOLATES_CAP", { max_tom: "2026-06-30" }))).toContain("30.06.2026");
    expect(feilmelding(p("LEAVE_TOO_LONG", { max_tom: "2025-06-30" }))).toContain("30.06.2025");
    expect(feilmelding(p("RATE_ABOVE_MAXIMUM", { max_prosent: 67 }))).toContain("høyst 67 %");
    expect(feilmelding(p("AGE_BELOW_MINIMUM", { min_alder: 19, alder: 18 }))).toContain("fylt 19 år");
    expect(feilmelding(p("AGE_ABOVE_MAXIMUM", { maks_alder: 30 }))).toContain("30 år");
    expect(feilmelding(p("AGE_ABOVE_MAXIMUM", { max_fom: "2033-05-19" }))).toContain("19.05.2033");
    expect(feilmelding(p("GUARANTEE_CLOSED", { avsluttet_tom: "2025-02-01" }))).toContain("01.02.2025");
    expect(feilmelding(p("OUTSIDE_PILOT_AREA", { fylker: ["03", "46"] }))).toContain("03 og 46");
    expect(feilmelding(p("INVALID_DATE_RANGE", { min_dato: "2025-01-01", max_dato: "2025-06-30" }))).toContain(
      "mellom 01.01.2025 og 30.06.2025",
    );
  });
  it("lists the reasons that are allowed, in Norwegian", () => {
    expect(
      feilmelding(p("EXTENSION_REASON_NOT_ALLOWED", { tillatte_grunner: ["SAERLIGE_GRUNNER", "BEHOV_VIDERE"] })),
    ).toBe("Årsaken er ikke tillatt for denne forlengelsen. Tillatte årsaker: særlige grunner og behov for videre tiltak.");
    expect(feilmelding(p("TARGET_GROUP_NOT_ELIGIBLE", { tillatte_malgrupper: ["NEDSATT_ARBEIDSEVNE"] }))).toContain(
      "krever nedsatt arbeidsevne",
    );
  });
  it("still reads when a limit is missing", () => {
    expect(feilmelding(p("EXCEEDS_MAX_DURATION"))).toBe("Kan ikke forlenges lenger enn til – (tiltakets samlede makstid).");
    expect(feilmelding(p("BEFORE_SCHEME_START"))).toBe("Ordningen har ikke startet på startdatoen.");
  });
  it("tells a stale version apart from other refusals", () => {
    expect(feilmelding(p("PRECONDITION_FAILED", {}, 412))).toContain("Noen andre har endret saken");
  });
  it("names an unknown code as it came", () => {
    expect(feilmelding(p("NY_REGEL"))).toBe("Forespørselen ble avvist (NY_REGEL).");
  });
  it("has a Norwegian sentence for every code it knows", () => {
    for (const [kode, melding] of Object.entries(MELDINGER)) {
      const tekst = melding(p(kode));
      expect(tekst, kode).toMatch(/^[A-ZÆØÅ].*[.)»]$/);
      expect(tekst, kode).not.toContain("undefined");
      expect(tekst, kode).not.toContain(kode);
    }
  });
});

describe("kanSendesIgjen", () => {
  it("is true only when the answer may not have come (no answer, 5xx)", () => {
    expect(kanSendesIgjen(p("UNAVAILABLE", {}, 0))).toBe(true);
    expect(kanSendesIgjen(p("DATABASE_UNAVAILABLE", {}, 503))).toBe(true);
    expect(kanSendesIgjen(p("EXCEEDS_MAX_DURATION"))).toBe(false);
    expect(kanSendesIgjen(p("PRECONDITION_FAILED", {}, 412))).toBe(false);
  });
});

describe("<Feilvisning>", () => {
  it("is an alert with the message, and offers to reload a stale case", () => {
    const html = renderToStaticMarkup(<Feilvisning problem={p("PRECONDITION_FAILED", {}, 412)} lastInn={() => {}} />);
    expect(html).toContain('role="alert"');
    expect(html).toContain("Noen andre har endret saken");
    expect(html).toContain("Last inn på nytt");
  });
  it("offers a retry only when the same attempt may be sent again", () => {
    const avslag = renderToStaticMarkup(<Feilvisning problem={p("EXCEEDS_MAX_DURATION", { max_tom: "2028-08-14" })} provIgjen={() => {}} />);
    expect(avslag).toContain("14.08.2028");
    expect(avslag).not.toContain("Prøv igjen");
    const nede = renderToStaticMarkup(<Feilvisning problem={p("UNAVAILABLE", {}, 0)} provIgjen={() => {}} />);
    expect(nede).toContain("Prøv igjen");
  });
});
