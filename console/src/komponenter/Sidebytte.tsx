import { Button, HStack } from "@navikt/ds-react";

/** "Forrige side" / "Neste side" over a cursor-paged list (contract.md §2: `neste` back as `?etter=`). */
export function Sidebytte({
  harForrige,
  neste,
  forrige,
  videre,
}: {
  harForrige: boolean;
  neste: boolean;
  forrige: () => void;
  videre: () => void;
}) {
  return (
    <HStack gap="space-8">
      <Button variant="secondary" size="small" type="button" disabled={!harForrige} onClick={forrige}>
        Forrige side
      </Button>
      <Button variant="secondary" size="small" type="button" disabled={!neste} onClick={videre}>
        Neste side
      </Button>
    </HStack>
  );
}
