// A small router over the History API: the console's pages are paths under /konsoll/, so a link to a løp
// can be shared and the server answers every such path with the app (api/console.py).
import { Link as AkselLink, type LinkProps } from "@navikt/ds-react";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";

export const BASE = "/konsoll";

interface Sted {
  sti: string; // the path under BASE, "/" for the start page
  sok: URLSearchParams;
}

function lesSted(): Sted {
  const full = window.location.pathname;
  const sti = full.startsWith(BASE) ? full.slice(BASE.length) || "/" : "/";
  return { sti, sok: new URLSearchParams(window.location.search) };
}

const StedKontekst = createContext<Sted>(lesSted());

export function naviger(til: string, { erstatt = false } = {}): void {
  const url = til.startsWith(BASE) ? til : BASE + til;
  if (erstatt) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  window.dispatchEvent(new PopStateEvent("popstate"));
  window.scrollTo(0, 0);
}

export function Ruter({ children }: { children: ReactNode }) {
  const [sted, settSted] = useState(lesSted);
  useEffect(() => {
    const endret = () => settSted(lesSted());
    window.addEventListener("popstate", endret);
    return () => window.removeEventListener("popstate", endret);
  }, []);
  return <StedKontekst.Provider value={sted}>{children}</StedKontekst.Provider>;
}

export function useSted(): Sted {
  return useContext(StedKontekst);
}

/** Matches "/tiltakslop/:id" against the path; the named parts, or null. */
export function match(monster: string, sti: string): Record<string, string> | null {
  const m = monster.split("/").filter(Boolean);
  const s = sti.split("/").filter(Boolean);
  if (m.length !== s.length) return null;
  const deler: Record<string, string> = {};
  for (let i = 0; i < m.length; i++) {
    const a = m[i]!;
    const b = decodeURIComponent(s[i]!);
    if (a.startsWith(":")) deler[a.slice(1)] = b;
    else if (a !== b) return null;
  }
  return deler;
}

type LenkeProps = Omit<LinkProps, "href"> & { til: string; children: ReactNode };

/** An Aksel link that navigates inside the app (a modified click opens a new tab as usual). */
export function Lenke({ til, children, ...rest }: LenkeProps) {
  const href = til.startsWith(BASE) ? til : BASE + til;
  return (
    <AkselLink
      {...rest}
      href={href}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        naviger(href);
      }}
    >
      {children}
    </AkselLink>
  );
}
