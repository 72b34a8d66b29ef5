import type { ReactNode } from "react";

/** A list of facts (term and value), read by screen readers as a description list. */
export function Fakta({ rader, etikett }: { rader: [string, ReactNode][]; etikett: string }) {
  return (
    <dl className="konsoll-fakta" title={etikett}>
      {rader.map(([term, verdi]) => (
        <div key={term} style={{ display: "contents" }}>
          <dt>{term}</dt>
          <dd>{verdi}</dd>
        </div>
      ))}
    </dl>
  );
}
