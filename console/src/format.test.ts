import { describe, expect, it } from "vitest";
import { dagerMellom, dato, lesDato, maskerIdent, tidspunkt } from "./format";

describe("dato", () => {
  it("shows an ISO date as dd.mm.åååå", () => {
    expect(dato("2028-08-14")).toBe("14.08.2028");
    expect(dato("2024-02-29")).toBe("29.02.2024");
  });
  it("is a calendar date: no time zone moves it a day", () => {
    expect(dato("2025-01-01")).toBe("01.01.2025");
    expect(dato("2025-12-31T23:30:00+00:00")).toBe("31.12.2025");
  });
  it("shows an absent date as a dash and anything else as it is", () => {
    expect(dato(null)).toBe("–");
    expect(dato(undefined)).toBe("–");
    expect(dato("neste uke")).toBe("neste uke");
  });
});

describe("tidspunkt", () => {
  it("shows an instant in Norwegian time, summer and winter", () => {
    expect(tidspunkt("2025-03-03T11:05:09Z")).toBe("03.03.2025 kl. 12:05:09");
    expect(tidspunkt("2025-07-01T22:30:00Z")).toBe("02.07.2025 kl. 00:30:00");
    expect(tidspunkt("2025-07-01T22:30:00+02:00")).toBe("01.07.2025 kl. 22:30:00");
  });
});

describe("lesDato", () => {
  it("reads what a caseworker types", () => {
    expect(lesDato("14.08.2028")).toBe("2028-08-14");
    expect(lesDato(" 1.2.2025 ")).toBe("2025-02-01");
    expect(lesDato("2025-02-01")).toBe("2025-02-01");
  });
  it("refuses a date that does not exist and text that is no date", () => {
    expect(lesDato("29.02.2025")).toBeNull();
    expect(lesDato("31.04.2025")).toBeNull();
    expect(lesDato("2025-13-01")).toBeNull();
    expect(lesDato("14/08/2028")).toBeNull();
    expect(lesDato("")).toBeNull();
  });
  it("accepts 29 February in a leap year", () => {
    expect(lesDato("29.02.2024")).toBe("2024-02-29");
  });
});

describe("dagerMellom", () => {
  it("counts calendar days, also across the change to summer time", () => {
    expect(dagerMellom("2025-03-03", "2025-06-30")).toBe(119);
    expect(dagerMellom("2025-03-29", "2025-03-31")).toBe(2);
    expect(dagerMellom("2025-03-03", "2025-03-01")).toBe(-2);
  });
});

describe("maskerIdent", () => {
  it("keeps the birth-date part and hides the personal number", () => {
    expect(maskerIdent("15085012345")).toBe("150850*****");
    expect(maskerIdent(null)).toBe("–");
  });
});
