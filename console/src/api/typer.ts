// The API's shapes, from the generated schema (src/api/schema.d.ts, made from the app's OpenAPI document).
import type { components, paths } from "./schema";

type S = components["schemas"];
/** The JSON body of a POST route, by its path: the contract names the routes, not the schemas' titles. */
type Body<P extends keyof paths> = paths[P] extends { post: { requestBody?: { content: { "application/json": infer B } } } }
  ? B
  : never;

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
export type TiltakslopCreate = Body<"/api/v1/tiltakslop">;
export type ForlengelseCreate = Body<"/api/v1/tiltakslop/{lop_id}/forlengelser">;
export type AvslutningCreate = Body<"/api/v1/tiltakslop/{lop_id}/avslutning">;
export type KorrigeringCreate = Body<"/api/v1/tiltakslop/{lop_id}/korrigeringer">;
export type OvergangCreate = Body<"/api/v1/tiltakslop/{lop_id}/overgang">;
export type KontaktpersonCreate = Body<"/api/v1/ungdomsgarantier/{garanti_id}/kontaktperson">;
export type SamtaleCreate = Body<"/api/v1/ungdomsgarantier/{garanti_id}/samtaler">;
export type KonsollConfig = S["KonsollConfig"];
export type Meg = S["Meg"];
export type DevTokenCreate = S["DevTokenCreate"];

/** A row of the deadline board: a løp's or a guarantee's read fields plus `aggregat` and `aggregat_id`
 * (GET /frister types its rows loosely, so the row is the union of the two read shapes). */
export type FristRad = (
  | ({ aggregat: "tiltakslop" } & LopVisning)
  | ({ aggregat: "ungdomsgaranti" } & GarantiVisning)
) & { aggregat_id: string };
