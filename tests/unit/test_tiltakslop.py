"""The Tiltaksløp aggregate: general rules (GEN-*) and the invariants of rules.md §7 (LOP-*).

Measure-specific rules are in test_tiltakslop_tiltak.py, the deadline board in test_tiltakslop_tilstand.py.
The helpers here are shared by those modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from domain.commands import (
    Annuller,
    Avkort,
    AvsluttLop,
    EndreMalgruppe,
    FastsettSats,
    Forleng,
    InnvilgLop,
    InnvilgPermisjon,
    KorrigerLop,
    NyttLop,
    Overgang,
    Personalia,
    RegistrerVurdering,
)
from domain.common import Aktor, Kontekst
from domain.config import STANDARD, Regelkonfig
from domain.dates import add_years
from domain.errors import DomainError, InvalidRequest
from domain.ident import gyldig_ident
from domain.katalog import Avslutningsaarsak, Tiltakstype
from domain.tiltakslop import OvergangTil, Status, Tiltakslop, hendelse_id

# --- helpers -------------------------------------------------------------------------------------------------


def lag_ident(fodt: date) -> str:
    """A synthetic identifier (month + 80, as Skatteetaten's test numbers) with valid mod-11 control digits."""
    stamme = f"{fodt.day:02d}{fodt.month + 80:02d}{fodt.year % 100:02d}"
    k1_vekter, k2_vekter = (3, 7, 6, 1, 8, 9, 4, 5, 2), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

    def kontroll(siffer: str, vekter: tuple[int, ...]) -> int | None:
        k = 11 - sum(int(s) * v for s, v in zip(siffer, vekter, strict=True)) % 11
        return 0 if k == 11 else None if k == 10 else k

    for individ in range(100, 1000):
        ni = f"{stamme}{individ:03d}"
        k1 = kontroll(ni, k1_vekter)
        k2 = None if k1 is None else kontroll(f"{ni}{k1}", k2_vekter)
        if k1 is not None and k2 is not None:
            ident = f"{ni}{k1}{k2}"
            assert gyldig_ident(ident)
            return ident
    raise AssertionError("no valid identifier")


FODT = date(1990, 5, 15)
KONTEKST = Kontekst(aktor=Aktor(nav_ident="Z990001", enhet="0315"), correlation_id=UUID(int=1))
LOP_ID = UUID("00000000-0000-0000-0000-0000000000a1")


def grunnlag(**endringer: Any) -> dict[str, Any]:
    """A valid ARBEIDSTRENING grant for an ordinary job seeker; tests change what they are about."""
    verdier: dict[str, Any] = {
        "id": LOP_ID,
        "person": lag_ident(endringer.get("fodselsdato", FODT)),
        "fodselsdato": FODT,
        "tiltakstype": "ARBEIDSTRENING",
        "malgruppe": "ARBEIDSSOKER",
        "fom": date(2024, 8, 15),
        "tom": date(2025, 8, 14),
        "nav_enhet": "0315",
        "vedtak_ref": "BEHOVSVURDERING-1",
        "kontekst": KONTEKST,
    }
    verdier.update(endringer)
    return verdier


def innvilg(*, id: UUID, kontekst: Kontekst, konfig: Regelkonfig = STANDARD, **felter: Any) -> Tiltakslop:
    """`Tiltakslop.innvilg` of a grant given as `grunnlag` gives it (the person as `person` and `fodselsdato`)."""
    person = Personalia(ident=felter.pop("person", None), fodselsdato=felter.pop("fodselsdato", None))
    return Tiltakslop.innvilg(InnvilgLop(person=person, **felter), id=id, kontekst=kontekst, konfig=konfig)


def innvilget(**endringer: Any) -> Tiltakslop:
    """A granted løp with its creation event already collected (nothing pending)."""
    lop = innvilg(**grunnlag(**endringer))
    lop.collect_events()
    return lop


def avvist(kode: str, kommando: Callable[..., Any], *args: Any, **argumenter: Any) -> DomainError:
    with pytest.raises(DomainError) as feil:
        kommando(*args, **argumenter)
    assert feil.value.code == kode, feil.value
    return feil.value


def avvist_uten_hendelser(
    kode: str, lop: Tiltakslop, kommando: Callable[..., Any], *args: Any, **argumenter: Any
) -> DomainError:
    lop.collect_events()  # what earlier commands left pending is not this command's doing
    versjon = lop.version
    feil = avvist(kode, kommando, *args, **argumenter)
    assert lop.collect_events() == []
    assert lop.version == versjon
    return feil


def fodt_for(alder: int, fom: date, dager_ekstra: int = 0) -> date:
    """A birth date giving exactly `alder` completed years on fom (plus some days)."""
    from datetime import timedelta

    return add_years(fom, -alder) - timedelta(days=dager_ekstra)


# --- GEN ----------------------------------------------------------------------------------------------------


def test_gen_1_a_grant_needs_the_reference_to_a_needs_assessment():
    with pytest.raises(InvalidRequest):
        innvilg(**grunnlag(vedtak_ref=None))

    with pytest.raises(InvalidRequest):
        innvilg(**grunnlag(vedtak_ref="  "))


def test_gen_2_participants_must_have_turned_16_on_fom():
    fom = date(2024, 8, 15)

    feil = avvist(
        "AGE_BELOW_MINIMUM",
        innvilg,
        **grunnlag(fodselsdato=date(2008, 8, 16), samtykke_foreldre="BEGGE", fom=fom),
    )
    lop = innvilget(fodselsdato=date(2008, 8, 15), samtykke_foreldre="BEGGE", fom=fom)

    assert feil.limits["min_alder"] == 16
    assert lop.fodselsdato == date(2008, 8, 15)


def test_gen_3_under_18_needs_consent_from_both_parents():
    fodt = fodt_for(17, date(2024, 8, 15))

    for samtykke in (None, "EN", "INGEN", "UKJENT"):
        avvist(
            "PARENTAL_CONSENT_REQUIRED",
            innvilg,
            **grunnlag(fodselsdato=fodt, samtykke_foreldre=samtykke),
        )
    lop = innvilget(fodselsdato=fodt, samtykke_foreldre="BEGGE")

    assert lop.samtykke_foreldre == "BEGGE"


def test_gen_4_the_cap_is_a_maximum_not_a_default():
    lop = innvilget(tom=date(2024, 10, 31))

    assert lop.tom == date(2024, 10, 31)
    assert lop.tilstand(date(2024, 9, 1)).base_cap_tom == date(2025, 8, 14)


def test_gen_5_a_participant_offered_suitable_work_ends_the_measure_early():
    lop = innvilget()

    lop.avslutt(AvsluttLop(sluttdato=date(2024, 12, 1), aarsak="HOVELIG_ARBEID_TILBUDT"), KONTEKST)

    assert lop.avslutningsaarsak == Avslutningsaarsak.HOVELIG_ARBEID_TILBUDT
    assert lop.opptatt_tom == date(2024, 12, 1)


def test_gen_6_a_participant_who_no_longer_meets_the_conditions_can_be_taken_out():
    lop = innvilget()

    lop.avslutt(AvsluttLop(sluttdato=date(2024, 9, 1), aarsak="VILKAR_IKKE_OPPFYLT"), KONTEKST)

    assert lop.status(date(2024, 9, 2)) == Status.AVSLUTTET


def test_gen_7_the_two_target_groups_give_different_caps():
    arbeidssoker = innvilget(tiltakstype="IPS", tom=date(2025, 8, 14))
    nedsatt = innvilget(tiltakstype="IPS", malgruppe="NEDSATT_ARBEIDSEVNE", tom=date(2027, 8, 14))

    assert arbeidssoker.total_cap_tom() == date(2025, 8, 14)
    assert nedsatt.total_cap_tom() == date(2027, 8, 14)
    with pytest.raises(InvalidRequest):
        innvilg(**grunnlag(malgruppe="LANGTIDSLEDIG"))


def test_gen_8_priority_groups_are_not_a_condition_and_not_asked_for():
    lop = innvilget(fodselsdato=date(1970, 1, 1))

    assert lop.malgruppe == "ARBEIDSSOKER"
    assert not hasattr(lop, "prioritert")


def test_gen_9_langtidsledig_is_a_projection_flag_not_a_grant_condition():
    lop = innvilget(fom=date(2024, 8, 15))

    assert lop.fom == date(2024, 8, 15)
    assert not hasattr(lop, "langtidsledig")


def test_gen_10_a_period_of_job_seeking_is_guidance_and_never_checked():
    lop = innvilget(tiltakstype="AVKLARING", fom=date(2024, 1, 2), tom=date(2024, 1, 29))

    assert lop.version == 1


def test_gen_11_ages_are_judged_on_fom_and_turning_31_in_ips_ung_does_not_end_it():
    fom = date(2024, 8, 15)
    fodt = fodt_for(30, fom, dager_ekstra=300)
    lop = innvilget(tiltakstype="IPS_UNG", fodselsdato=fodt, fom=fom, tom=date(2025, 8, 14))

    lop.forleng(Forleng(ny_tom=date(2026, 8, 14), aarsak="DELTAR_I_OPPLAERING_UTDANNING"), KONTEKST)

    assert lop.status(date(2026, 8, 1)) == Status.AKTIV
    avvist(
        "AGE_ABOVE_MAXIMUM",
        innvilg,
        **grunnlag(tiltakstype="IPS_UNG", fodselsdato=fodt_for(31, fom), tom=date(2025, 8, 14)),
    )


def test_gen_12_the_rule_set_id_is_stored_on_the_grant_and_every_event():
    lop = innvilg(**grunnlag())
    lop.avkort(Avkort(ny_tom=date(2025, 6, 30)), KONTEKST)

    hendelser = lop.collect_events()

    assert [type(h).__name__ for h in hendelser] == ["TiltakslopInnvilget", "TiltakslopAvkortet"]
    assert all(h.regelsett_id == "SEED-2024" for h in hendelser)  # type: ignore[attr-defined]
    assert all(h.kontekst == KONTEKST for h in hendelser)  # type: ignore[attr-defined]


# --- LOP ----------------------------------------------------------------------------------------------------


def test_lop_1_ungdomsprogram_needs_age_18_and_under_29_on_fom():
    fom = date(2024, 8, 15)
    grant = {"tiltakstype": "UNGDOMSPROGRAM_FORSOK", "fom": fom, "tom": date(2025, 7, 1)}

    lav = avvist(
        "AGE_BELOW_MINIMUM",
        innvilg,
        **grunnlag(**grant, fodselsdato=fodt_for(17, fom), samtykke_foreldre="BEGGE"),
    )
    hoy = avvist("AGE_ABOVE_MAXIMUM", innvilg, **grunnlag(**grant, fodselsdato=fodt_for(29, fom)))
    lop = innvilget(**grant, fodselsdato=fodt_for(28, fom, dager_ekstra=360))

    assert lav.limits["min_alder"] == 18
    assert hoy.limits["maks_alder"] == 28
    assert lop.tiltakstype == Tiltakstype.UNGDOMSPROGRAM_FORSOK


def test_lop_2_consent_is_judged_only_under_18():
    fom = date(2024, 8, 15)

    lop = innvilget(fodselsdato=fodt_for(18, fom), fom=fom, samtykke_foreldre="INGEN")

    assert lop.samtykke_foreldre == "INGEN"
    avvist(
        "PARENTAL_CONSENT_REQUIRED",
        innvilg,
        **grunnlag(fodselsdato=fodt_for(18, fom) + (date(2000, 1, 2) - date(2000, 1, 1)), fom=fom),
    )


def test_lop_3_higher_education_afts_and_varig_need_nedsatt_arbeidsevne():
    for endring in (
        {"tiltakstype": "OPPLAERING", "variant": "HOYERE_UTDANNING"},
        {"tiltakstype": "AFT"},
        {"tiltakstype": "VARIG_LONNSTILSKUDD", "tom": None},
    ):
        feil = avvist("TARGET_GROUP_NOT_ELIGIBLE", innvilg, **grunnlag(**endring))

        assert feil.limits["tillatte_malgrupper"] == ["NEDSATT_ARBEIDSEVNE"]


def test_lop_4_fom_after_tom_or_missing_dates_are_an_invalid_date_range():
    avvist("INVALID_DATE_RANGE", innvilg, **grunnlag(fom=date(2024, 8, 15), tom=date(2024, 8, 14)))
    avvist("INVALID_DATE_RANGE", innvilg, **grunnlag(fom=None))
    avvist("INVALID_DATE_RANGE", innvilg, **grunnlag(tom=None))

    lop = innvilget(fom=date(2024, 8, 15), tom=date(2024, 8, 15))

    assert lop.tom == lop.fom


def test_lop_4_the_initial_tom_must_not_pass_the_base_cap():
    feil = avvist("EXCEEDS_BASE_DURATION", innvilg, **grunnlag(tom=date(2025, 8, 15)))

    assert feil.limits["max_tom"] == date(2025, 8, 14)


def test_lop_5a_the_new_tom_must_be_after_the_current_tom():
    lop = innvilget(tom=date(2025, 1, 31))

    avvist_uten_hendelser(
        "INVALID_DATE_RANGE", lop, lop.forleng, Forleng(ny_tom=date(2025, 1, 31), aarsak=None), KONTEKST
    )
    avvist_uten_hendelser(
        "INVALID_DATE_RANGE", lop, lop.forleng, Forleng(ny_tom=None, aarsak="BEHOV_VIDERE"), KONTEKST
    )


def test_lop_5b_a_reason_code_is_always_required_even_before_the_cap_is_judged():
    lop = innvilget(tom=date(2025, 1, 31))

    for aarsak in (None, ""):
        avvist_uten_hendelser(
            "EXTENSION_REASON_REQUIRED",
            lop,
            lop.forleng,
            Forleng(ny_tom=date(2030, 1, 1), aarsak=aarsak),
            KONTEKST,
        )


def test_lop_5c_extension_past_total_cap_refused():
    lop = innvilget(malgruppe="NEDSATT_ARBEIDSEVNE")

    feil = avvist_uten_hendelser(
        "EXCEEDS_MAX_DURATION",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2026, 2, 15), aarsak="NEDSATT_ARBEIDSEVNE"),
        KONTEKST,
    )

    assert feil.limits["max_tom"] == date(2026, 2, 14)


