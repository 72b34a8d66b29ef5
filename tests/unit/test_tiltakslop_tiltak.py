"""Measure-specific rules of rules.md §4 (OPP-*, AFT-*, LTS-*, VTA-*, OPF-*, IPS-*, MEN-*, ...)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from domain.commands import EndreMalgruppe, FastsettSats, Forleng, InnvilgPermisjon, RegistrerVurdering
from domain.config import STANDARD, AlderRegel, PilotVindu
from domain.errors import InvalidRequest
from domain.katalog import Forlengelsesaarsak, Tiltakstype
from domain.tiltakslop import Forlengelsesmulighet, Status
from tests.unit.test_tiltakslop import (
    KONTEKST,
    avvist,
    avvist_uten_hendelser,
    fodt_for,
    grunnlag,
    innvilg,
    innvilget,
)

NAE = "NEDSATT_ARBEIDSEVNE"
FOM = date(2024, 8, 15)


def opplaering(variant: str = "AMO", **endringer):
    return {
        "tiltakstype": "OPPLAERING",
        "variant": variant,
        "fom": FOM,
        "tom": date(2027, 8, 14),
        **endringer,
    }


# --- opplæring ----------------------------------------------------------------------------------------------


def test_opp_1_opplaering_has_a_required_variant_and_the_pilot_takes_none():
    with pytest.raises(InvalidRequest):
        innvilg(**grunnlag(**opplaering(variant=None)))
    with pytest.raises(InvalidRequest):
        innvilg(
            **grunnlag(tiltakstype="OPPLAERING_LENGRE_VARIGHET_FORSOK", variant="AMO", tom=date(2028, 8, 14))
        )

    lop = innvilget(**opplaering("FAG_OG_YRKE"))

    assert lop.variant == "FAG_OG_YRKE"


def test_opp_2_the_base_cap_is_three_years():
    feil = avvist("EXCEEDS_BASE_DURATION", innvilg, **grunnlag(**opplaering(tom=date(2027, 8, 15))))

    assert feil.limits["max_tom"] == date(2027, 8, 14)


def test_opp_3_one_more_year_in_total_only_for_special_reasons_with_a_text_in_several_steps():
    lop = innvilget(**opplaering())

    avvist_uten_hendelser(
        "EXTENSION_REASON_NOT_ALLOWED",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2028, 1, 1), aarsak="BEHOV_VIDERE"),
        KONTEKST,
    )
    avvist_uten_hendelser(
        "BEGRUNNELSE_REQUIRED",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2028, 1, 1), aarsak="SAERLIGE_GRUNNER"),
        KONTEKST,
    )
    lop.forleng(Forleng(ny_tom=date(2028, 1, 1), aarsak="SAERLIGE_GRUNNER", begrunnelse="sykdom"), KONTEKST)
    lop.forleng(Forleng(ny_tom=date(2028, 8, 14), aarsak="SAERLIGE_GRUNNER", begrunnelse="sykdom"), KONTEKST)
    feil = avvist_uten_hendelser(
        "EXCEEDS_MAX_DURATION",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2028, 8, 15), aarsak="SAERLIGE_GRUNNER", begrunnelse="x"),
        KONTEKST,
    )

    assert feil.limits["max_tom"] == date(2028, 8, 14)


def test_opp_4_the_fourth_year_cannot_be_granted_up_front():
    feil = avvist("EXCEEDS_BASE_DURATION", innvilg, **grunnlag(**opplaering(tom=date(2028, 8, 14))))

    assert feil.limits["max_tom"] == date(2027, 8, 14)


def test_opp_5_studiespesialisering_is_one_year_with_no_extension():
    lop = innvilget(**opplaering("STUDIESPESIALISERING", tom=date(2025, 8, 14)))

    feil = avvist_uten_hendelser(
        "EXCEEDS_MAX_DURATION",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2025, 9, 1), aarsak="SAERLIGE_GRUNNER", begrunnelse="x"),
        KONTEKST,
    )

    assert feil.limits["max_tom"] == date(2025, 8, 14)
    assert not lop.forlengelse_muligheter().mulig


def test_opp_6_the_pilot_runs_four_plus_one_years_in_its_counties_from_its_start():
    lop = innvilget(tiltakstype="OPPLAERING_LENGRE_VARIGHET_FORSOK", nav_enhet="3301", tom=date(2028, 8, 14))

    lop.forleng(
        Forleng(ny_tom=date(2029, 8, 14), aarsak="SAERLIGE_GRUNNER", begrunnelse="svake ferdigheter"),
        KONTEKST,
    )

    assert lop.total_cap_tom() == date(2029, 8, 14)
    avvist(
        "OUTSIDE_PILOT_AREA",
        innvilg,
        **grunnlag(tiltakstype="OPPLAERING_LENGRE_VARIGHET_FORSOK", nav_enhet="1103", tom=date(2028, 8, 14)),
    )


def test_opp_6_the_pilot_area_and_start_come_from_configuration():
    konfig = replace(
        STANDARD, piloter={"OPPLAERING_LENGRE_VARIGHET_FORSOK": PilotVindu(fom=date(2025, 1, 1))}
    )

    feil = avvist(
        "BEFORE_SCHEME_START",
        innvilg,
        **grunnlag(
            tiltakstype="OPPLAERING_LENGRE_VARIGHET_FORSOK",
            nav_enhet="1103",
            tom=date(2028, 8, 14),
            konfig=konfig,
        ),
    )

    assert feil.limits["min_fom"] == date(2025, 1, 1)


def test_opp_7_opplaering_with_mentor_is_not_judged_by_the_lop_which_exposes_its_occupied_period():
    opp = innvilget(**opplaering())
    mentor = innvilget(tiltakstype="MENTOR", tom=date(2025, 2, 14))

    assert (opp.tiltakstype, opp.fom, opp.opptatt_tom, opp.annullert) == (
        Tiltakstype.OPPLAERING,
        FOM,
        date(2027, 8, 14),
        False,
    )
    assert mentor.opptatt_tom == date(2025, 2, 14)


def test_opp_8_opplaering_nested_in_kvp_is_two_independent_lop():
    kvp = innvilget(tiltakstype="KVP", tom=date(2026, 8, 14))
    opp = innvilget(**opplaering(tom=date(2025, 8, 14)))

    assert (kvp.tiltakstype, kvp.opptatt_tom) == (Tiltakstype.KVP, date(2026, 8, 14))
    assert (opp.tiltakstype, opp.opptatt_tom) == (Tiltakstype.OPPLAERING, date(2025, 8, 14))


def test_opp_age_completed_years_by_default_and_calendar_year_when_configured():
    fodt = date(2005, 12, 1)  # 18 on FOM, turns 19 later in 2024
    kalender = replace(STANDARD, alder_regel=AlderRegel.CALENDAR_YEAR)

    feil = avvist("AGE_BELOW_MINIMUM", innvilg, **grunnlag(**opplaering(), fodselsdato=fodt))
    lop = innvilg(**grunnlag(**opplaering(), fodselsdato=fodt, konfig=kalender))

    assert feil.limits["min_alder"] == 19
    assert lop.fodselsdato == fodt


def test_opp_age_higher_education_needs_22_and_nedsatt_arbeidsevne():
    hoyere = opplaering("HOYERE_UTDANNING", malgruppe=NAE)

    feil = avvist("AGE_BELOW_MINIMUM", innvilg, **grunnlag(**hoyere, fodselsdato=fodt_for(21, FOM, 300)))
    lop = innvilget(**hoyere, fodselsdato=fodt_for(22, FOM))

    assert feil.limits["min_alder"] == 22
    assert lop.malgruppe == NAE
    avvist("TARGET_GROUP_NOT_ELIGIBLE", innvilg, **grunnlag(**opplaering("HOYERE_UTDANNING")))


def test_opp_9_proposals_are_not_rules_so_fov_is_refused_as_a_variant():
    with pytest.raises(InvalidRequest):
        innvilg(**grunnlag(**opplaering("FOV")))


# --- AFT ----------------------------------------------------------------------------------------------------


def aft(**endringer):
    return {"tiltakstype": "AFT", "malgruppe": NAE, "tom": date(2025, 8, 14), **endringer}


def test_aft_1_aft_is_for_nedsatt_arbeidsevne_only():
    avvist("TARGET_GROUP_NOT_ELIGIBLE", innvilg, **grunnlag(**aft(malgruppe="ARBEIDSSOKER")))


def test_aft_2_the_second_year_needs_training_towards_a_formal_qualification():
    lop = innvilget(**aft())

    for aarsak in ("SAERLIGE_GRUNNER", "BEHOV_VIDERE"):
        avvist_uten_hendelser(
            "EXTENSION_REASON_NOT_ALLOWED",
            lop,
            lop.forleng,
            Forleng(ny_tom=date(2026, 8, 14), aarsak=aarsak),
            KONTEKST,
        )
    lop.forleng(Forleng(ny_tom=date(2026, 8, 14), aarsak="OPPLAERING_FORMELL_KOMPETANSE"), KONTEKST)

    assert lop.tom == date(2026, 8, 14)


def test_aft_3_status_and_progress_are_reviewed_every_three_months_from_the_last_review():
    lop = innvilget(**aft())

    assert lop.neste_vurdering() == date(2024, 11, 15)
    with pytest.raises(InvalidRequest):
        lop.registrer_vurdering(
            RegistrerVurdering(dato=date(2024, 11, 1), type="LTS_HALVAARSVURDERING", utfall="OK"), KONTEKST
        )
    lop.registrer_vurdering(
        RegistrerVurdering(dato=date(2024, 11, 30), type="AFT_STATUS_PROGRESJON", utfall="FORTSETTER"),
        KONTEKST,
    )

    assert lop.neste_vurdering() == date(2025, 2, 28)


def test_aft_4_the_ordinary_arena_flag_shows_three_months_before_tom_unless_one_is_registered():
    lop = innvilget(**aft())

    foer = lop.tilstand(date(2025, 5, 13)).warnings
    etter = lop.tilstand(date(2025, 5, 14)).warnings
    tilbudt = lop.tilstand(date(2025, 5, 14), ordinaer_arena_tilbudt=True).warnings

    assert "AFT_ORDINARY_ARENA_NOT_OFFERED" not in foer
    assert "AFT_ORDINARY_ARENA_NOT_OFFERED" in etter
    assert "AFT_ORDINARY_ARENA_NOT_OFFERED" not in tilbudt


def test_aft_5_exclusivity_with_education_is_judged_across_lop_from_the_exposed_periods():
    lop = innvilget(**aft())

    assert (lop.tiltakstype, lop.fom, lop.opptatt_tom) == (Tiltakstype.AFT, FOM, date(2025, 8, 14))


def test_aft_6_participants_get_no_wage_so_aft_takes_no_subsidy_rate():
    with pytest.raises(InvalidRequest):
        innvilg(**grunnlag(**aft(tilskuddsprosent=50)))


def test_aft_7_the_provider_and_its_history_are_not_part_of_the_grant():
    lop = innvilget(**aft())

    assert not hasattr(lop, "arrangor")


# --- lønnstilskudd ------------------------------------------------------------------------------------------


def varig(**endringer):
    return {"tiltakstype": "VARIG_LONNSTILSKUDD", "malgruppe": NAE, "tom": None, **endringer}


def test_lts_1_a_wage_subsidy_grant_needs_no_wage_figures():
    lop = innvilget(**varig())

    assert lop.gjeldende_sats(FOM) == 75


def test_lts_2_the_agreed_rate_is_optional_and_the_maximum_applies_without_one():
    uten = innvilget(tiltakstype="MIDLERTIDIG_LONNSTILSKUDD", tom=date(2025, 8, 14))
    med = innvilget(tiltakstype="MIDLERTIDIG_LONNSTILSKUDD", tom=date(2025, 8, 14), tilskuddsprosent=25)

    assert uten.gjeldende_sats(FOM) == 40
    assert med.gjeldende_sats(FOM) == 25


def test_lts_3_wage_subsidies_are_reviewed_every_half_year():
    for endring in (
        varig(),
        {"tiltakstype": "MIDLERTIDIG_LONNSTILSKUDD"},
        {
            "tiltakstype": "FIREARIG_LONNSTILSKUDD_FORSOK",
            "fom": date(2026, 8, 31),
            "tom": date(2027, 8, 30),
            "stillingstype": "FAST",
            "fodselsdato": date(2000, 1, 1),
        },
    ):
        lop = innvilget(**endring)

        assert lop.neste_vurdering() == (date(2027, 2, 28) if lop.fom.year == 2026 else date(2025, 2, 15))


def test_lts_4_varig_rate_is_at_most_75_then_67_from_the_anniversary():
    feil = avvist("RATE_ABOVE_MAXIMUM", innvilg, **grunnlag(**varig(tilskuddsprosent=76)))
    lop = innvilget(**varig(tilskuddsprosent=75))

    senere = avvist_uten_hendelser(
        "RATE_ABOVE_MAXIMUM",
        lop,
        lop.fastsett_sats,
        FastsettSats(prosent=70, fom=date(2025, 8, 15)),
        KONTEKST,
    )
    lop.fastsett_sats(FastsettSats(prosent=60, fom=date(2025, 9, 1)), KONTEKST)

    assert feil.limits["max_prosent"] == 75
    assert senere.limits["max_prosent"] == 67
    assert lop.gjeldende_sats(date(2025, 8, 14)) == 75
    assert lop.gjeldende_sats(date(2025, 8, 15)) == 67
    assert lop.gjeldende_sats(date(2025, 9, 1)) == 60


def test_lts_5_midlertidig_rates_and_caps_follow_the_target_group():
    feil = avvist(
        "RATE_ABOVE_MAXIMUM",
        innvilg,
        **grunnlag(tiltakstype="MIDLERTIDIG_LONNSTILSKUDD", tilskuddsprosent=41),
    )
    nae = innvilget(
        tiltakstype="MIDLERTIDIG_LONNSTILSKUDD", malgruppe=NAE, tom=date(2026, 8, 14), tilskuddsprosent=60
    )

    assert feil.limits["max_prosent"] == 40
    assert nae.gjeldende_sats(date(2025, 8, 15)) == 50
    assert not nae.forlengelse_muligheter().mulig
    avvist(
        "EXCEEDS_BASE_DURATION",
        innvilg,
        **grunnlag(tiltakstype="MIDLERTIDIG_LONNSTILSKUDD", tom=date(2025, 8, 15)),
    )


def firearig(**endringer):
    return {
        "tiltakstype": "FIREARIG_LONNSTILSKUDD_FORSOK",
        "fom": date(2026, 8, 1),
        "tom": date(2030, 7, 31),
        "stillingstype": "FAST",
        "fodselsdato": date(2000, 1, 1),
        **endringer,
    }


def test_lts_6_firearig_is_for_under_30_within_the_pilot_window_with_caps_by_position():
    lop = innvilget(**firearig())

    alder = avvist("AGE_ABOVE_MAXIMUM", innvilg, **grunnlag(**firearig(fodselsdato=date(1996, 8, 1))))
    start = avvist(
        "BEFORE_SCHEME_START",
        innvilg,
        **grunnlag(**firearig(fom=date(2026, 7, 31), tom=date(2027, 7, 1))),
    )
    slutt = avvist(
        "AFTER_SCHEME_END",
        innvilg,
        **grunnlag(**firearig(fom=date(2030, 1, 1), tom=date(2033, 1, 1), fodselsdato=date(2002, 1, 1))),
    )
    stilling = avvist("EXCEEDS_BASE_DURATION", innvilg, **grunnlag(**firearig(stillingstype="MIDLERTIDIG")))

    assert alder.limits["maks_alder"] == 29
    assert start.limits["min_fom"] == date(2026, 8, 1)
    assert slutt.limits["max_tom"] == date(2032, 12, 31)
    assert stilling.limits["max_tom"] == date(2028, 7, 31)
    assert [lop.maks_sats(date(2026 + k, 8, 1)) for k in range(4)] == [70, 60, 50, 35]
    with pytest.raises(InvalidRequest):
        innvilg(**grunnlag(**firearig(stillingstype=None)))


def test_lts_7_varig_lonnstilskudd_may_be_granted_while_receiving_uforetrygd():
    lop = innvilget(**varig(mottar_uforetrygd=True))

    assert lop.mottar_uforetrygd


def test_lts_8_mentor_alongside_a_wage_subsidy_is_two_lop_the_overlap_is_judged_per_person():
    lts = innvilget(**varig())
    mentor = innvilget(tiltakstype="MENTOR", tom=date(2025, 2, 14))

    assert lts.opptatt_tom is None
    assert mentor.fom == lts.fom


# --- VTA / VTAO ---------------------------------------------------------------------------------------------


def vta(**endringer):
    return {"tiltakstype": "VTA", "malgruppe": NAE, "tom": None, **endringer}


def test_vta_1_vta_has_no_time_limit():
    lop = innvilget(**vta())

    tilstand = lop.tilstand(date(2040, 1, 1))

    assert tilstand.total_cap_tom is None
    assert tilstand.status == Status.AKTIV


def test_vta_2_vta_is_for_nedsatt_arbeidsevne_and_does_not_require_uforetrygd_yet():
    lop = innvilget(**vta(mottar_uforetrygd=False))

    assert not lop.mottar_uforetrygd
    avvist("TARGET_GROUP_NOT_ELIGIBLE", innvilg, **grunnlag(**vta(malgruppe="ARBEIDSSOKER")))


def test_vta_3_hospitering_leave_is_at_most_half_a_year_and_may_be_repeated():
    lop = innvilget(**vta())

    feil = avvist_uten_hendelser(
        "LEAVE_TOO_LONG",
        lop,
        lop.innvilg_permisjon,
        InnvilgPermisjon(fom=date(2024, 8, 31), tom=date(2025, 3, 1), type="HOSPITERING"),
        KONTEKST,
    )
    lop.innvilg_permisjon(
        InnvilgPermisjon(fom=date(2024, 8, 31), tom=date(2025, 2, 27), type="HOSPITERING"), KONTEKST
    )
    lop.innvilg_permisjon(
        InnvilgPermisjon(
            fom=date(2025, 6, 1), tom=date(2025, 11, 30), type="HOSPITERING", vertsbedrift="Bedrift AS"
        ),
        KONTEKST,
    )

    assert feil.limits["max_tom"] == date(2025, 2, 27)
    assert len(lop.permisjoner) == 2
    assert lop.status(date(2025, 7, 1)) == Status.AKTIV


def test_vta_4_external_work_is_a_projection_warning_never_a_refusal_or_an_end():
    lop = innvilget(**vta())

    tilstand = lop.tilstand(date(2026, 1, 1))

    assert tilstand.warnings == ()
    assert tilstand.status == Status.AKTIV


def test_vta_5_transfer_is_assessed_on_a_configurable_cadence():
    lop = innvilget(**vta())
    halvaar = replace(
        STANDARD, vurdering_intervall_maaneder={**STANDARD.vurdering_intervall_maaneder, "VTA": 6}
    )

    lop.registrer_vurdering(
        RegistrerVurdering(dato=date(2025, 8, 1), type="VTA_OVERFORINGSVURDERING", utfall="BLIR"), KONTEKST
    )

    assert lop.neste_vurdering() == date(2026, 8, 1)
    assert lop.neste_vurdering(halvaar) == date(2026, 2, 1)


def test_vtao_1_the_employer_documents_at_least_yearly():
    lop = innvilget(tiltakstype="VTAO", malgruppe=NAE, tom=None)

    assert lop.neste_vurdering() == date(2025, 8, 15)
    assert lop.tilstand(date(2025, 8, 16)).review_status == "OVERDUE"
    with pytest.raises(InvalidRequest):
        lop.innvilg_permisjon(InnvilgPermisjon(fom=FOM, tom=FOM, type="HOSPITERING"), KONTEKST)


# --- oppfølging, IPS, mentor, arbeidstrening, others --------------------------------------------------------


def test_opf_1_nae_up_to_three_years_and_six_more_months_at_a_transition_from_school_or_prison():
    lop = innvilget(tiltakstype="OPPFOLGING", malgruppe=NAE, tom=date(2025, 2, 14))

    lop.forleng(Forleng(ny_tom=date(2027, 8, 14), aarsak="BEHOV_VIDERE"), KONTEKST)
    feil = avvist_uten_hendelser(
        "EXTENSION_REASON_NOT_ALLOWED",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2027, 9, 1), aarsak="BEHOV_VIDERE"),
        KONTEKST,
    )
    lop.forleng(Forleng(ny_tom=date(2028, 2, 14), aarsak="OVERGANG_SKOLE_SONING"), KONTEKST)

    assert feil.limits["max_tom"] == date(2027, 8, 14)
    assert lop.tom == lop.total_cap_tom() == date(2028, 2, 14)


def test_opf_1_arbeidssoker_gets_six_plus_six_months():
    lop = innvilget(tiltakstype="OPPFOLGING", tom=date(2025, 2, 14))

    feil = avvist_uten_hendelser(
        "EXCEEDS_MAX_DURATION",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2025, 8, 15), aarsak="BEHOV_VIDERE"),
        KONTEKST,
    )

    assert feil.limits["max_tom"] == date(2025, 8, 14)
    assert lop.forlengelse_muligheter().grunner == [
        Forlengelsesmulighet(Forlengelsesaarsak.BEHOV_VIDERE, date(2025, 8, 14))
    ]


def test_opf_2_oppfolging_with_arbeidstrening_is_two_lop_each_exposing_its_period():
    opf = innvilget(tiltakstype="OPPFOLGING", tom=date(2025, 2, 14))
    art = innvilget()

    assert opf.opptatt_tom == date(2025, 2, 14) and art.opptatt_tom == date(2025, 8, 14)


def test_ips_1_after_a_change_to_nae_the_nae_cap_applies_from_the_original_fom():
    lop = innvilget(tiltakstype="IPS", tom=date(2025, 8, 14))
    avvist_uten_hendelser(
        "EXCEEDS_MAX_DURATION",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2026, 1, 1), aarsak="BEHOV_VIDERE"),
        KONTEKST,
    )

    lop.endre_malgruppe(EndreMalgruppe(ny_malgruppe=NAE, fom=date(2025, 3, 1), vedtak_ref="AEV-9"), KONTEKST)
    lop.forleng(Forleng(ny_tom=date(2027, 8, 14), aarsak="BEHOV_VIDERE"), KONTEKST)

    assert lop.total_cap_tom() == date(2027, 8, 14)


def test_ips_2_getting_a_job_does_not_end_ips():
    lop = innvilget(tiltakstype="IPS", tom=date(2025, 8, 14))

    assert lop.status(date(2025, 8, 14)) == Status.AKTIV
    assert not lop.avsluttet


def test_ips_3_ips_ung_extends_one_year_only_for_education():
    lop = innvilget(tiltakstype="IPS_UNG", fodselsdato=date(2000, 1, 1), tom=date(2025, 8, 14))

    avvist_uten_hendelser(
        "EXTENSION_REASON_NOT_ALLOWED",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2026, 8, 14), aarsak="BEHOV_VIDERE"),
        KONTEKST,
    )
    lop.forleng(Forleng(ny_tom=date(2026, 8, 14), aarsak="DELTAR_I_OPPLAERING_UTDANNING"), KONTEKST)

    assert lop.tom == date(2026, 8, 14)
    assert lop.regel().maks_alder == 30


def test_ips_4_ips_alongside_another_measure_is_not_refused_by_the_lop():
    ips = innvilget(tiltakstype="IPS", tom=date(2025, 8, 14))
    art = innvilget()

    assert ips.fom == art.fom


def test_men_1_mentor_is_six_months_and_up_to_three_years_for_nae_with_special_needs():
    as_lop = innvilget(tiltakstype="MENTOR", tom=date(2025, 2, 14))
    nae = innvilget(tiltakstype="MENTOR", malgruppe=NAE, tom=date(2025, 2, 14))

    avvist_uten_hendelser(
        "EXCEEDS_MAX_DURATION",
        as_lop,
        as_lop.forleng,
        Forleng(ny_tom=date(2025, 3, 1), aarsak="SAERLIGE_BEHOV"),
        KONTEKST,
    )
    nae.forleng(Forleng(ny_tom=date(2027, 8, 14), aarsak="SAERLIGE_BEHOV"), KONTEKST)

    assert nae.tom == date(2027, 8, 14)


def test_men_2_mentor_as_an_add_on_is_its_own_lop():
    mentor = innvilget(tiltakstype="MENTOR", tom=date(2025, 2, 14))

    assert mentor.tiltakstype == Tiltakstype.MENTOR


def test_art_1_arbeidstrening_is_one_year_and_six_more_months_for_nae_only():
    as_lop = innvilget()
    nae = innvilget(malgruppe=NAE)

    avvist_uten_hendelser(
        "EXCEEDS_MAX_DURATION",
        as_lop,
        as_lop.forleng,
        Forleng(ny_tom=date(2025, 9, 1), aarsak="NEDSATT_ARBEIDSEVNE"),
        KONTEKST,
    )
    nae.forleng(Forleng(ny_tom=date(2026, 2, 14), aarsak="NEDSATT_ARBEIDSEVNE"), KONTEKST)

    assert nae.tom == date(2026, 2, 14)


def test_kvp_1_kvp_is_two_years_plus_one():
    lop = innvilget(tiltakstype="KVP", tom=date(2026, 8, 14))

    assert lop.base_cap_tom() == date(2026, 8, 14)
    assert lop.forlengelse_muligheter().grunner == [
        Forlengelsesmulighet(Forlengelsesaarsak.FORLENGELSE_KVP, date(2027, 8, 14))
    ]


def test_avk_1_avklaring_is_four_weeks_and_eight_more_for_special_needs():
    lop = innvilget(tiltakstype="AVKLARING", tom=date(2024, 9, 11))

    lop.forleng(Forleng(ny_tom=date(2024, 11, 6), aarsak="SAERLIGE_BEHOV"), KONTEKST)

    assert lop.total_cap_tom() == date(2024, 11, 6)
    avvist(
        "EXCEEDS_BASE_DURATION",
        innvilg,
        **grunnlag(tiltakstype="AVKLARING", tom=date(2024, 9, 12)),
    )


def test_arr_1_arbeidsrettet_rehabilitering_is_at_most_twelve_weeks():
    lop = innvilget(tiltakstype="ARBEIDSRETTET_REHABILITERING", tom=date(2024, 11, 6))

    assert not lop.forlengelse_muligheter().mulig
    avvist(
        "EXCEEDS_BASE_DURATION",
        innvilg,
        **grunnlag(tiltakstype="ARBEIDSRETTET_REHABILITERING", tom=date(2024, 11, 7)),
    )


def test_ink_1_inkluderingstilskudd_needs_no_cost_figures_and_runs_twelve_months():
    lop = innvilget(tiltakstype="INKLUDERINGSTILSKUDD", tom=date(2025, 8, 14))

    assert lop.total_cap_tom() == date(2025, 8, 14)


def test_ungdomsprogram_extends_once_by_40_working_days():
    lop = innvilget(
        tiltakstype="UNGDOMSPROGRAM_FORSOK",
        fodselsdato=date(2000, 1, 1),
        fom=date(2024, 1, 1),
        tom=date(2024, 12, 27),
    )

    lop.forleng(Forleng(ny_tom=date(2025, 1, 31), aarsak="BEHOV_VIDERE"), KONTEKST)
    feil = avvist_uten_hendelser(
        "EXTENSION_REASON_NOT_ALLOWED",
        lop,
        lop.forleng,
        Forleng(ny_tom=date(2025, 2, 21), aarsak="BEHOV_VIDERE"),
        KONTEKST,
    )

    assert feil.limits["max_tom"] == date(2024, 12, 27)
    assert not lop.forlengelse_muligheter().mulig


def test_uncapped_measures_need_a_tom_but_extend_without_limit():
    lop = innvilget(tiltakstype="FUNKSJONSASSISTANSE", tom=date(2030, 1, 1))

    lop.forleng(Forleng(ny_tom=date(2040, 1, 1), aarsak="BEHOV_VIDERE"), KONTEKST)

    assert lop.forlengelse_muligheter().grunner == [
        Forlengelsesmulighet(Forlengelsesaarsak.BEHOV_VIDERE, None)
    ]
