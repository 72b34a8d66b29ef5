import { Box, Button, Heading, TextField, VStack } from "@navikt/ds-react";
import { useState, type FormEvent } from "react";
import { api, svar } from "../api/klient";
import type { TiltakslopCreate } from "../api/typer";
import { DatoFelt } from "../komponenter/DatoFelt";
import { Feilvisning } from "../komponenter/Feilvisning";
import { TOMT_TILSKJEMA, TilFelter, tilKropp, type Tilskjema } from "../komponenter/TilFelter";
import { lesDato } from "../format";
import { useKommando } from "../hooks";
import { useOkt } from "../okt";
import { naviger } from "../ruter";

/** "Nytt tiltaksløp": POST /tiltakslop; on success the new løp's page. */
export function NyttLopSide() {
  const okt = useOkt();
  const [ident, settIdent] = useState("");
  const [fodselsdato, settFodselsdato] = useState("");
  const [til, settTil] = useState<Tilskjema>({ ...TOMT_TILSKJEMA, nav_enhet: okt.meg?.enheter[0] ?? "" });

  const kommando = useKommando((kropp: Parameters<typeof lagKropp>[0], nokkel: string) =>
    svar(api.POST("/api/v1/tiltakslop", { body: lagKropp(kropp), params: { header: { "Idempotency-Key": nokkel } } })),
  );

  function lagKropp(s: { ident: string; fodselsdato: string; til: Tilskjema }) {
    return {
      person: { ident: s.ident.trim() || null, fodselsdato: lesDato(s.fodselsdato) ?? (s.fodselsdato.trim() || null) },
      ...tilKropp(s.til),
    } as TiltakslopCreate; // an empty field as null: the API's refusal names it (TilFelter.tsx)
  }

  async function innvilg(e: FormEvent) {
    e.preventDefault();
    const s = await kommando.send({ ident, fodselsdato, til });
    if (s) naviger(`/tiltakslop/${s.data.id}`);
  }

  return (
    <Box maxWidth="36rem">
      <form onSubmit={innvilg}>
        <VStack gap="space-16">
          <Heading level="1" size="large">
            Nytt tiltaksløp
          </Heading>
          <TextField
            label="Fødselsnummer"
            description="11 siffer (fødselsnummer eller D-nummer)"
            value={ident}
            onChange={(e) => settIdent(e.target.value.replace(/\s/g, ""))}
            inputMode="numeric"
            autoComplete="off"
            htmlSize={14}
          />
          <DatoFelt label="Fødselsdato" verdi={fodselsdato} onChange={settFodselsdato} paakrevd />
          <TilFelter verdi={til} endre={settTil} />
          {kommando.feil ? <Feilvisning problem={kommando.feil} provIgjen={kommando.provIgjen} /> : null}
          <div>
            <Button type="submit" loading={kommando.sender}>
              Innvilg
            </Button>
          </div>
        </VStack>
      </form>
    </Box>
  );
}
