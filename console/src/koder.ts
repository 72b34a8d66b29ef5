// Norwegian names of the codes the API uses (rules.md §3, §5, §7, §8). An unknown code is shown as it is.

export const TILTAKSTYPER: Record<string, string> = {
  OPPLAERING: "Opplæring",
  OPPLAERING_LENGRE_VARIGHET_FORSOK: "Forsøk med opplæringstiltak av lengre varighet",
  ARBEIDSTRENING: "Arbeidstrening",
  AFT: "Arbeidsforberedende trening (AFT)",
  OPPFOLGING: "Oppfølging",
  UTVIDET_OPPFOLGING_EGEN_REGI: "Utvidet oppfølging i NAVs egen regi",
  IPS: "Individuell jobbstøtte (IPS)",
  IPS_UNG: "IPS ung",
  MIDLERTIDIG_LONNSTILSKUDD: "Midlertidig lønnstilskudd",
  VARIG_LONNSTILSKUDD: "Varig lønnstilskudd",
  FIREARIG_LONNSTILSKUDD_FORSOK: "Forsøk med fireårig lønnstilskudd",
  MENTOR: "Mentor",
  INKLUDERINGSTILSKUDD: "Inkluderingstilskudd",
  VTA: "Varig tilrettelagt arbeid i skjermet virksomhet (VTA)",
  VTAO: "Varig tilrettelagt arbeid i ordinær virksomhet (VTAO)",
  AVKLARING: "Avklaring",
  ARBEIDSRETTET_REHABILITERING: "Arbeidsrettet rehabilitering",
  FUNKSJONSASSISTANSE: "Funksjonsassistanse i arbeidslivet",
  AU_REISER: "Arbeids- og utdanningsreiser",
  KVP: "Kvalifiseringsprogrammet (KVP)",
  UNGDOMSPROGRAM_FORSOK: "Forsøk med arbeidsrettet ungdomsprogram",
};

export const VARIANTER: Record<string, string> = {
  AMO: "Arbeidsmarkedsopplæring (AMO)",
  FAG_OG_YRKE: "Fag- og yrkesopplæring",
  HOYERE_UTDANNING: "Høyere utdanning",
  STUDIESPESIALISERING: "Fag i studiespesialisering",
  NORSK_GRUNNLEGGENDE: "Norskopplæring og grunnleggende ferdigheter",
};

export const MALGRUPPER: Record<string, string> = {
  ARBEIDSSOKER: "Arbeidssøker",
  NEDSATT_ARBEIDSEVNE: "Nedsatt arbeidsevne",
};

export const FORLENGELSESAARSAKER: Record<string, string> = {
  BEHOV_VIDERE: "Behov for videre tiltak",
  SAERLIGE_GRUNNER: "Særlige grunner",
  OPPLAERING_FORMELL_KOMPETANSE: "Opplæring med sikte på formell kompetanse",
  DELTAR_I_OPPLAERING_UTDANNING: "Deltar i opplæring eller utdanning",
  NEDSATT_ARBEIDSEVNE: "Nedsatt arbeidsevne",
  OVERGANG_SKOLE_SONING: "Overgang fra skole eller soning",
  SAERLIGE_BEHOV: "Særlige behov",
  FORLENGELSE_KVP: "Forlengelse av KVP",
};

export const AVSLUTNINGSAARSAKER: Record<string, string> = {
  FULLFORT: "Fullført",
  AVBRUTT: "Avbrutt",
  OVERGANG_TILTAK: "Overgang til annet tiltak",
  OVERGANG_ARBEID: "Overgang til arbeid",
  OVERGANG_UTDANNING: "Overgang til utdanning",
  OVERGANG_LAERLING: "Overgang til læreplass",
  OVERGANG_UFORETRYGD: "Overgang til uføretrygd",
  HOVELIG_ARBEID_TILBUDT: "Tilbudt høvelig arbeid",
  VILKAR_IKKE_OPPFYLT: "Vilkårene er ikke oppfylt",
  DOD: "Død",
  ANNET: "Annet",
};

export const GARANTI_AVSLUTNINGSAARSAKER: Record<string, string> = {
  FYLT_30: "Fylt 30 år",
  BEHOV_OPPHORT: "Behovet har opphørt",
  BRUKER_AVSLO_TILBUD: "Brukeren takket nei",
  FLYTTET_UTLAND: "Flyttet til utlandet",
  DOD: "Død",
  ANNET: "Annet",
};

