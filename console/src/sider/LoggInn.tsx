import { BodyShort, Box, Button, Heading, Select, TextField, VStack } from "@navikt/ds-react";
import { useState, type FormEvent } from "react";
import { ApiFeil } from "../api/klient";
import { Feilvisning } from "../komponenter/Feilvisning";
import type { Problem } from "../feil";
import { useOkt } from "../okt";
import { naviger, useSted } from "../ruter";

type Rolle = "saksbehandler" | "revisor" | "system";

/** The dev issuer's sign-in (no login proxy): a role, offices and a NAV ident; the token lives in this tab. */
export function LoggInnSide() {
  const okt = useOkt();
  const { sti } = useSted();
  const [rolle, settRolle] = useState<Rolle>("saksbehandler");
  const [enheter, settEnheter] = useState("0315");
  const [ident, settIdent] = useState("Z990001");
  const [feil, settFeil] = useState<Problem | null>(null);
  const [sender, settSender] = useState(false);

  async function loggInn(e: FormEvent) {
    e.preventDefault();
    settSender(true);
    try {
      const liste = enheter.split(",").map((x) => x.trim()).filter(Boolean);
      await okt.loggInn(rolle, liste, ident.trim());
      if (sti === "/") naviger("/frister", { erstatt: true });
    } catch (err) {
      settFeil(err instanceof ApiFeil ? err.problem : { status: 0, code: "ERROR" });
    } finally {
      settSender(false);
    }
  }

  return (
    <Box maxWidth="28rem">
      <form onSubmit={loggInn}>
        <VStack gap="space-16">
          <Heading level="1" size="large">
            Logg inn (utvikling)
          </Heading>
          <BodyShort>
            Den lokale utviklingsutstederen lager et token for rollen og enhetene du velger. Tokenet gjelder bare i
            denne fanen.
          </BodyShort>
          <Select label="Rolle" value={rolle} onChange={(e) => settRolle(e.target.value as Rolle)}>
            <option value="saksbehandler">Saksbehandler</option>
            <option value="revisor">Revisor</option>
            <option value="system">System</option>
          </Select>
          <TextField
            label="Enheter"
            description="NAV-enhetsnumre, skilt med komma (for eksempel 0315, 4601)"
            value={enheter}
            onChange={(e) => settEnheter(e.target.value)}
          />
          <TextField label="NAV-ident" value={ident} onChange={(e) => settIdent(e.target.value)} autoComplete="username" />
          {feil ? <Feilvisning problem={feil} /> : null}
          <div>
            <Button type="submit" loading={sender}>
              Logg inn
            </Button>
          </div>
        </VStack>
      </form>
    </Box>
  );
}