def test_lop_5d_past_the_base_cap_only_the_measures_beyond_base_reasons_are_allowed():
    lop = innvilget(malgruppe="NEDSATT_ARBEIDSEVNE", tom=date(2025, 1, 31))
    lop.forleng(Forleng(ny_tom=date(2025, 8, 14), aarsak="BEHOV_VIDERE"), KONTEKST)

    feil = avvist_uten_hendelser(
        "EXTENSION_REASON_NOT_ALLOWED",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2025, 9, 1), aarsak="BEHOV_VIDERE"),
        KONTEKST,
    )
    ukjent = avvist_uten_hendelser(
        "EXTENSION_REASON_NOT_ALLOWED",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2025, 9, 1), aarsak="FORDI"),
        KONTEKST,
    )
    lop.forleng(Forleng(ny_tom=date(2026, 2, 14), aarsak="NEDSATT_ARBEIDSEVNE"), KONTEKST)

    assert feil.limits["max_tom"] == date(2025, 8, 14)
    assert "NEDSATT_ARBEIDSEVNE" in ukjent.limits["tillatte_grunner"]
    assert lop.tom == date(2026, 2, 14)


def test_lop_5e_reasons_marked_begrunnelse_need_a_justification_text():
    lop = innvilget(tiltakstype="KVP", tom=date(2026, 8, 14))

    avvist_uten_hendelser(
        "BEGRUNNELSE_REQUIRED",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2027, 8, 14), aarsak="FORLENGELSE_KVP"),
        KONTEKST,
    )
    lop.forleng(
        Forleng(ny_tom=date(2027, 8, 14), aarsak="FORLENGELSE_KVP", begrunnelse="nesten i jobb"), KONTEKST
    )

    assert lop.tom == date(2027, 8, 14)