export const VARSELTYPER: Record<string, string> = {
  CAP_NAERMER_SEG: "Makstiden nærmer seg",
  TOM_NAERMER_SEG: "Sluttdatoen nærmer seg",
  VURDERING_FORFALLER: "Vurdering forfaller snart",
  VURDERING_FORFALT: "Vurdering er forfalt",
  RATE_ENDRES: "Tilskuddssatsen endres",
  KONTAKTPERSON_MANGLER: "Kontaktperson mangler",
  SAMTALE_FORFALLER: "Samtale forfaller snart",
  SAMTALE_FORFALT: "Samtale er forfalt",
  ALDERSGRENSE_NAERMER_SEG: "Aldersgrensen nærmer seg",
};

export const STATUSER: Record<string, string> = {
  AKTIV: "Aktiv",
  AVSLUTTET: "Avsluttet",
  ANNULLERT: "Annullert",
};

export const KANALER: Record<string, string> = {
  MOTE: "Møte",
  TELEFON: "Telefon",
  VIDEO: "Video",
  DIGITAL: "Digitalt",
};

export const VURDERINGSSTATUS: Record<string, string> = {
  OK: "I rute",
  DUE_SOON: "Forfaller snart",
  OVERDUE: "Forfalt",
};

export const HENDELSESTYPER: Record<string, string> = {
  TiltakslopInnvilget: "Innvilget",
  TiltakslopForlenget: "Forlenget",
  TiltakslopAvkortet: "Avkortet",
  MalgruppeEndret: "Målgruppe endret",
  OppfolgingsvurderingGjennomfort: "Vurdering gjennomført",
  TilskuddssatsFastsatt: "Tilskuddssats fastsatt",
  PermisjonInnvilget: "Permisjon innvilget",
  TiltakslopAvsluttet: "Avsluttet",
  TiltakslopAnnullert: "Annullert",
  TiltakslopKorrigert: "Korrigert",
  UngdomsgarantiInnvilget: "Ungdomsgaranti innvilget",
  KontaktpersonTildelt: "Kontaktperson tildelt",
  KontaktpersonByttet: "Kontaktperson byttet",
  OppfolgingssamtalePlanlagt: "Samtale planlagt",
  OppfolgingssamtaleGjennomfort: "Samtale gjennomført",
  UtdanningsvurderingGjennomfort: "Utdanningsvurdering gjennomført",
  AktivitetKoblet: "Aktivitet koblet",
  SamhandlingRegistrert: "Samhandling registrert",
  ArbeidsgiverOppfolgingTilbudt: "Oppfølging av arbeidsgiver tilbudt",
  UngdomsgarantiAvsluttet: "Ungdomsgaranti avsluttet",
  UngdomsgarantiKorrigert: "Ungdomsgaranti korrigert",
  PersonGlemt: "Person slettet (glemt)",
};

export const FELTNAVN: Record<string, string> = {
  fom: "fra og med",
  tom: "til og med",
  ny_tom: "ny sluttdato",
  sluttdato: "sluttdato",
  aarsak: "årsak",
  begrunnelse: "begrunnelse",
  malgruppe: "målgruppe",
  ny_malgruppe: "ny målgruppe",
  variant: "variant",
  tiltakstype: "tiltakstype",
  nav_enhet: "NAV-enhet",
  vedtak_ref: "vedtaksreferanse",
  person: "person",
  ident: "fødselsnummer",
  fodselsdato: "fødselsdato",
  nav_ident: "NAV-ident",
  dato: "dato",
  kanal: "kanal",
  hendelse_id: "hendelse",
  prosent: "prosent",
  samtykke_foreldre: "samtykke fra foreldre",
  bistandsbehov_vedtak_ref: "vedtak om bistandsbehov",
  forgjenger_lop_id: "forrige tiltaksløp",
  tiltakslop_id: "tiltaksløp",
  kontaktperson: "kontaktperson",
  til: "nytt tiltak",
  forrige_tom: "forrige sluttdato",
  mottar_uforetrygd: "mottar uføretrygd",
  overgang_fra_tiltakstype: "overgang fra",
  overgang_til: "overgang til",
  forrige_nav_ident: "forrige kontaktperson",
  stillingstype: "stillingstype",
  tilskuddsprosent: "tilskuddsprosent",
  type: "type",
  utfall: "utfall",
  vertsbedrift: "vertsbedrift",
  kind: "aktivitet",
};

export function navn(tabell: Record<string, string>, kode: string | null | undefined): string {
  if (!kode) return "–";
  return tabell[kode] ?? kode;
}
