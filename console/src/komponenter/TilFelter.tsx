import { Select, TextField } from "@navikt/ds-react";
import type { TiltakslopCreate } from "../api/typer";
import { lesDato } from "../format";
import { MALGRUPPER, TILTAKSTYPER, VARIANTER } from "../koder";
import { DatoFelt } from "./DatoFelt";

export interface Tilskjema {
  tiltakstype: string;
  variant: string;
  malgruppe: string;
  fom: string;
  tom: string;
  nav_enhet: string;
  vedtak_ref: string;
}

export const TOMT_TILSKJEMA: Tilskjema = {
  tiltakstype: "ARBEIDSTRENING",
  variant: "",
  malgruppe: "ARBEIDSSOKER",
  fom: "",
  tom: "",
  nav_enhet: "",
  vedtak_ref: "",
};

/** The grant body of a new løp (POST /tiltakslop, and `til` of an overgang) from the form. */
export function tilKropp(s: Tilskjema): Omit<TiltakslopCreate, "person"> {
  // A field left empty goes as null, although the document requires it: the API refuses it with the rule's
  // code, and the console shows that refusal in Norwegian (one place for the message, the server's).
  return {
    // The form holds the codes as text; the lists it offers are the document's enums (../koder).
    tiltakstype: s.tiltakstype as TiltakslopCreate["tiltakstype"],
    variant: (s.tiltakstype === "OPPLAERING" ? s.variant || null : null) as TiltakslopCreate["variant"],
    malgruppe: s.malgruppe as TiltakslopCreate["malgruppe"],
    fom: lesDato(s.fom) ?? (s.fom.trim() || null),
    tom: lesDato(s.tom) ?? (s.tom.trim() || null),
    nav_enhet: s.nav_enhet.trim() || null,
    vedtak_ref: s.vedtak_ref.trim() || null,
  } as Omit<TiltakslopCreate, "person">;
}

/** "Tiltakstype", "Variant" (opplæring), "Målgruppe", "Fra og med", "Til og med", "NAV-enhet", "Vedtaksreferanse". */
export function TilFelter({ verdi, endre }: { verdi: Tilskjema; endre: (s: Tilskjema) => void }) {
  return (
    <>
      <Select label="Tiltakstype" value={verdi.tiltakstype} onChange={(e) => endre({ ...verdi, tiltakstype: e.target.value })}>
        {Object.entries(TILTAKSTYPER).map(([kode, tekst]) => (
          <option key={kode} value={kode}>
            {tekst}
          </option>
        ))}
      </Select>
      {verdi.tiltakstype === "OPPLAERING" ? (
        <Select label="Variant" value={verdi.variant} onChange={(e) => endre({ ...verdi, variant: e.target.value })}>
          <option value="">Velg variant</option>
          {Object.entries(VARIANTER).map(([kode, tekst]) => (
            <option key={kode} value={kode}>
              {tekst}
            </option>
          ))}
        </Select>
      ) : null}
      <Select label="Målgruppe" value={verdi.malgruppe} onChange={(e) => endre({ ...verdi, malgruppe: e.target.value })}>
        {Object.entries(MALGRUPPER).map(([kode, tekst]) => (
          <option key={kode} value={kode}>
            {tekst}
          </option>
        ))}
      </Select>
      <DatoFelt label="Fra og med" verdi={verdi.fom} onChange={(v) => endre({ ...verdi, fom: v })} paakrevd />
      <DatoFelt
        label="Til og med"
        verdi={verdi.tom}
        onChange={(v) => endre({ ...verdi, tom: v })}
        description="dd.mm.åååå (tom for tiltak uten sluttdato: VTA, VTAO, varig lønnstilskudd)"
      />
      <TextField
        label="NAV-enhet"
        htmlSize={8}
        value={verdi.nav_enhet}
        onChange={(e) => endre({ ...verdi, nav_enhet: e.target.value })}
        inputMode="numeric"
      />
      <TextField label="Vedtaksreferanse" value={verdi.vedtak_ref} onChange={(e) => endre({ ...verdi, vedtak_ref: e.target.value })} />
    </>
  );
}
