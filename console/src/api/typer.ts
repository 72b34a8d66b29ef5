// The API's shapes, from the generated schema (src/api/schema.d.ts, made from the app's OpenAPI document).
import type { components } from "./schema";

type S = components["schemas"];

export type LopVisning = S["LopVisning"];
export type GarantiVisning = S["GarantiVisning"];
export type Forlengelsesmulighet = S["Forlengelsesmulighet"];
export type Historikk = S["Historikk"];
export type Hendelse = S["Hendelse"];
export type Envelope = S["Envelope"];
export type HendelseSide = S["HendelseSide"];
export type VarselElement = S["VarselElement"];
export type VarselSide = S["VarselSide"];
export type InnsynElement = S["InnsynElement"];
export type InnsynSide = S["InnsynSide"];
export type Verification = S["Verification"];
export type TiltakslopCreate = S["TiltakslopCreate"];
export type ForlengelseCreate = S["ForlengelseCreate"];
export type AvslutningCreate = S["AvslutningCreate"];
export type KorrigeringCreate = S["KorrigeringCreate"];
export type OvergangCreate = S["OvergangCreate"];
export type KontaktpersonCreate = S["KontaktpersonCreate"];
export type SamtaleCreate = S["SamtaleCreate"];
export type KonsollConfig = S["KonsollConfig"];
export type Meg = S["Meg"];
export type DevTokenCreate = S["DevTokenCreate"];

/** A row of the deadline board: a løp's or a guarantee's read fields plus `aggregat` and `aggregat_id`
 * (GET /frister types its rows loosely, so the row is the union of the two read shapes). */
export type FristRad = (
  | ({ aggregat: "tiltakslop" } & LopVisning)
  | ({ aggregat: "ungdomsgaranti" } & GarantiVisning)
) & { aggregat_id: string };