def test_lop_6_after_an_end_every_command_but_a_correction_is_refused_first_with_lop_closed():
    lop = innvilget(tom=date(2025, 1, 31))
    lop.avslutt(AvsluttLop(sluttdato=date(2024, 12, 31), aarsak="FULLFORT"), KONTEKST)
    lop.collect_events()

    for kommando, tom_kommando in (
        (lop.forleng, Forleng()),
        (lop.avkort, Avkort()),
        (lop.endre_malgruppe, EndreMalgruppe()),
        (lop.registrer_vurdering, RegistrerVurdering()),
        (lop.fastsett_sats, FastsettSats()),
        (lop.innvilg_permisjon, InnvilgPermisjon()),
        (lop.avslutt, AvsluttLop()),
        (lop.annuller, Annuller()),
    ):
        avvist_uten_hendelser("LOP_CLOSED", lop, kommando, tom_kommando, KONTEKST)
    lop.korriger(KorrigerLop(sluttdato=date(2024, 12, 20), begrunnelse="feil dato"), KONTEKST)

    assert lop.sluttdato == date(2024, 12, 20)


def test_lop_6_an_annulled_lop_is_closed_too():
    lop = innvilget()
    lop.annuller(Annuller(begrunnelse="innvilget ved en feil"), KONTEKST)

    avvist_uten_hendelser("LOP_CLOSED", lop, lop.avkort, Avkort(ny_tom=date(2024, 9, 1)), KONTEKST)

    assert lop.annullert
    assert lop.status(date(2024, 8, 15)) == Status.ANNULLERT


