"""Ungdomsgaranti (rules.md §5): pure tests of the aggregate, its refusals and its read for a business date."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from uuid import UUID

import pytest

from domain.commands import (
    AvsluttGaranti,
    InnvilgGaranti,
    KobleAktivitet,
    KorrigerGaranti,
    Personalia,
    PlanleggSamtale,
    RegistrerSamhandling,
    RegistrerSamtale,
    RegistrerUtdanningsvurdering,
    TilbyArbeidsgiveroppfolging,
    TildelKontaktperson,
)
from domain.common import SYSTEM_IDENT, Aktor, Kontekst
from domain.config import Regelkonfig
from domain.errors import DomainError, InvalidRequest
from domain.ident import Fodselsnummer
from domain.ungdomsgaranti import (
    REGELSETT_ID,
    AktivitetKind,
    Avslutningsaarsak,
    Instans,
    Kanal,
    Status,
    Ungdomsgaranti,
    UngdomsgarantiTilstand,
    Varseltype,
)

PERSON = Fodselsnummer("15085012344")
SAKSBEHANDLER = Kontekst(aktor=Aktor(nav_ident="Z990001", enhet="0315"), correlation_id=UUID(int=1))
SYSTEM = Kontekst(aktor=Aktor(nav_ident=SYSTEM_IDENT, enhet=None), correlation_id=UUID(int=2))
KONFIG = Regelkonfig()  # samtale 30 d, kontaktperson 14 d, SAMTALE_FORFALLER 7 d, ALDERSGRENSE 90 d
GARANTI_ID = UUID(int=42)
FODT = date(2000, 5, 15)  # 30 on 2030-05-15
FOM = date(2024, 1, 10)
ORGNR = "974760673"


def innvilg(
    fodselsdato: date = FODT,
    fom: date = FOM,
    ref: str | None = "VEDTAK-14A-1",
    nav_enhet: str = "0315",
    id: UUID = GARANTI_ID,
) -> Ungdomsgaranti:
    person = Personalia(ident=PERSON.verdi, fodselsdato=fodselsdato)
    cmd = InnvilgGaranti(person=person, fom=fom, nav_enhet=nav_enhet, bistandsbehov_vedtak_ref=ref)
    return Ungdomsgaranti.innvilg(cmd, id=id, kontekst=SAKSBEHANDLER)


def lagret(fodselsdato: date = FODT, fom: date = FOM) -> Ungdomsgaranti:
    """A granted guarantee whose creation event has already been collected (as if saved)."""
    garanti = innvilg(fodselsdato=fodselsdato, fom=fom)
    garanti.collect_events()
    return garanti


def typer(garanti: Ungdomsgaranti) -> list[str]:
    return [type(e).__name__ for e in garanti.collect_events()]


def avsluttet(aarsak: Avslutningsaarsak = Avslutningsaarsak.BEHOV_OPPHORT, tom: date = date(2024, 6, 30)):
    garanti = lagret()
    garanti.avslutt(AvsluttGaranti(tom=tom, aarsak=aarsak, begrunnelse="tekst"), SAKSBEHANDLER)
    garanti.collect_events()
    return garanti


def refusert(code: str, garanti: Ungdomsgaranti | None, command) -> DomainError:
    """Run a command that must be refused with `code`, and show it left nothing pending."""
    versjon = garanti.version if garanti is not None else None
    with pytest.raises(DomainError) as raised:
        command()
    assert raised.value.code == code
    if garanti is not None:
        assert garanti.collect_events() == []
        assert garanti.version == versjon
    return raised.value


# ---- the events and their envelope ------------------------------------------------------------------------


def test_event_classes_carry_the_contract_names():
    names = [
        "UngdomsgarantiInnvilget",
        "KontaktpersonTildelt",
        "KontaktpersonByttet",
        "OppfolgingssamtalePlanlagt",
        "OppfolgingssamtaleGjennomfort",
        "UtdanningsvurderingGjennomfort",
        "AktivitetKoblet",
        "SamhandlingRegistrert",
        "ArbeidsgiverOppfolgingTilbudt",
        "UngdomsgarantiAvsluttet",
        "UngdomsgarantiKorrigert",
    ]

    missing = [n for n in names if not isinstance(getattr(Ungdomsgaranti, n, None), type)]

    assert missing == []


def test_gen_12_every_event_carries_kontekst_and_regelsett_id_and_replays_to_the_same_state():
    garanti = innvilg()
    garanti.tildel_kontaktperson(TildelKontaktperson(nav_ident="Z990001", fom=FOM), SAKSBEHANDLER)
    garanti.tildel_kontaktperson(
        TildelKontaktperson(nav_ident="Z990002", fom=date(2024, 2, 1), begrunnelse="permisjon"), SAKSBEHANDLER
    )
    garanti.planlegg_samtale(PlanleggSamtale(dato=date(2024, 2, 5), kanal=Kanal.MOTE), SAKSBEHANDLER)
    garanti.registrer_samtale(RegistrerSamtale(dato=date(2024, 2, 5), kanal="VIDEO"), SAKSBEHANDLER)
    garanti.registrer_utdanningsvurdering(
        RegistrerUtdanningsvurdering(dato=date(2024, 2, 6), utfall="fagbrev anbefalt"), SAKSBEHANDLER
    )
    garanti.koble_aktivitet(
        KobleAktivitet(kind="TILTAK", fom=date(2024, 3, 1), tiltakslop_id=UUID(int=7)), SAKSBEHANDLER
    )
    garanti.registrer_samhandling(
        RegistrerSamhandling(instans=Instans.HELSE, dato=date(2024, 3, 2)), SAKSBEHANDLER
    )
    garanti.tilby_arbeidsgiveroppfolging(
        TilbyArbeidsgiveroppfolging(arbeidsgiver_orgnr=ORGNR, dato=date(2024, 3, 3)), SAKSBEHANDLER
    )
    garanti.avslutt(AvsluttGaranti(tom=date(2024, 6, 30), aarsak="BEHOV_OPPHORT"), SAKSBEHANDLER)
    garanti.korriger(KorrigerGaranti(begrunnelse="feil enhet", nav_enhet="4601"), SAKSBEHANDLER)

    events = garanti.collect_events()

    assert all(e.kontekst == SAKSBEHANDLER and e.regelsett_id == REGELSETT_ID for e in events)
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert replayed is not None
    assert replayed.__dict__ == garanti.__dict__


def test_state_attributes_are_annotated_at_class_level():
    garanti = innvilg()

    state = {k for k in vars(garanti) if not k.startswith("_")}

    assert state <= set(Ungdomsgaranti.__annotations__)


def test_innvilget_records_the_grant_with_the_person_and_rule_set():
    garanti = innvilg(ref="  VEDTAK-14A-1  ")

    [innvilget] = garanti.collect_events()

    assert type(innvilget).__name__ == "UngdomsgarantiInnvilget"
    assert innvilget.originator_id == GARANTI_ID
    assert (innvilget.person, innvilget.fodselsdato, innvilget.fom) == (PERSON, FODT, FOM)
    assert (innvilget.nav_enhet, innvilget.bistandsbehov_vedtak_ref) == ("0315", "VEDTAK-14A-1")
    assert garanti.aktiv and garanti.avsluttet_tom is None


def test_innvilg_refuses_an_invalid_nav_enhet_as_invalid_request():
    for enhet in ["9915", "315", "03150", "", "abcd"]:
        error = refusert("INVALID_REQUEST", None, lambda e=enhet: innvilg(nav_enhet=e))

        assert isinstance(error, InvalidRequest) and error.status == 400


# ---- UG-1: the scheme starts on 2023-07-01 ----------------------------------------------------------------


def test_ug_1_fom_on_scheme_start_granted():
    garanti = innvilg(fom=date(2023, 7, 1))

    assert garanti.fom == date(2023, 7, 1)


def test_ug_1_fom_day_before_scheme_start_refused():
    error = refusert("BEFORE_SCHEME_START", None, lambda: innvilg(fom=date(2023, 6, 30)))

    assert error.limits == {"min_fom": date(2023, 7, 1)}
    assert error.status == 422


# ---- UG-2: 16 to 29 on fom (DATE-5) -----------------------------------------------------------------------


def test_ug_2_age_16_on_fom_granted():
    garanti = innvilg(fodselsdato=date(2008, 3, 1), fom=date(2024, 3, 1))

    assert garanti.aktiv


def test_ug_2_day_before_16th_birthday_refused():
    error = refusert(
        "AGE_BELOW_MINIMUM", None, lambda: innvilg(fodselsdato=date(2008, 3, 1), fom=date(2024, 2, 29))
    )

    assert error.limits == {"min_fom": date(2024, 3, 1)}


def test_ug_2_born_29_feb_turns_16_on_29_feb_in_a_leap_year():
    fodt = date(2008, 2, 29)

    granted = innvilg(fodselsdato=fodt, fom=date(2024, 2, 29))

    assert granted.aktiv
    refusert("AGE_BELOW_MINIMUM", None, lambda: innvilg(fodselsdato=fodt, fom=date(2024, 2, 28)))


def test_ug_2_day_before_30th_birthday_granted():
    garanti = innvilg(fodselsdato=date(1994, 8, 15), fom=date(2024, 8, 14))

    assert garanti.aktiv


def test_ug_2_age_30_on_fom_refused():
    error = refusert(
        "AGE_ABOVE_MAXIMUM", None, lambda: innvilg(fodselsdato=date(1994, 8, 15), fom=date(2024, 8, 15))
    )

    assert error.limits == {"max_fom": date(2024, 8, 14)}


def test_ug_2_date_5_born_29_feb_turns_30_on_28_feb_in_a_common_year():
    fodt = date(1996, 2, 29)

    granted = innvilg(fodselsdato=fodt, fom=date(2026, 2, 27))

    assert granted.aldersgrense_dato == date(2026, 2, 28)
    refusert("AGE_ABOVE_MAXIMUM", None, lambda: innvilg(fodselsdato=fodt, fom=date(2026, 2, 28)))
    refusert("AGE_ABOVE_MAXIMUM", None, lambda: innvilg(fodselsdato=fodt, fom=date(2026, 3, 1)))


# ---- UG-3: the grant references the established need ------------------------------------------------------


@pytest.mark.parametrize("ref", [None, "", "   "])
def test_ug_3_missing_bistandsbehov_vedtak_ref_refused(ref):
    error = refusert("NEED_ASSESSMENT_REQUIRED", None, lambda: innvilg(ref=ref))

    assert error.status == 422


def test_ug_3_bistandsbehov_vedtak_ref_present_granted():
    garanti = innvilg(ref="VEDTAK-14A-9")

    assert garanti.bistandsbehov_vedtak_ref == "VEDTAK-14A-9"


# ---- UG-4: what is guaranteed, each an offer with its own event -----------------------------------------


def test_ug_4a_first_contact_person_records_kontaktperson_tildelt():
    garanti = lagret()

    garanti.tildel_kontaktperson(
        TildelKontaktperson(nav_ident="Z990001", fom=date(2024, 1, 12)), SAKSBEHANDLER
    )

    [tildelt] = garanti.collect_events()
    assert type(tildelt).__name__ == "KontaktpersonTildelt"
    assert (tildelt.nav_ident, tildelt.fom) == ("Z990001", date(2024, 1, 12))
    assert garanti.kontaktperson == "Z990001"


def test_ug_4a_change_of_contact_person_records_from_and_to_and_keeps_history():
    garanti = lagret()
    garanti.tildel_kontaktperson(
        TildelKontaktperson(nav_ident="Z990001", fom=date(2024, 1, 12)), SAKSBEHANDLER
    )
    garanti.collect_events()

    garanti.tildel_kontaktperson(
        TildelKontaktperson(nav_ident="Z990002", fom=date(2024, 4, 1), begrunnelse="sluttet"), SAKSBEHANDLER
    )

    [byttet] = garanti.collect_events()
    assert type(byttet).__name__ == "KontaktpersonByttet"
    assert (byttet.forrige_nav_ident, byttet.nav_ident, byttet.fom) == (
        "Z990001",
        "Z990002",
        date(2024, 4, 1),
    )
    assert byttet.begrunnelse == "sluttet"
    assert [k.nav_ident for k in garanti.kontaktpersoner] == ["Z990001", "Z990002"]
    assert garanti.tilstand(date(2024, 3, 31), KONFIG).kontaktperson == "Z990001"
    assert garanti.tilstand(date(2024, 4, 1), KONFIG).kontaktperson == "Z990002"


def test_ug_4a_change_dated_before_the_current_contact_person_refused():
    garanti = lagret()
    garanti.tildel_kontaktperson(
        TildelKontaktperson(nav_ident="Z990001", fom=date(2024, 2, 1)), SAKSBEHANDLER
    )
    garanti.collect_events()

    refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.tildel_kontaktperson(
            TildelKontaktperson(nav_ident="Z990002", fom=date(2024, 1, 31)), SAKSBEHANDLER
        ),
    )


def test_ug_4a_same_contact_person_again_or_blank_ident_is_invalid_request():
    garanti = lagret()
    garanti.tildel_kontaktperson(TildelKontaktperson(nav_ident="Z990001", fom=FOM), SAKSBEHANDLER)
    garanti.collect_events()

    refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.tildel_kontaktperson(
            TildelKontaktperson(nav_ident="Z990001", fom=FOM), SAKSBEHANDLER
        ),
    )
    refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.tildel_kontaktperson(TildelKontaktperson(nav_ident="  ", fom=FOM), SAKSBEHANDLER),
    )


def test_ug_4a_contact_person_fom_outside_the_guarantee_refused():
    garanti = lagret()

    refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.tildel_kontaktperson(
            TildelKontaktperson(nav_ident="Z990001", fom=FOM - timedelta(days=1)), SAKSBEHANDLER
        ),
    )
    refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.tildel_kontaktperson(
            TildelKontaktperson(nav_ident="Z990001", fom=None), SAKSBEHANDLER
        ),
    )


def test_ug_4b_held_conversation_records_date_and_channel():
    garanti = lagret()

    garanti.registrer_samtale(
        RegistrerSamtale(dato=date(2024, 2, 1), kanal="TELEFON", referat_ref="REF-1"), SAKSBEHANDLER
    )

    [samtale] = garanti.collect_events()
    assert type(samtale).__name__ == "OppfolgingssamtaleGjennomfort"
    assert (samtale.dato, samtale.kanal, samtale.referat_ref) == (date(2024, 2, 1), Kanal.TELEFON, "REF-1")


@pytest.mark.parametrize("kanal", ["SMS", "mote", None])
def test_ug_4b_unknown_channel_is_invalid_request(kanal):
    garanti = lagret()

    error = refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.registrer_samtale(
            RegistrerSamtale(dato=date(2024, 2, 1), kanal=kanal), SAKSBEHANDLER
        ),
    )

    assert error.status == 400


def test_ug_4b_conversation_outside_the_guarantee_refused_on_both_ends():
    garanti = lagret(fodselsdato=date(1996, 2, 29), fom=date(2025, 1, 6))

    refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.registrer_samtale(
            RegistrerSamtale(dato=date(2025, 1, 5), kanal="MOTE"), SAKSBEHANDLER
        ),
    )
    refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.registrer_samtale(
            RegistrerSamtale(dato=date(2026, 2, 28), kanal="MOTE"), SAKSBEHANDLER
        ),
    )
    garanti.registrer_samtale(RegistrerSamtale(dato=date(2025, 1, 6), kanal="MOTE"), SAKSBEHANDLER)
    garanti.registrer_samtale(RegistrerSamtale(dato=date(2026, 2, 27), kanal="MOTE"), SAKSBEHANDLER)

    assert len(garanti.collect_events()) == 2


def test_ug_4_planned_conversation_is_recorded_domain_only():
    garanti = lagret()

    garanti.planlegg_samtale(PlanleggSamtale(dato=date(2024, 2, 1), kanal=Kanal.DIGITAL), SAKSBEHANDLER)

    assert typer(garanti) == ["OppfolgingssamtalePlanlagt"]


def test_ug_4d_education_assessment_is_recorded():
    garanti = lagret()

    garanti.registrer_utdanningsvurdering(
        RegistrerUtdanningsvurdering(dato=date(2024, 2, 1), utfall="videregående anbefalt"), SAKSBEHANDLER
    )

    [vurdering] = garanti.collect_events()
    assert type(vurdering).__name__ == "UtdanningsvurderingGjennomfort"
    assert vurdering.utfall == "videregående anbefalt"
    refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.registrer_utdanningsvurdering(
            RegistrerUtdanningsvurdering(dato=date(2024, 2, 1), utfall=" "), SAKSBEHANDLER
        ),
    )


def test_ug_4f_coordination_with_another_agency_is_recorded():
    garanti = lagret()

    for instans in Instans:
        garanti.registrer_samhandling(
            RegistrerSamhandling(instans=instans, dato=date(2024, 2, 1)), SAKSBEHANDLER
        )

    assert typer(garanti) == ["SamhandlingRegistrert"] * 5
    refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.registrer_samhandling(
            RegistrerSamhandling(instans="NAV", dato=date(2024, 2, 1)), SAKSBEHANDLER
        ),
    )


def test_ug_4_employer_follow_up_offered_is_recorded_with_a_valid_orgnr():
    garanti = lagret()

    garanti.tilby_arbeidsgiveroppfolging(
        TilbyArbeidsgiveroppfolging(arbeidsgiver_orgnr=ORGNR, dato=date(2024, 2, 1)), SAKSBEHANDLER
    )

    [tilbudt] = garanti.collect_events()
    assert type(tilbudt).__name__ == "ArbeidsgiverOppfolgingTilbudt"
    assert tilbudt.arbeidsgiver_orgnr == ORGNR
    for feil in ["974760672", "97476067", "abcdefghi", None]:
        refusert(
            "INVALID_REQUEST",
            garanti,
            lambda o=feil: garanti.tilby_arbeidsgiveroppfolging(
                TilbyArbeidsgiveroppfolging(arbeidsgiver_orgnr=o, dato=date(2024, 2, 1)), SAKSBEHANDLER
            ),
        )


# ---- UG-5: ends automatically on the 30th birthday ------------------------------------------------------


def test_ug_5_gen_11_automatic_end_at_30_sets_tom_to_day_before_birthday():
    garanti = lagret()

    garanti.avslutt_ved_30(SYSTEM)

    [slutt] = garanti.collect_events()
    assert type(slutt).__name__ == "UngdomsgarantiAvsluttet"
    assert (slutt.tom, slutt.aarsak) == (date(2030, 5, 14), Avslutningsaarsak.FYLT_30)
    assert slutt.kontekst.aktor.nav_ident == SYSTEM_IDENT
    assert not garanti.aktiv and garanti.avsluttet_tom == date(2030, 5, 14)


def test_ug_5_automatic_end_for_29_feb_birthday_ends_27_feb_in_a_common_year():
    garanti = lagret(fodselsdato=date(1996, 2, 29), fom=date(2025, 1, 6))

    garanti.avslutt_ved_30(SYSTEM)

    assert garanti.avsluttet_tom == date(2026, 2, 27)


def test_ug_5_automatic_end_is_run_by_system_only():
    garanti = lagret()

    refusert("INVALID_REQUEST", garanti, lambda: garanti.avslutt_ved_30(SAKSBEHANDLER))


def test_ug_5_read_is_avsluttet_fylt_30_from_the_birthday_before_the_event_is_written():
    garanti = lagret(fodselsdato=date(1996, 2, 29), fom=date(2025, 1, 6))

    dagen_foer = garanti.tilstand(date(2026, 2, 27), KONFIG)
    dagen = garanti.tilstand(date(2026, 2, 28), KONFIG)

    assert (dagen_foer.status, dagen_foer.aarsak, dagen_foer.tom) == (Status.AKTIV, None, None)
    assert (dagen.status, dagen.aarsak, dagen.tom) == (
        Status.AVSLUTTET,
        Avslutningsaarsak.FYLT_30,
        date(2026, 2, 27),
    )
    assert garanti.aktiv
    assert not garanti.forfaller_ved_30(date(2026, 2, 27))
    assert garanti.forfaller_ved_30(date(2026, 2, 28))


def test_ug_5_fylt_30_given_by_a_caseworker_must_use_the_day_before_the_birthday():
    garanti = lagret()

    refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.avslutt(
            AvsluttGaranti(tom=date(2030, 5, 15), aarsak=Avslutningsaarsak.FYLT_30), SAKSBEHANDLER
        ),
    )
    garanti.avslutt(AvsluttGaranti(tom=date(2030, 5, 14), aarsak=Avslutningsaarsak.FYLT_30), SAKSBEHANDLER)

    assert garanti.avsluttet_tom == date(2030, 5, 14)


# ---- UG-6: activities never end the guarantee -----------------------------------------------------------


@pytest.mark.parametrize("kind", list(AktivitetKind))
def test_ug_6_linked_activity_never_ends_the_guarantee(kind):
    garanti = lagret()

    garanti.koble_aktivitet(
        KobleAktivitet(kind=kind, fom=date(2024, 3, 1), tom=date(2024, 3, 1)), SAKSBEHANDLER
    )

    assert typer(garanti) == ["AktivitetKoblet"]
    assert garanti.aktiv
    assert garanti.tilstand(date(2024, 3, 2), KONFIG).status is Status.AKTIV


def test_ug_6_starting_a_job_keeps_the_follow_up_running():
    garanti = lagret()
    garanti.tildel_kontaktperson(TildelKontaktperson(nav_ident="Z990001", fom=FOM), SAKSBEHANDLER)

    garanti.koble_aktivitet(KobleAktivitet(kind="ARBEID", fom=date(2024, 2, 1)), SAKSBEHANDLER)

    tilstand = garanti.tilstand(date(2024, 2, 10), KONFIG)
    assert tilstand.status is Status.AKTIV
    assert Varseltype.SAMTALE_FORFALT in tilstand.open_alerts
    assert "ARBEID" not in [a.value for a in Avslutningsaarsak]


def test_ug_6_activity_records_the_tiltakslop_link():
    garanti = lagret()

    garanti.koble_aktivitet(
        KobleAktivitet(kind=AktivitetKind.TILTAK, fom=date(2024, 3, 1), tiltakslop_id=UUID(int=9)),
        SAKSBEHANDLER,
    )

    [koblet] = garanti.collect_events()
    assert (koblet.kind, koblet.tiltakslop_id, koblet.fom, koblet.tom) == (
        AktivitetKind.TILTAK,
        UUID(int=9),
        date(2024, 3, 1),
        None,
    )


def test_ug_6_activity_tom_before_fom_refused_and_unknown_kind_invalid():
    garanti = lagret()

    refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.koble_aktivitet(
            KobleAktivitet(kind="UTDANNING", fom=date(2024, 3, 2), tom=date(2024, 3, 1)), SAKSBEHANDLER
        ),
    )
    refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.koble_aktivitet(KobleAktivitet(kind="FERIE", fom=date(2024, 3, 1)), SAKSBEHANDLER),
    )
    refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.koble_aktivitet(
            KobleAktivitet(kind="TILTAK", fom=date(2024, 3, 1), tiltakslop_id="x"), SAKSBEHANDLER
        ),
    )


# ---- UG-7, UG-8: context only ---------------------------------------------------------------------------


def test_ug_7_aim_is_context_only_a_long_passive_period_changes_nothing():
    garanti = lagret()
    garanti.tildel_kontaktperson(TildelKontaktperson(nav_ident="Z990001", fom=FOM), SAKSBEHANDLER)
    rolig = dataclasses.replace(KONFIG, samtale_intervall_dager=400)

    tilstand = garanti.tilstand(date(2025, 1, 10), rolig)

    assert tilstand.status is Status.AKTIV
    assert tilstand.open_alerts == ()
    assert not any("passiv" in f.name for f in dataclasses.fields(UngdomsgarantiTilstand))


def test_ug_8_no_eight_week_early_effort_deadline_is_enforced():
    garanti = lagret()
    garanti.tildel_kontaktperson(TildelKontaktperson(nav_ident="Z990001", fom=FOM), SAKSBEHANDLER)
    rolig = dataclasses.replace(KONFIG, samtale_intervall_dager=120)

    dag_57 = garanti.tilstand(FOM + timedelta(days=57), rolig)

    assert dag_57.open_alerts == ()
    assert set(Varseltype) == {
        Varseltype.KONTAKTPERSON_MANGLER,
        Varseltype.SAMTALE_FORFALLER,
        Varseltype.SAMTALE_FORFALT,
        Varseltype.ALDERSGRENSE_NAERMER_SEG,
    }


# ---- UG-D1: cross-stream, judged by domain.person.Person ------------------------------------------------


def test_ug_d1_one_active_per_person_is_not_judged_inside_the_aggregate():
    forste = innvilg(id=UUID(int=1))

    andre = innvilg(id=UUID(int=2))

    assert forste.aktiv and andre.aktiv and forste.person == andre.person


def test_ug_d1_a_person_may_reenter_after_an_ended_guarantee_while_under_30():
    forste = avsluttet(tom=date(2024, 6, 30))

    ny = innvilg(id=UUID(int=3), fom=date(2025, 1, 2))

    assert not forste.aktiv and ny.aktiv


# ---- UG-D2: cadence of follow-up conversations ----------------------------------------------------------


def test_ug_d2_first_conversation_due_fom_plus_interval():
    garanti = lagret()

    tilstand = garanti.tilstand(FOM, KONFIG)

    assert tilstand.next_samtale_due == FOM + timedelta(days=30)
    assert tilstand.siste_samtale is None


def test_ug_d2_held_conversation_resets_the_anchor():
    garanti = lagret()

    garanti.registrer_samtale(RegistrerSamtale(dato=date(2024, 1, 25), kanal="MOTE"), SAKSBEHANDLER)

    tilstand = garanti.tilstand(date(2024, 1, 25), KONFIG)
    assert tilstand.siste_samtale == date(2024, 1, 25)
    assert tilstand.next_samtale_due == date(2024, 2, 24)
    assert garanti.tilstand(date(2024, 1, 24), KONFIG).next_samtale_due == FOM + timedelta(days=30)


def test_ug_d2_latest_conversation_is_the_anchor_even_when_registered_late():
    garanti = lagret()
    garanti.registrer_samtale(RegistrerSamtale(dato=date(2024, 3, 1), kanal="MOTE"), SAKSBEHANDLER)

    garanti.registrer_samtale(RegistrerSamtale(dato=date(2024, 2, 1), kanal="TELEFON"), SAKSBEHANDLER)

    assert garanti.tilstand(date(2024, 3, 5), KONFIG).next_samtale_due == date(2024, 3, 31)


def test_ug_d2_planned_conversation_does_not_move_the_anchor():
    garanti = lagret()

    garanti.planlegg_samtale(PlanleggSamtale(dato=date(2024, 1, 20), kanal="MOTE"), SAKSBEHANDLER)

    assert garanti.tilstand(date(2024, 1, 21), KONFIG).next_samtale_due == FOM + timedelta(days=30)


def test_ug_d2_interval_is_configuration():
    garanti = lagret()
    tett = dataclasses.replace(KONFIG, samtale_intervall_dager=14)

    tilstand = garanti.tilstand(FOM, tett)

    assert tilstand.next_samtale_due == FOM + timedelta(days=14)


# ---- UG-D3: contact person within kontaktperson_frist_dager ---------------------------------------------


def test_ug_d3_no_contact_person_alert_on_the_deadline_day():
    garanti = lagret()

    tilstand = garanti.tilstand(FOM + timedelta(days=14), KONFIG)

    assert Varseltype.KONTAKTPERSON_MANGLER not in tilstand.open_alerts
    assert tilstand.frister[Varseltype.KONTAKTPERSON_MANGLER] == date(2024, 1, 24)


def test_ug_d3_contact_person_missing_the_day_after_the_deadline():
    garanti = lagret()

    tilstand = garanti.tilstand(FOM + timedelta(days=15), KONFIG)

    assert Varseltype.KONTAKTPERSON_MANGLER in tilstand.open_alerts
    assert tilstand.kontaktperson is None


def test_ug_d3_assigned_contact_person_closes_the_alert():
    garanti = lagret()

    garanti.tildel_kontaktperson(
        TildelKontaktperson(nav_ident="Z990001", fom=FOM + timedelta(days=20)), SAKSBEHANDLER
    )

    assert Varseltype.KONTAKTPERSON_MANGLER in garanti.tilstand(FOM + timedelta(days=19), KONFIG).open_alerts
    assert (
        Varseltype.KONTAKTPERSON_MANGLER not in garanti.tilstand(FOM + timedelta(days=20), KONFIG).open_alerts
    )


def test_ug_d3_deadline_is_configuration():
    garanti = lagret()
    kort = dataclasses.replace(KONFIG, kontaktperson_frist_dager=3)

    alerts = garanti.tilstand(FOM + timedelta(days=4), kort).open_alerts

    assert Varseltype.KONTAKTPERSON_MANGLER in alerts
    assert garanti.varsel_frist(Varseltype.KONTAKTPERSON_MANGLER, FOM, kort) == FOM + timedelta(days=3)


# ---- UG-D4: the 8-week KPI is not built -----------------------------------------------------------------


def test_ug_d4_tidlig_innsats_is_not_built():
    garanti = lagret()

    tilstand = garanti.tilstand(FOM, KONFIG)

    assert not hasattr(Ungdomsgaranti, "TidligInnsatsRegistrert")
    assert not [n for n in dir(Ungdomsgaranti) if "tidlig" in n.lower() or "registreringsdato" in n.lower()]
    assert not [f.name for f in dataclasses.fields(tilstand) if "tidlig" in f.name]


# ---- UG-D5: end reasons ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "aarsak",
    [
        Avslutningsaarsak.BEHOV_OPPHORT,
        Avslutningsaarsak.BRUKER_AVSLO_TILBUD,
        Avslutningsaarsak.FLYTTET_UTLAND,
        Avslutningsaarsak.DOD,
    ],
)
def test_ug_d5_end_reason_is_recorded(aarsak):
    garanti = lagret()

    garanti.avslutt(AvsluttGaranti(tom=date(2024, 6, 30), aarsak=aarsak.value), SAKSBEHANDLER)

    [slutt] = garanti.collect_events()
    assert (slutt.tom, slutt.aarsak, slutt.begrunnelse) == (date(2024, 6, 30), aarsak, None)


def test_ug_d5_annet_without_begrunnelse_refused():
    garanti = lagret()

    for tekst in [None, "", "  "]:
        refusert(
            "BEGRUNNELSE_REQUIRED",
            garanti,
            lambda t=tekst: garanti.avslutt(
                AvsluttGaranti(tom=date(2024, 6, 30), aarsak="ANNET", begrunnelse=t), SAKSBEHANDLER
            ),
        )


def test_ug_d5_annet_with_begrunnelse_ends():
    garanti = lagret()

    garanti.avslutt(
        AvsluttGaranti(tom=date(2024, 6, 30), aarsak="ANNET", begrunnelse="soning"), SAKSBEHANDLER
    )

    assert garanti.avslutning_begrunnelse == "soning" and not garanti.aktiv


@pytest.mark.parametrize("aarsak", ["JOBB", "ARBEID", "fylt_30", None])
def test_ug_d5_unknown_end_reason_is_invalid_request(aarsak):
    garanti = lagret()

    error = refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.avslutt(AvsluttGaranti(tom=date(2024, 6, 30), aarsak=aarsak), SAKSBEHANDLER),
    )

    assert error.status == 400


def test_ug_d5_end_tom_on_fom_accepted_day_before_refused():
    garanti = lagret()

    refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.avslutt(AvsluttGaranti(tom=FOM - timedelta(days=1), aarsak="DOD"), SAKSBEHANDLER),
    )
    garanti.avslutt(AvsluttGaranti(tom=FOM, aarsak="DOD"), SAKSBEHANDLER)

    assert garanti.avsluttet_tom == FOM


def test_ug_d5_end_tom_day_before_30th_birthday_accepted_birthday_refused():
    garanti = lagret(fodselsdato=date(1996, 2, 29), fom=date(2025, 1, 6))

    error = refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.avslutt(
            AvsluttGaranti(tom=date(2026, 2, 28), aarsak="FLYTTET_UTLAND"), SAKSBEHANDLER
        ),
    )
    garanti.avslutt(AvsluttGaranti(tom=date(2026, 2, 27), aarsak="FLYTTET_UTLAND"), SAKSBEHANDLER)

    assert error.limits["max_tom"] == date(2026, 2, 27)
    assert garanti.avsluttet_tom == date(2026, 2, 27)


def test_ug_d5_missing_end_tom_refused_as_invalid_date_range():
    garanti = lagret()

    error = refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.avslutt(AvsluttGaranti(tom=None, aarsak="BEHOV_OPPHORT"), SAKSBEHANDLER),
    )

    assert error.status == 422


def test_ug_d5_date_1_ended_with_tom_is_aktiv_on_tom_and_avsluttet_the_day_after():
    garanti = avsluttet(tom=date(2024, 6, 30))

    paa_tom = garanti.tilstand(date(2024, 6, 30), KONFIG)
    dagen_etter = garanti.tilstand(date(2024, 7, 1), KONFIG)

    assert (paa_tom.status, paa_tom.tom) == (Status.AKTIV, date(2024, 6, 30))
    assert (dagen_etter.status, dagen_etter.aarsak) == (Status.AVSLUTTET, Avslutningsaarsak.BEHOV_OPPHORT)
    assert dagen_etter.open_alerts == ()


# ---- UG-D6: closed after Avsluttet, except corrections --------------------------------------------------


def test_ug_d6_every_command_after_avsluttet_refused_guarantee_closed_first():
    garanti = avsluttet(tom=date(2030, 1, 1))
    commands = [
        lambda: garanti.tildel_kontaktperson(TildelKontaktperson(nav_ident="", fom=None), SAKSBEHANDLER),
        lambda: garanti.registrer_samtale(RegistrerSamtale(dato=None, kanal="SMS"), SAKSBEHANDLER),
        lambda: garanti.planlegg_samtale(PlanleggSamtale(dato=None, kanal="SMS"), SAKSBEHANDLER),
        lambda: garanti.registrer_utdanningsvurdering(
            RegistrerUtdanningsvurdering(dato=None, utfall=""), SAKSBEHANDLER
        ),
        lambda: garanti.koble_aktivitet(KobleAktivitet(kind="FERIE", fom=None), SAKSBEHANDLER),
        lambda: garanti.registrer_samhandling(RegistrerSamhandling(instans="NAV", dato=None), SAKSBEHANDLER),
        lambda: garanti.tilby_arbeidsgiveroppfolging(
            TilbyArbeidsgiveroppfolging(arbeidsgiver_orgnr="1", dato=None), SAKSBEHANDLER
        ),
        lambda: garanti.avslutt(AvsluttGaranti(tom=None, aarsak="UKJENT"), SAKSBEHANDLER),
        lambda: garanti.avslutt_ved_30(SAKSBEHANDLER),
    ]

    for command in commands:
        error = refusert("GUARANTEE_CLOSED", garanti, command)

        assert error.limits == {"avsluttet_tom": date(2030, 1, 1)}


def test_ug_d6_correction_accepted_on_a_closed_guarantee():
    garanti = avsluttet(tom=date(2024, 6, 30))

    garanti.korriger(
        KorrigerGaranti(begrunnelse="feil dato", hendelse_id=UUID(int=99), tom=date(2024, 5, 31)),
        SAKSBEHANDLER,
    )

    [korrigert] = garanti.collect_events()
    assert type(korrigert).__name__ == "UngdomsgarantiKorrigert"
    assert (korrigert.hendelse_id, korrigert.tom, korrigert.begrunnelse) == (
        UUID(int=99),
        date(2024, 5, 31),
        "feil dato",
    )
    assert garanti.avsluttet_tom == date(2024, 5, 31)
    assert garanti.tilstand(date(2024, 6, 1), KONFIG).status is Status.AVSLUTTET


def test_ug_d6_correction_needs_begrunnelse():
    garanti = avsluttet()

    refusert(
        "BEGRUNNELSE_REQUIRED",
        garanti,
        lambda: garanti.korriger(KorrigerGaranti(begrunnelse=" ", tom=date(2024, 5, 31)), SAKSBEHANDLER),
    )


def test_ug_d6_correction_without_any_field_is_invalid_request():
    garanti = avsluttet()

    refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.korriger(KorrigerGaranti(begrunnelse="tekst"), SAKSBEHANDLER),
    )


def test_ug_d6_correction_rechecks_the_rules_on_the_corrected_state():
    garanti = avsluttet(tom=date(2024, 6, 30))

    refusert(
        "BEFORE_SCHEME_START",
        garanti,
        lambda: garanti.korriger(KorrigerGaranti(begrunnelse="t", fom=date(2023, 6, 30)), SAKSBEHANDLER),
    )
    refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.korriger(KorrigerGaranti(begrunnelse="t", fom=date(2024, 7, 1)), SAKSBEHANDLER),
    )
    refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.korriger(KorrigerGaranti(begrunnelse="t", tom=date(2030, 5, 15)), SAKSBEHANDLER),
    )
    refusert(
        "NEED_ASSESSMENT_REQUIRED",
        garanti,
        lambda: garanti.korriger(
            KorrigerGaranti(begrunnelse="t", bistandsbehov_vedtak_ref=" "), SAKSBEHANDLER
        ),
    )
    refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.korriger(KorrigerGaranti(begrunnelse="t", nav_enhet="9999"), SAKSBEHANDLER),
    )
    refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.korriger(KorrigerGaranti(begrunnelse="t", aarsak="UKJENT"), SAKSBEHANDLER),
    )
    garanti.korriger(KorrigerGaranti(begrunnelse="t", fom=date(2024, 6, 30)), SAKSBEHANDLER)

    assert garanti.fom == date(2024, 6, 30)


def test_ug_d6_correcting_the_reason_to_fylt_30_moves_tom_to_the_day_before_the_birthday():
    garanti = avsluttet(tom=date(2024, 6, 30))

    garanti.korriger(KorrigerGaranti(begrunnelse="aldersgrensen", aarsak="FYLT_30"), SAKSBEHANDLER)

    assert (garanti.avslutningsaarsak, garanti.avsluttet_tom) == (
        Avslutningsaarsak.FYLT_30,
        date(2030, 5, 14),
    )


def test_ug_d6_correcting_end_fields_of_an_open_guarantee_refused():
    garanti = lagret()

    refusert(
        "INVALID_DATE_RANGE",
        garanti,
        lambda: garanti.korriger(KorrigerGaranti(begrunnelse="t", tom=date(2024, 6, 30)), SAKSBEHANDLER),
    )
    refusert(
        "INVALID_REQUEST",
        garanti,
        lambda: garanti.korriger(KorrigerGaranti(begrunnelse="t", aarsak="DOD"), SAKSBEHANDLER),
    )
    garanti.korriger(
        KorrigerGaranti(begrunnelse="t", nav_enhet="4601", bistandsbehov_vedtak_ref="VEDTAK-2"), SAKSBEHANDLER
    )

    assert (garanti.nav_enhet, garanti.bistandsbehov_vedtak_ref) == ("4601", "VEDTAK-2")


# ---- UG-D7: grant error codes; a refusal appends nothing ------------------------------------------------


def test_ug_d7_refused_grant_creates_no_aggregate_and_rules_run_in_catalogue_order():
    for_tidlig = lambda: innvilg(fodselsdato=date(2010, 1, 1), fom=date(2023, 1, 1), ref=None)  # noqa: E731
    for_ung = lambda: innvilg(fodselsdato=date(2010, 1, 1), ref=None)  # noqa: E731

    first = refusert("BEFORE_SCHEME_START", None, for_tidlig)
    second = refusert("AGE_BELOW_MINIMUM", None, for_ung)

    assert (first.status, second.status) == (422, 422)


def test_ug_d7_refused_command_leaves_no_pending_event():
    garanti = lagret()
    garanti.tildel_kontaktperson(TildelKontaktperson(nav_ident="Z990001", fom=FOM), SAKSBEHANDLER)
    before = garanti.version

    with pytest.raises(DomainError):
        garanti.avslutt(AvsluttGaranti(tom=FOM - timedelta(days=1), aarsak="DOD"), SAKSBEHANDLER)

    assert typer(garanti) == ["KontaktpersonTildelt"]
    assert garanti.version == before and garanti.aktiv


def test_ug_d7_invalid_person_is_invalid_request():
    with pytest.raises(InvalidRequest):
        Fodselsnummer("15085012345")

    for person in (Personalia(ident="15085012345", fodselsdato=FODT), Personalia(fodselsdato=FODT), None):
        cmd = InnvilgGaranti(person=person, fom=FOM, nav_enhet="0315", bistandsbehov_vedtak_ref="V")
        refusert(
            "INVALID_REQUEST",
            None,
            lambda cmd=cmd: Ungdomsgaranti.innvilg(cmd, id=GARANTI_ID, kontekst=SAKSBEHANDLER),
        )


# ---- UG-D8: alert conditions and their frist (rules.md §8.5) --------------------------------------------


def test_ug_d8_date_6_samtale_on_due_date_is_on_time():
    garanti = lagret()
    due = FOM + timedelta(days=30)

    alerts = garanti.tilstand(due, KONFIG).open_alerts

    assert Varseltype.SAMTALE_FORFALT not in alerts
    assert Varseltype.SAMTALE_FORFALLER in alerts


def test_ug_d8_samtale_forfalt_the_day_after_due():
    garanti = lagret()
    due = FOM + timedelta(days=30)

    alerts = garanti.tilstand(due + timedelta(days=1), KONFIG).open_alerts

    assert Varseltype.SAMTALE_FORFALT in alerts
    assert Varseltype.SAMTALE_FORFALLER not in alerts


def test_ug_d8_samtale_forfaller_from_due_minus_lead_not_the_day_before():
    garanti = lagret()
    due = FOM + timedelta(days=30)

    foer = garanti.tilstand(due - timedelta(days=8), KONFIG).open_alerts
    paa = garanti.tilstand(due - timedelta(days=7), KONFIG).open_alerts

    assert Varseltype.SAMTALE_FORFALLER not in foer
    assert Varseltype.SAMTALE_FORFALLER in paa


def test_ug_d8_conversation_on_the_due_date_closes_the_alerts():
    garanti = lagret()
    due = FOM + timedelta(days=30)

    garanti.registrer_samtale(RegistrerSamtale(dato=due, kanal="DIGITAL"), SAKSBEHANDLER)

    alerts = garanti.tilstand(due + timedelta(days=1), KONFIG).open_alerts
    assert Varseltype.SAMTALE_FORFALT not in alerts and Varseltype.SAMTALE_FORFALLER not in alerts


def test_ug_d8_aldersgrense_naermer_seg_from_birthday_minus_lead():
    garanti = lagret()
    birthday = date(2030, 5, 15)

    foer = garanti.tilstand(birthday - timedelta(days=91), KONFIG).open_alerts
    paa = garanti.tilstand(birthday - timedelta(days=90), KONFIG).open_alerts
    dagen_foer_30 = garanti.tilstand(birthday - timedelta(days=1), KONFIG).open_alerts
    fylt_30 = garanti.tilstand(birthday, KONFIG).open_alerts

    assert Varseltype.ALDERSGRENSE_NAERMER_SEG not in foer
    assert Varseltype.ALDERSGRENSE_NAERMER_SEG in paa
    assert Varseltype.ALDERSGRENSE_NAERMER_SEG in dagen_foer_30
    assert fylt_30 == ()


def test_ug_d8_aldersgrense_for_29_feb_birthday_counts_from_28_feb():
    garanti = lagret(fodselsdato=date(1996, 2, 29), fom=date(2025, 1, 6))

    foer = garanti.tilstand(date(2025, 11, 29), KONFIG)
    paa = garanti.tilstand(date(2025, 11, 30), KONFIG)

    assert Varseltype.ALDERSGRENSE_NAERMER_SEG not in foer.open_alerts
    assert Varseltype.ALDERSGRENSE_NAERMER_SEG in paa.open_alerts
    assert paa.aldersgrense_dato == date(2026, 2, 28)
    assert paa.frister[Varseltype.ALDERSGRENSE_NAERMER_SEG] == date(2026, 2, 28)


def test_ug_d8_leads_are_configuration():
    garanti = lagret()
    leads = {**KONFIG.lead_days, "SAMTALE_FORFALLER": 2, "ALDERSGRENSE_NAERMER_SEG": 10}
    konfig = dataclasses.replace(KONFIG, lead_days=leads)
    due = FOM + timedelta(days=30)

    assert Varseltype.SAMTALE_FORFALLER not in garanti.tilstand(due - timedelta(days=3), konfig).open_alerts
    assert Varseltype.SAMTALE_FORFALLER in garanti.tilstand(due - timedelta(days=2), konfig).open_alerts
    assert garanti.varsel_dato(Varseltype.ALDERSGRENSE_NAERMER_SEG, FOM, konfig) == date(2030, 5, 5)


def test_ug_d8_date_8_frist_and_fire_date_per_alert_type():
    garanti = lagret()
    due = FOM + timedelta(days=30)

    frister = {v: garanti.varsel_frist(v, FOM, KONFIG) for v in Varseltype}
    datoer = {v: garanti.varsel_dato(v, FOM, KONFIG) for v in Varseltype}

    assert frister == {
        Varseltype.KONTAKTPERSON_MANGLER: FOM + timedelta(days=14),
        Varseltype.SAMTALE_FORFALLER: due,
        Varseltype.SAMTALE_FORFALT: due,
        Varseltype.ALDERSGRENSE_NAERMER_SEG: date(2030, 5, 15),
    }
    assert datoer == {
        Varseltype.KONTAKTPERSON_MANGLER: FOM + timedelta(days=15),
        Varseltype.SAMTALE_FORFALLER: due - timedelta(days=7),
        Varseltype.SAMTALE_FORFALT: due + timedelta(days=1),
        Varseltype.ALDERSGRENSE_NAERMER_SEG: date(2030, 2, 14),
    }


def test_ug_d8_read_gives_the_overview_fields():
    garanti = lagret()
    garanti.tildel_kontaktperson(TildelKontaktperson(nav_ident="Z990001", fom=FOM), SAKSBEHANDLER)
    garanti.registrer_samtale(RegistrerSamtale(dato=date(2024, 2, 1), kanal="MOTE"), SAKSBEHANDLER)

    tilstand = garanti.tilstand(date(2024, 2, 2), KONFIG)

    assert tilstand == UngdomsgarantiTilstand(
        id=GARANTI_ID,
        per=date(2024, 2, 2),
        status=Status.AKTIV,
        aarsak=None,
        fom=FOM,
        tom=None,
        aldersgrense_dato=date(2030, 5, 15),
        nav_enhet="0315",
        bistandsbehov_vedtak_ref="VEDTAK-14A-1",
        kontaktperson="Z990001",
        siste_samtale=date(2024, 2, 1),
        next_samtale_due=date(2024, 3, 2),
        open_alerts=(),
        frister={
            Varseltype.KONTAKTPERSON_MANGLER: date(2024, 1, 24),
            Varseltype.SAMTALE_FORFALLER: date(2024, 3, 2),
            Varseltype.SAMTALE_FORFALT: date(2024, 3, 2),
            Varseltype.ALDERSGRENSE_NAERMER_SEG: date(2030, 5, 15),
        },
    )
