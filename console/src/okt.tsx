// Who is signed in, and how: the dev issuer's token kept for this tab (sessionStorage), or the login
// proxy's session (the console then sends no token of its own and asks /konsoll/meg who the user is).
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { ApiFeil, api, settToken, svar } from "./api/klient";
import type { Meg } from "./api/typer";
import type { Problem } from "./feil";

const NOKKEL = "forlop.konsoll.token";

export type Innlogging = "utvikling" | "proxy";

export interface Okt {
  innlogging: Innlogging | null;
  meg: Meg | null;
  laster: boolean;
  feil: Problem | null;
  loggInn: (rolle: "saksbehandler" | "revisor" | "system", enheter: string[], ident: string) => Promise<void>;
  loggUt: () => void;
}

const OktKontekst = createContext<Okt | null>(null);

export function useOkt(): Okt {
  const okt = useContext(OktKontekst);
  if (!okt) throw new Error("useOkt outside <OktTilbyder>");
  return okt;
}

async function hentMeg(): Promise<Meg> {
  return (await svar(api.GET("/konsoll/meg"))).data;
}

export function OktTilbyder({ children }: { children: ReactNode }) {
  const [innlogging, settInnlogging] = useState<Innlogging | null>(null);
  const [meg, settMeg] = useState<Meg | null>(null);
  const [laster, settLaster] = useState(true);
  const [feil, settFeil] = useState<Problem | null>(null);

  useEffect(() => {
    (async () => {
      let modus: Innlogging | null = null;
      try {
        const config = (await svar(api.GET("/konsoll/config.json"))).data;
        modus = config.innlogging;
        settInnlogging(modus);
        const lagret = config.innlogging === "utvikling" ? sessionStorage.getItem(NOKKEL) : null;
        if (config.innlogging === "utvikling") settToken(lagret);
        if (config.innlogging === "proxy" || lagret) settMeg(await hentMeg());
      } catch (e) {
        if (e instanceof ApiFeil && e.problem.status === 401) {
          sessionStorage.removeItem(NOKKEL);
          settToken(null);
          if (modus === "proxy") settFeil(e.problem);
        } else if (e instanceof ApiFeil) {
          settFeil(e.problem);
        }
      } finally {
        settLaster(false);
      }
    })();
  }, []);

  const loggInn = useCallback<Okt["loggInn"]>(async (rolle, enheter, ident) => {
    const { data } = await svar(api.POST("/konsoll/dev-token", { body: { rolle, enheter, ident } }));
    sessionStorage.setItem(NOKKEL, data.token);
    settToken(data.token);
    settMeg(await hentMeg());
    settFeil(null);
  }, []);

  const loggUt = useCallback(() => {
    sessionStorage.removeItem(NOKKEL);
    settToken(null);
    settMeg(null);
  }, []);

  return (
    <OktKontekst.Provider value={{ innlogging, meg, laster, feil, loggInn, loggUt }}>{children}</OktKontekst.Provider>
  );
}

export function erRevisor(meg: Meg | null): boolean {
  return !!meg && meg.roller.includes("REVISOR");
}

export function kanSkrive(meg: Meg | null): boolean {
  return !!meg && (meg.roller.includes("SAKSBEHANDLER") || meg.roller.includes("SYSTEM"));
}