def test_lop_7_a_pilot_outside_its_area_or_before_its_start_is_refused():
    pilot = {"tiltakstype": "OPPLAERING_LENGRE_VARIGHET_FORSOK", "tom": date(2028, 8, 14)}

    omraade = avvist("OUTSIDE_PILOT_AREA", innvilg, **grunnlag(**pilot, nav_enhet="5001"))
    start = avvist(
        "BEFORE_SCHEME_START",
        innvilg,
        **grunnlag(tiltakstype=pilot["tiltakstype"], fom=date(2023, 8, 31), tom=date(2024, 8, 31)),
    )
    lop = innvilget(**pilot, nav_enhet="4601")

    assert "46" in omraade.limits["fylker"]
    assert start.limits["min_fom"] == date(2023, 9, 1)
    assert lop.base_cap_tom() == date(2028, 8, 14)


def test_lop_9_a_correction_to_an_earlier_fom_that_breaks_the_cap_is_refused_unless_tom_is_fixed_too():
    lop = innvilget(fom=date(2024, 8, 15), tom=date(2025, 8, 14))

    feil = avvist_uten_hendelser(
        "CORRECTION_VIOLATES_CAP",
        lop,
        lop.korriger,
        KorrigerLop(fom=date(2024, 8, 1), begrunnelse="feil fom"),
        KONTEKST,
    )
    lop.korriger(
        KorrigerLop(fom=date(2024, 8, 1), tom=date(2025, 7, 31), begrunnelse="feil fom og tom"), KONTEKST
    )

    assert feil.limits["max_tom"] == date(2025, 7, 31)
    assert (lop.fom, lop.tom) == (date(2024, 8, 1), date(2025, 7, 31))
    assert lop.base_cap_tom() == date(2025, 7, 31)


