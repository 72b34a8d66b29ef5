"""The catalogue as data: rule-set selection (GEN-12), caps, extension reasons and rate schedules."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from domain.common import Malgruppe
from domain.config import STANDARD
from domain.errors import InvalidRequest
from domain.katalog import (
    REGELSETT,
    SEED_2024,
    Avslutningsaarsak,
    Forlengelsesaarsak,
    Regelsett,
    Stillingstype,
    Tiltakstype,
    Variant,
    Varighet,
    arbeidsdag_nr,
    regelsett_for,
    regelsett_med_id,
    som_enum,
)

AS = Malgruppe.ARBEIDSSOKER
NAE = Malgruppe.NEDSATT_ARBEIDSEVNE


def _test_regelsett_2025() -> Regelsett:
    """A test-only later rule set: studiespesialisering gets 4 years, as NAV's code suggests (C-5, §9.3)."""
    studie = SEED_2024.regel(Tiltakstype.OPPLAERING, Variant.STUDIESPESIALISERING)
    ny = replace(
        studie,
        base={g: Varighet(years=4) for g in Malgruppe},
        total={g: Varighet(years=4) for g in Malgruppe},
    )
    regler = dict(SEED_2024.regler)
    regler[(Tiltakstype.OPPLAERING, Variant.STUDIESPESIALISERING)] = ny
    return Regelsett(id="TEST-2025", gjelder_fra=date(2025, 7, 1), regler=regler)


def test_gen_12_the_rule_set_in_force_on_fom_is_chosen():
    kandidater = (SEED_2024, _test_regelsett_2025())

    foer = regelsett_for(date(2025, 6, 30), kandidater)
    paa = regelsett_for(date(2025, 7, 1), kandidater)

    assert foer.id == "SEED-2024"
    assert paa.id == "TEST-2025"
    assert paa.regel(Tiltakstype.OPPLAERING, Variant.STUDIESPESIALISERING).base_tom(
        date(2025, 7, 1), AS
    ) == date(2029, 6, 30)


def test_gen_12_the_seed_rule_set_is_the_only_one_in_force_and_can_be_found_by_id():
    assert regelsett_for(date(2030, 1, 1)).id == "SEED-2024"
    assert regelsett_med_id("SEED-2024") is SEED_2024
    assert REGELSETT == (SEED_2024,)
    with pytest.raises(InvalidRequest):
        regelsett_med_id("UKJENT")


def test_every_top_level_measure_has_a_rule_in_the_seed_rule_set():
    for tiltakstype in Tiltakstype:
        varianter = list(Variant) if tiltakstype == Tiltakstype.OPPLAERING else [None]

        regler = [SEED_2024.regel(tiltakstype, v) for v in varianter]

        assert all(r.tiltakstype == tiltakstype for r in regler)


def test_opp_1_a_variant_is_required_on_opplaering_and_refused_elsewhere():
    with pytest.raises(InvalidRequest):
        SEED_2024.regel(Tiltakstype.OPPLAERING, None)

    with pytest.raises(InvalidRequest):
        SEED_2024.regel(Tiltakstype.AFT, Variant.AMO)


def test_opp_9_policy_proposals_are_not_rules_fov_is_no_variant_and_studiespesialisering_stays_one_year():
    studie = SEED_2024.regel(Tiltakstype.OPPLAERING, Variant.STUDIESPESIALISERING)

    with pytest.raises(InvalidRequest):
        som_enum(Variant, "FOV", "variant")

    assert studie.total_tom(date(2024, 8, 1), AS) == date(2025, 7, 31)


def test_unknown_codes_are_malformed_requests():
    with pytest.raises(InvalidRequest) as feil:
        som_enum(Avslutningsaarsak, "FERDIG", "aarsak")

    assert feil.value.code == "INVALID_REQUEST"
    assert som_enum(Forlengelsesaarsak, "BEHOV_VIDERE", "aarsak") is Forlengelsesaarsak.BEHOV_VIDERE


def test_opf_1_oppfolging_caps_and_the_reach_of_each_reason():
    regel = SEED_2024.regel(Tiltakstype.OPPFOLGING, None)
    fom = date(2024, 1, 15)

    behov = regel.grunn(Forlengelsesaarsak.BEHOV_VIDERE)
    overgang = regel.grunn(Forlengelsesaarsak.OVERGANG_SKOLE_SONING)

    assert regel.base_tom(fom, NAE) == date(2024, 7, 14)
    assert regel.total_tom(fom, AS) == date(2025, 1, 14)
    assert regel.total_tom(fom, NAE) == date(2027, 7, 14)
    assert behov is not None and regel.grunnens_tom(behov, fom, NAE, None) == date(2027, 1, 14)
    assert overgang is not None and AS not in overgang.rekkevidde


def test_ungdomsprogram_caps_count_working_days_monday_to_friday():
    regel = SEED_2024.regel(Tiltakstype.UNGDOMSPROGRAM_FORSOK, None)
    mandag = date(2024, 1, 1)

    base = regel.base_tom(mandag, AS)
    total = regel.total_tom(mandag, AS)

    assert base == date(2024, 12, 27)  # 52 whole weeks of five days
    assert total == date(2025, 2, 21)  # +8 weeks
    assert arbeidsdag_nr(date(2024, 1, 6), 1) == date(2024, 1, 8)  # a Saturday start counts from Monday


def test_lts_4_varig_rate_is_75_in_the_first_year_and_67_from_the_anniversary():
    satser = SEED_2024.regel(Tiltakstype.VARIG_LONNSTILSKUDD, None).satser
    fom = date(2024, 2, 29)

    assert satser is not None
    assert satser.maks_sats(fom, NAE, date(2025, 2, 27)) == 75
    assert satser.maks_sats(fom, NAE, date(2025, 2, 28)) == 67
    assert satser.neste_endring(fom, NAE, fom) == date(2025, 2, 28)
    assert satser.neste_endring(fom, NAE, date(2025, 2, 28)) is None


def test_lts_5_midlertidig_rates_step_down_by_target_group():
    regel = SEED_2024.regel(Tiltakstype.MIDLERTIDIG_LONNSTILSKUDD, None)
    fom = date(2024, 8, 31)

    assert regel.satser is not None
    assert regel.satser.maks_sats(fom, AS, date(2025, 2, 27)) == 40
    assert regel.satser.maks_sats(fom, AS, date(2025, 2, 28)) == 30
    assert regel.satser.maks_sats(fom, NAE, date(2025, 8, 30)) == 60
    assert regel.satser.maks_sats(fom, NAE, date(2025, 8, 31)) == 50
    assert regel.total_tom(fom, AS) == date(2025, 8, 30)
    assert regel.total_tom(fom, NAE) == date(2026, 8, 30)


def test_lts_6_firearig_rates_step_down_each_year_and_cap_follows_the_position_type():
    regel = SEED_2024.regel(Tiltakstype.FIREARIG_LONNSTILSKUDD_FORSOK, None)
    fom = date(2026, 8, 1)

    assert regel.satser is not None
    satser = [regel.satser.maks_sats(fom, AS, date(2026 + k, 8, 1)) for k in range(4)]
    assert satser == [70, 60, 50, 35]
    assert regel.total_tom(fom, AS, Stillingstype.FAST) == date(2030, 7, 31)
    assert regel.total_tom(fom, AS, Stillingstype.MIDLERTIDIG) == date(2028, 7, 31)
    assert regel.maks_alder == 29
    assert STANDARD.piloter["FIREARIG_LONNSTILSKUDD_FORSOK"].tom == date(2032, 12, 31)
