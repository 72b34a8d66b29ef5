import { useCallback, useEffect, useRef, useState } from "react";
import { ApiFeil, nyNokkel, type Svar } from "./api/klient";
import { kanSendesIgjen, type Problem } from "./feil";

export interface Hentet<T> {
  data: T | null;
  etag: string | null;
  feil: Problem | null;
  laster: boolean;
  lastInn: () => void;
  sett: (data: T, etag: string | null) => void;
}

function problemAv(e: unknown): Problem {
  if (e instanceof ApiFeil) return e.problem;
  return { status: 0, code: "ERROR", detail: e instanceof Error ? e.message : String(e) };
}

/** A read: its data and ETag, loaded again when `avhengigheter` change or on `lastInn()`. */
export function useHent<T>(hent: () => Promise<Svar<T>>, avhengigheter: unknown[]): Hentet<T> {
  const [data, settData] = useState<T | null>(null);
  const [etag, settEtag] = useState<string | null>(null);
  const [feil, settFeil] = useState<Problem | null>(null);
  const [laster, settLaster] = useState(true);
  const [runde, settRunde] = useState(0);
  useEffect(() => {
    let aktuell = true;
    settLaster(true);
    hent().then(
      (s) => {
        if (!aktuell) return;
        settData(s.data);
        settEtag(s.etag);
        settFeil(null);
        settLaster(false);
      },
      (e: unknown) => {
        if (!aktuell) return;
        settFeil(problemAv(e));
        settLaster(false);
      },
    );
    return () => {
      aktuell = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...avhengigheter, runde]);
  const lastInn = useCallback(() => settRunde((r) => r + 1), []);
  const sett = useCallback((d: T, e: string | null) => {
    settData(d);
    settEtag(e);
  }, []);
  return { data, etag, feil, laster, lastInn, sett };
}

export interface Kommando<B, T> {
  send: (kropp: B) => Promise<Svar<T> | null>;
  provIgjen: () => Promise<Svar<T> | null>;
  feil: Problem | null;
  sender: boolean;
  nullstill: () => void;
}

/** A command: each attempt gets a fresh Idempotency-Key; sending the same body again after a failure that
 * may have stored it (no answer, 5xx) reuses that attempt's key, so a retry never writes twice. */
export function useKommando<B, T>(kjor: (kropp: B, nokkel: string) => Promise<Svar<T>>): Kommando<B, T> {
  const [feil, settFeil] = useState<Problem | null>(null);
  const [sender, settSender] = useState(false);
  const forsok = useRef<{ nokkel: string; kropp: string; raw: B } | null>(null);

  const utfor = useCallback(
    async (kropp: B, gjenta: boolean): Promise<Svar<T> | null> => {
      const json = JSON.stringify(kropp);
      const forrige = forsok.current;
      const nokkel = forrige && (gjenta || forrige.kropp === json) ? forrige.nokkel : nyNokkel();
      forsok.current = { nokkel, kropp: json, raw: kropp };
      settSender(true);
      try {
        const s = await kjor(kropp, nokkel);
        forsok.current = null;
        settFeil(null);
        return s;
      } catch (e) {
        const p = problemAv(e);
        if (!kanSendesIgjen(p)) forsok.current = null; // a definite answer: the next send is a new attempt
        settFeil(p);
        return null;
      } finally {
        settSender(false);
      }
    },
    [kjor],
  );

  const send = useCallback((kropp: B) => utfor(kropp, false), [utfor]);
  const provIgjen = useCallback(async () => {
    const forrige = forsok.current;
    return forrige ? utfor(forrige.raw, true) : null;
  }, [utfor]);
  const nullstill = useCallback(() => {
    settFeil(null);
    forsok.current = null;
  }, []);
  return { send, provIgjen, feil, sender, nullstill };
}