def test_lop_9_a_correction_names_the_corrected_event_or_has_it_inferred():
    lop = innvilget(tom=date(2025, 1, 31))
    lop.forleng(Forleng(ny_tom=date(2025, 3, 31), aarsak="BEHOV_VIDERE"), KONTEKST)
    lop.collect_events()

    lop.korriger(KorrigerLop(tom=date(2025, 3, 30), begrunnelse="skrivefeil"), KONTEKST)
    lop.korriger(KorrigerLop(nav_enhet="0301", begrunnelse="feil kontor"), KONTEKST)
    hendelser = lop.collect_events()

    assert hendelser[0].hendelse_id == hendelse_id(LOP_ID, 2)  # type: ignore[attr-defined]
    assert hendelser[1].hendelse_id == hendelse_id(LOP_ID, 1)  # type: ignore[attr-defined]
    with pytest.raises(InvalidRequest):
        lop.korriger(KorrigerLop(hendelse_id=UUID(int=7), nav_enhet="0301", begrunnelse="x"), KONTEKST)


def test_lop_9_a_correction_needs_a_field_and_a_begrunnelse_and_rechecks_every_invariant():
    lop = innvilget()

    with pytest.raises(InvalidRequest):
        lop.korriger(KorrigerLop(begrunnelse="ingenting"), KONTEKST)
    avvist_uten_hendelser(
        "BEGRUNNELSE_REQUIRED", lop, lop.korriger, KorrigerLop(nav_enhet="0301", begrunnelse=" "), KONTEKST
    )
    avvist_uten_hendelser(
        "INVALID_DATE_RANGE", lop, lop.korriger, KorrigerLop(tom=date(2024, 8, 1), begrunnelse="x"), KONTEKST
    )
    with pytest.raises(InvalidRequest):
        lop.korriger(KorrigerLop(sluttdato=date(2024, 9, 1), begrunnelse="ikke avsluttet"), KONTEKST)


