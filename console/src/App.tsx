import { Alert, BodyShort, Button, InternalHeader, Link, Loader, Spacer, VStack } from "@navikt/ds-react";
import type { ReactNode } from "react";
import { feilmelding } from "./feil";
import { OktTilbyder, erRevisor, kanSkrive, useOkt } from "./okt";
import { BASE, Lenke, Ruter, match, useSted } from "./ruter";
import { AggregatHistorikkSide } from "./sider/AggregatHistorikk";
import { FristerSide } from "./sider/Frister";
import { GarantiSide } from "./sider/Garanti";
import { HendelserSide } from "./sider/Hendelser";
import { InnsynSide } from "./sider/Innsyn";
import { LoggInnSide } from "./sider/LoggInn";
import { LopSide } from "./sider/Lop";
import { NyttLopSide } from "./sider/NyttLop";
import { VarslerSide } from "./sider/Varsler";
import { VerifiseringSide } from "./sider/Verifisering";

export function App() {
  return (
    <Ruter>
      <OktTilbyder>
        <Skall />
      </OktTilbyder>
    </Ruter>
  );
}

interface Menypunkt {
  til: string;
  tekst: string;
}

function meny(revisor: boolean, skriver: boolean): Menypunkt[] {
  const punkter: Menypunkt[] = [{ til: "/frister", tekst: "Frister" }];
  if (skriver) punkter.push({ til: "/varsler", tekst: "Varsler" }, { til: "/tiltakslop/ny", tekst: "Nytt tiltaksløp" });
  if (revisor) {
    punkter.push(
      { til: "/hendelser", tekst: "Hendelser" },
      { til: "/verifisering", tekst: "Verifisering" },
      { til: "/innsyn", tekst: "Innsyn" },
      { til: "/historikk", tekst: "Historikk for en sak" },
    );
  }
  return punkter;
}

function Skall() {
  const okt = useOkt();
  const { sti } = useSted();

  if (okt.laster) {
    return (
      <main className="konsoll-innhold">
        <Loader title="Laster konsollet" />
      </main>
    );
  }
  if (!okt.meg) {
    if (okt.innlogging === "utvikling") return <Ramme><LoggInnSide /></Ramme>;
    return (
      <Ramme>
        <VStack gap="space-16">
          <Alert variant="warning" role="alert">
            {okt.feil ? feilmelding(okt.feil) : "Du er ikke logget inn."}
          </Alert>
          {okt.innlogging === "proxy" ? (
            <BodyShort>
              <Link href={`/oauth2/login?redirect=${encodeURIComponent(window.location.pathname + window.location.search)}`}>
                Logg inn med NAV-kontoen din
              </Link>
            </BodyShort>
          ) : null}
        </VStack>
      </Ramme>
    );
  }

  const punkter = meny(erRevisor(okt.meg), kanSkrive(okt.meg));
  return (
    <Ramme punkter={punkter} sti={sti}>
      <Side sti={sti} />
    </Ramme>
  );
}

function Ramme({ children, punkter, sti }: { children: ReactNode; punkter?: Menypunkt[]; sti?: string }) {
  const okt = useOkt();
  return (
    <>
      <InternalHeader>
        <InternalHeader.Title href={`${BASE}/`}>Forløp</InternalHeader.Title>
        <Spacer />
        {okt.meg ? (
          <>
            <InternalHeader.User name={okt.meg.ident} description={okt.meg.enheter.length ? `Enhet ${okt.meg.enheter.join(", ")}` : okt.meg.roller.join(", ")} />
            {okt.innlogging === "utvikling" ? (
              <Button variant="tertiary-neutral" size="small" onClick={okt.loggUt} style={{ color: "inherit", alignSelf: "center" }}>
                Logg ut
              </Button>
            ) : (
              <InternalHeader.Button as="a" href="/oauth2/logout">
                Logg ut
              </InternalHeader.Button>
            )}
          </>
        ) : null}
      </InternalHeader>
      {punkter ? (
        <nav aria-label="Hovedmeny" className="konsoll-nav">
          {punkter.map((p) => (
            <Lenke key={p.til} til={p.til} aria-current={sti === p.til ? "page" : undefined}>
              {p.tekst}
            </Lenke>
          ))}
        </nav>
      ) : null}
      <main className="konsoll-innhold">{children}</main>
    </>
  );
}

function Side({ sti }: { sti: string }) {
  if (sti === "/" || sti === "/frister") return <FristerSide />;
  if (sti === "/tiltakslop/ny") return <NyttLopSide />;
  if (sti === "/varsler") return <VarslerSide />;
  if (sti === "/hendelser") return <HendelserSide />;
  if (sti === "/verifisering") return <VerifiseringSide />;
  if (sti === "/innsyn") return <InnsynSide />;
  if (sti === "/historikk") return <AggregatHistorikkSide />;
  let m = match("/tiltakslop/:id", sti);
  if (m) return <LopSide id={m.id!} />;
  m = match("/ungdomsgarantier/:id", sti);
  if (m) return <GarantiSide id={m.id!} />;
  m = match("/historikk/:aggregat/:id", sti);
  if (m) return <AggregatHistorikkSide aggregat={m.aggregat!} id={m.id!} />;
  return (
    <Alert variant="info">
      Siden finnes ikke. <Lenke til="/frister">Gå til fristene</Lenke>.
    </Alert>
  );
}
