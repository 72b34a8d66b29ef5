// The one HTTP client of the console: same origin, typed by the generated schema (openapi-fetch), the
// token of the tab (dev issuer) or none at all (behind the login proxy, which adds the user's token).
import createClient, { type Middleware } from "openapi-fetch";
import type { Problem } from "../feil";
import type { paths } from "./schema";

let token: string | null = null;

/** The dev issuer's token for this tab (null behind the login proxy). */
export function settToken(t: string | null): void {
  token = t;
}

const autorisasjon: Middleware = {
  onRequest({ request }) {
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(autorisasjon);

let sistePosisjon: number | null = null;

/** The log position of this tab's last command: the board waits for its views to reach it (`min_posisjon`),
 * so a case just granted is on the board when the caseworker opens it. */
export function sisteSkrevnePosisjon(): number | null {
  return sistePosisjon;
}

function huskPosisjon(data: unknown): void {
  const p = data && typeof data === "object" ? (data as { posisjon?: unknown }).posisjon : null;
  if (typeof p === "number" && (sistePosisjon === null || p > sistePosisjon)) sistePosisjon = p;
}

export class ApiFeil extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail ?? problem.code);
    this.problem = problem;
  }
}

export interface Svar<T> {
  data: T;
  etag: string | null;
  status: number;
}

function somProblem(status: number, feil: unknown): Problem {
  if (feil && typeof feil === "object" && typeof (feil as Problem).code === "string") {
    return { ...(feil as Problem), status };
  }
  return { status, code: status === 0 ? "UNAVAILABLE" : "ERROR", detail: typeof feil === "string" ? feil : null };
}

/** The answer of an openapi-fetch call, or an ApiFeil carrying its problem+json (status 0: no answer). */
export async function svar<T>(kall: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<Svar<T>> {
  let resultat: { data?: T; error?: unknown; response: Response };
  try {
    resultat = await kall;
  } catch (e) {
    throw new ApiFeil(somProblem(0, e instanceof Error ? e.message : null));
  }
  const { data, error, response } = resultat;
  if (!response.ok || error !== undefined) throw new ApiFeil(somProblem(response.status, error));
  if (response.status === 200 || response.status === 201) huskPosisjon(data);
  return { data: data as T, etag: response.headers.get("ETag"), status: response.status };
}

/** A fresh Idempotency-Key (a UUIDv4 from getRandomValues: randomUUID needs a secure context). */
export function nyNokkel(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