def test_lop_9_a_corrected_target_group_recomputes_the_caps():
    lop = innvilget(tiltakstype="IPS", malgruppe="NEDSATT_ARBEIDSEVNE", tom=date(2026, 8, 14))

    feil = avvist_uten_hendelser(
        "CORRECTION_VIOLATES_CAP",
        lop,
        lop.korriger,
        KorrigerLop(malgruppe="ARBEIDSSOKER", begrunnelse="x"),
        KONTEKST,
    )
    lop.korriger(
        KorrigerLop(malgruppe="ARBEIDSSOKER", tom=date(2025, 8, 14), begrunnelse="feil gruppe"), KONTEKST
    )

    assert feil.limits["max_tom"] == date(2025, 8, 14)
    assert lop.total_cap_tom() == date(2025, 8, 14)


def test_lop_13_a_refused_command_appends_nothing_and_explains_the_limit():
    lop = innvilget(tiltakstype="MENTOR", tom=date(2025, 2, 14))

    feil = avvist_uten_hendelser(
        "EXCEEDS_MAX_DURATION",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2025, 3, 1), aarsak="SAERLIGE_BEHOV"),
        KONTEKST,
    )

    assert feil.limits == {"max_tom": date(2025, 2, 14)}
    assert feil.status == 422


def test_lop_13_a_refused_grant_creates_no_aggregate():
    with pytest.raises(DomainError):
        innvilg(**grunnlag(tom=date(2030, 1, 1)))


def test_lop_15_sluttdato_must_lie_between_fom_and_the_current_tom():
    lop = innvilget(tom=date(2025, 1, 31))

    etter = avvist_uten_hendelser(
        "INVALID_DATE_RANGE",
        lop,
        lop.avslutt,
        AvsluttLop(sluttdato=date(2025, 2, 1), aarsak="FULLFORT"),
        KONTEKST,
    )
    avvist_uten_hendelser(
        "INVALID_DATE_RANGE",
        lop,
        lop.avslutt,
        AvsluttLop(sluttdato=date(2024, 8, 14), aarsak="FULLFORT"),
        KONTEKST,
    )
    avvist_uten_hendelser(
        "INVALID_DATE_RANGE", lop, lop.avslutt, AvsluttLop(sluttdato=None, aarsak="FULLFORT"), KONTEKST
    )
    with pytest.raises(InvalidRequest):
        lop.avslutt(AvsluttLop(sluttdato=date(2025, 1, 1), aarsak=None), KONTEKST)

    assert etter.limits["max_dato"] == date(2025, 1, 31)


