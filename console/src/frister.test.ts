import { describe, expect, it } from "vitest";
import type { FristRad } from "./api/typer";
import { nesteFrist } from "./frister";

const lop = (felt: Partial<Record<string, unknown>>): FristRad =>
  ({
    aggregat: "tiltakslop",
    aggregat_id: "a",
    per: "2025-03-03",
    tom: "2025-06-30",
    total_cap_tom: "2026-06-30",
    next_review_due: null,
    next_rate_change_date: null,
    open_alerts: [],
    ...felt,
  }) as unknown as FristRad;

describe("nesteFrist", () => {
  it("shows the filtered alert type's deadline", () => {
    expect(nesteFrist(lop({}), "CAP_NAERMER_SEG")).toMatchObject({ dato: "2026-06-30", dagerIgjen: 484 });
  });
  it("shows the earliest open alert's deadline before any other", () => {
    const rad = lop({ open_alerts: ["CAP_NAERMER_SEG"], next_review_due: "2025-04-01" });
    expect(nesteFrist(rad)).toMatchObject({ type: "CAP_NAERMER_SEG", dato: "2026-06-30", varsel: true });
  });
  it("otherwise shows the next deadline ahead", () => {
    expect(nesteFrist(lop({ next_review_due: "2025-04-01" }))).toMatchObject({
      type: "VURDERING_FORFALLER",
      dato: "2025-04-01",
      dagerIgjen: 29,
      varsel: false,
    });
    expect(nesteFrist(lop({ tom: "2025-01-31", total_cap_tom: null }))).toBeNull();
  });
});
