import { TextField } from "@navikt/ds-react";
import { lesDato } from "../format";

interface Props {
  label: string;
  verdi: string;
  onChange: (tekst: string) => void;
  paakrevd?: boolean;
  description?: string;
  feil?: string | undefined;
}

/** A date typed as dd.mm.åååå (or åååå-mm-dd); the form reads it with `lesDato`. */
export function DatoFelt({ label, verdi, onChange, paakrevd, description, feil }: Props) {
  const ugyldig = verdi.trim() !== "" && lesDato(verdi) === null;
  return (
    <TextField
      label={label}
      description={description ?? "dd.mm.åååå"}
      value={verdi}
      onChange={(e) => onChange(e.target.value)}
      autoComplete="off"
      inputMode="numeric"
      htmlSize={12}
      required={paakrevd}
      error={feil ?? (ugyldig ? "Skriv datoen som dd.mm.åååå" : undefined)}
    />
  );
}