def test_lop_16_only_vta_vtao_and_varig_lonnstilskudd_may_be_open_ended():
    for tiltakstype in ("VTA", "VTAO", "VARIG_LONNSTILSKUDD"):
        lop = innvilget(tiltakstype=tiltakstype, malgruppe="NEDSATT_ARBEIDSEVNE", tom=None)

        assert lop.tom is None and lop.opptatt_tom is None
    for tiltakstype in (
        "UTVIDET_OPPFOLGING_EGEN_REGI",
        "FUNKSJONSASSISTANSE",
        "AU_REISER",
        "MIDLERTIDIG_LONNSTILSKUDD",
    ):
        avvist("INVALID_DATE_RANGE", innvilg, **grunnlag(tiltakstype=tiltakstype, tom=None))


def test_lop_12_every_event_carries_the_command_id_the_store_makes_idempotent():
    kontekst = replace(KONTEKST, command_id="cmd-1")
    lop = innvilg(**grunnlag(kontekst=kontekst))
    lop.avkort(Avkort(ny_tom=date(2025, 1, 31)), replace(KONTEKST, command_id="cmd-2"))

    hendelser = lop.collect_events()

    assert [h.kontekst.command_id for h in hendelser] == ["cmd-1", "cmd-2"]  # type: ignore[attr-defined]


def _til(**endring: Any) -> NyttLop:
    verdier: dict[str, Any] = {
        "tiltakstype": "OPPFOLGING", "malgruppe": "ARBEIDSSOKER", "fom": date(2025, 1, 1), "tom": date(2025, 6, 30),
        "nav_enhet": "4601", "vedtak_ref": "BEHOVSVURDERING-2",
    }  # fmt: skip
    return NyttLop(**(verdier | endring))


def test_lop_14_a_transition_ends_the_source_and_grants_the_next_to_the_same_person():
    kilde = innvilget()

    ny = kilde.overgang(
        Overgang(sluttdato=date(2024, 12, 31), til=_til()), ny_id=UUID(int=42), kontekst=KONTEKST
    )

    assert (kilde.avslutningsaarsak, kilde.sluttdato) == (
        Avslutningsaarsak.OVERGANG_TILTAK,
        date(2024, 12, 31),
    )
    assert kilde.overgang_til == OvergangTil(tiltakstype=Tiltakstype.OPPFOLGING, tiltakslop_id=UUID(int=42))
    assert (ny.id, ny.person, ny.fodselsdato, ny.nav_enhet) == (
        UUID(int=42),
        kilde.person,
        kilde.fodselsdato,
        "4601",
    )
    assert (ny.forgjenger_lop_id, ny.overgang_fra_tiltakstype) == (kilde.id, Tiltakstype.ARBEIDSTRENING)
    assert [type(h).__name__ for h in kilde.collect_events()] == ["TiltakslopAvsluttet"]
    assert [type(h).__name__ for h in ny.collect_events()] == ["TiltakslopInnvilget"]


def test_lop_14_a_transition_judges_the_new_grant_before_the_source_is_ended():
    kilde = innvilget()
    til = _til(tiltakstype="AFT")  # ARBEIDSSOKER may not take AFT

    avvist_uten_hendelser(
        "TARGET_GROUP_NOT_ELIGIBLE", kilde, kilde.overgang, Overgang(sluttdato=date(2024, 12, 31), til=til),
        ny_id=UUID(int=42), kontekst=KONTEKST,
    )  # fmt: skip

    assert not kilde.avsluttet


def test_lop_14_a_closed_lop_is_refused_before_the_next_grant_is_judged():
    kilde = innvilget()
    kilde.annuller(Annuller(begrunnelse="feil person"), KONTEKST)

    avvist_uten_hendelser(
        "LOP_CLOSED", kilde, kilde.overgang, Overgang(), ny_id=UUID(int=42), kontekst=KONTEKST
    )


