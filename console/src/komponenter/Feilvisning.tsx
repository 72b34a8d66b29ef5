import { Alert, BodyShort, Button, HStack } from "@navikt/ds-react";
import { feilmelding, kanSendesIgjen, type Problem } from "../feil";

interface Props {
  problem: Problem;
  /** Reload the case (offered on a stale version, 412/409). */
  lastInn?: () => void;
  /** Send the same attempt again, with the same Idempotency-Key (offered when no answer may have come). */
  provIgjen?: () => void;
}

/** A refusal as the caseworker reads it: an alert (role alert) in Norwegian naming the rule's limit. */
export function Feilvisning({ problem, lastInn, provIgjen }: Props) {
  const foreldet = problem.code === "PRECONDITION_FAILED" || problem.code === "VERSION_CONFLICT";
  return (
    <Alert variant={foreldet ? "warning" : "error"} role="alert" size="small">
      <BodyShort>{feilmelding(problem)}</BodyShort>
      {(foreldet && lastInn) || (provIgjen && kanSendesIgjen(problem)) ? (
        <HStack gap="space-8" marginBlock="space-8 space-0">
          {foreldet && lastInn ? (
            <Button size="small" variant="secondary" type="button" onClick={lastInn}>
              Last inn på nytt
            </Button>
          ) : null}
          {provIgjen && kanSendesIgjen(problem) ? (
            <Button size="small" variant="secondary" type="button" onClick={provIgjen}>
              Prøv igjen
            </Button>
          ) : null}
        </HStack>
      ) : null}
    </Alert>
  );
}