# --- other commands -----------------------------------------------------------------------------------------


def test_a_transition_end_names_the_new_lop_and_needs_it():
    lop = innvilget()
    ny = OvergangTil(tiltakstype=Tiltakstype.OPPFOLGING, tiltakslop_id=UUID(int=99))

    with pytest.raises(InvalidRequest):
        lop.avslutt(AvsluttLop(sluttdato=date(2024, 12, 31), aarsak="OVERGANG_TILTAK"), KONTEKST)
    lop.avslutt(AvsluttLop(sluttdato=date(2024, 12, 31), aarsak="OVERGANG_TILTAK"), KONTEKST, overgang_til=ny)

    assert lop.overgang_til == ny
    assert [type(h).__name__ for h in lop.collect_events()] == ["TiltakslopAvsluttet"]


def test_ending_with_annet_needs_a_begrunnelse():
    lop = innvilget()

    avvist_uten_hendelser(
        "BEGRUNNELSE_REQUIRED",
        lop,
        lop.avslutt,
        AvsluttLop(sluttdato=date(2024, 9, 1), aarsak="ANNET"),
        KONTEKST,
    )


def test_an_annulment_needs_a_begrunnelse():
    lop = innvilget()

    avvist_uten_hendelser("BEGRUNNELSE_REQUIRED", lop, lop.annuller, Annuller(begrunnelse=None), KONTEKST)


def test_a_shortening_must_end_before_the_current_tom_and_not_before_fom():
    lop = innvilget()

    avvist_uten_hendelser("INVALID_DATE_RANGE", lop, lop.avkort, Avkort(ny_tom=date(2025, 8, 14)), KONTEKST)
    avvist_uten_hendelser("INVALID_DATE_RANGE", lop, lop.avkort, Avkort(ny_tom=date(2024, 8, 14)), KONTEKST)
    lop.avkort(Avkort(ny_tom=date(2024, 8, 15)), KONTEKST)

    assert lop.tom == date(2024, 8, 15)


def test_a_grant_refuses_malformed_codes_and_identifiers_as_invalid_requests():
    for endring in (
        {"tiltakstype": "SOMMERJOBB"},
        {"tiltakstype": None},
        {"person": "15085012345"},
        {"nav_enhet": "9915"},
        {"variant": "AMO"},
        {"stillingstype": "FAST"},
        {"tilskuddsprosent": 40},
    ):
        with pytest.raises(InvalidRequest):
            innvilg(**grunnlag(**endring))


def test_replaying_the_events_rebuilds_the_same_state():
    lop = innvilg(**grunnlag(malgruppe="NEDSATT_ARBEIDSEVNE", tom=date(2025, 1, 31)))
    lop.forleng(Forleng(ny_tom=date(2025, 8, 14), aarsak="BEHOV_VIDERE"), KONTEKST)
    lop.korriger(KorrigerLop(vedtak_ref="AEV-2", begrunnelse="ny referanse"), KONTEKST)
    lop.avslutt(AvsluttLop(sluttdato=date(2025, 6, 1), aarsak="OVERGANG_ARBEID"), KONTEKST)

    kopi = None
    for hendelse in lop.collect_events():
        kopi = hendelse.mutate(kopi)

    assert isinstance(kopi, Tiltakslop)
    assert kopi.__dict__ == lop.__dict__


def test_the_event_classes_carry_the_contracts_type_names():
    navn = [
        "TiltakslopInnvilget",
        "TiltakslopForlenget",
        "TiltakslopAvkortet",
        "MalgruppeEndret",
        "OppfolgingsvurderingGjennomfort",
        "TilskuddssatsFastsatt",
        "PermisjonInnvilget",
        "TiltakslopAvsluttet",
        "TiltakslopAnnullert",
        "TiltakslopKorrigert",
    ]

    klasser = [getattr(Tiltakslop, n) for n in navn]

    assert [k.__qualname__ for k in klasser] == [f"Tiltakslop.{n}" for n in navn]
