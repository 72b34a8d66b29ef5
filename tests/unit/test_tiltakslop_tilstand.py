"""The deadline board of rules.md §8.1, the alerts of §8.5 and the what-if, computed by the command's own rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.commands import AvsluttLop, EndreMalgruppe, FastsettSats, Forleng, InnvilgPermisjon
from domain.config import STANDARD
from domain.errors import DomainError
from domain.tiltakslop import Status, Varseltype, Vurderingsstatus
from tests.unit.test_tiltakslop import KONTEKST, avvist_uten_hendelser, innvilget

NAE = "NEDSATT_ARBEIDSEVNE"
FOM = date(2024, 8, 15)


def test_date_8_no_alert_fires_for_a_lop_on_a_business_date_after_its_tom():
    lop = innvilget(tom=date(2024, 12, 31))

    paa_tom = lop.tilstand(date(2024, 12, 31)).open_alerts
    etter = lop.tilstand(date(2025, 1, 1))

    assert Varseltype.TOM_NAERMER_SEG in paa_tom
    assert etter.open_alerts == ()
    assert etter.status == Status.AKTIV  # a passed tom does not close the løp


def test_date_8_alerts_open_lead_days_before_their_due_date_with_configurable_leads():
    lop = innvilget(tom=date(2024, 12, 31))
    kort = replace(STANDARD, lead_days={**STANDARD.lead_days, "TOM_NAERMER_SEG": 5})

    assert Varseltype.TOM_NAERMER_SEG not in lop.tilstand(date(2024, 11, 30)).open_alerts
    assert Varseltype.TOM_NAERMER_SEG in lop.tilstand(date(2024, 12, 1)).open_alerts
    assert Varseltype.TOM_NAERMER_SEG not in lop.tilstand(date(2024, 12, 25), kort).open_alerts
    assert Varseltype.TOM_NAERMER_SEG in lop.tilstand(date(2024, 12, 26), kort).open_alerts


def test_date_9_events_carry_business_dates_and_a_recorded_instant_and_state_is_read_per_date():
    lop = innvilget(tom=date(2025, 1, 31))
    lop.avslutt(AvsluttLop(sluttdato=date(2024, 12, 31), aarsak="FULLFORT"), KONTEKST)

    hendelse = lop.collect_events()[0]

    assert hendelse.sluttdato == date(2024, 12, 31)  # type: ignore[attr-defined]
    assert hendelse.timestamp.tzinfo is not None
    assert lop.tilstand(date(2024, 12, 31)).status == Status.AKTIV
    assert lop.tilstand(date(2025, 1, 1)).status == Status.AVSLUTTET


def test_lop_10_a_rate_set_later_is_judged_against_the_maximum_on_its_own_fom():
    lop = innvilget(tiltakstype="MIDLERTIDIG_LONNSTILSKUDD", tom=date(2025, 8, 14))

    feil = avvist_uten_hendelser(
        "RATE_ABOVE_MAXIMUM",
        lop,
        lop.fastsett_sats,
        FastsettSats(prosent=35, fom=date(2025, 2, 15)),
        KONTEKST,
    )
    avvist_uten_hendelser(
        "INVALID_DATE_RANGE",
        lop,
        lop.fastsett_sats,
        FastsettSats(prosent=30, fom=date(2025, 8, 15)),
        KONTEKST,
    )
    lop.fastsett_sats(FastsettSats(prosent=30, fom=date(2025, 2, 15)), KONTEKST)

    assert feil.limits["max_prosent"] == 30
    assert lop.gjeldende_sats(date(2025, 2, 14)) == 40
    assert lop.gjeldende_sats(date(2025, 2, 15)) == 30


def test_lop_11_a_vta_leave_longer_than_six_months_is_refused_with_its_limit():
    lop = innvilget(tiltakstype="VTA", malgruppe=NAE, tom=None)

    feil = avvist_uten_hendelser(
        "LEAVE_TOO_LONG",
        lop,
        lop.innvilg_permisjon,
        InnvilgPermisjon(fom=FOM, tom=date(2025, 2, 15), type="HOSPITERING"),
        KONTEKST,
    )
    avvist_uten_hendelser(
        "INVALID_DATE_RANGE",
        lop,
        lop.innvilg_permisjon,
        InnvilgPermisjon(fom=FOM, tom=None, type="HOSPITERING"),
        KONTEKST,
    )

    assert feil.limits["max_tom"] == date(2025, 2, 14)


def test_the_board_shows_caps_days_left_and_the_what_if():
    lop = innvilget(tiltakstype="OPPFOLGING", malgruppe=NAE, tom=date(2025, 2, 14))

    tilstand = lop.tilstand(date(2025, 1, 15))

    assert tilstand.base_cap_tom == date(2025, 2, 14)
    assert tilstand.total_cap_tom == date(2028, 2, 14)
    assert tilstand.days_to_tom == 30
    assert tilstand.days_to_total_cap == (date(2028, 2, 14) - date(2025, 1, 15)).days
    assert tilstand.extension_possible.mulig
    assert [(g.aarsak, g.max_tom) for g in tilstand.extension_possible.grunner] == [
        ("BEHOV_VIDERE", date(2027, 8, 14)),
        ("OVERGANG_SKOLE_SONING", date(2028, 2, 14)),
    ]
    assert tilstand.open_alerts == (Varseltype.TOM_NAERMER_SEG,)


def test_review_status_is_due_soon_within_the_lead_and_overdue_the_day_after():
    lop = innvilget(tiltakstype="AFT", malgruppe=NAE)

    ok = lop.tilstand(date(2024, 10, 31))
    snart = lop.tilstand(date(2024, 11, 1))
    paa_dagen = lop.tilstand(date(2024, 11, 15))
    forfalt = lop.tilstand(date(2024, 11, 16))

    assert ok.next_review_due == date(2024, 11, 15)
    assert ok.review_status == Vurderingsstatus.OK
    assert snart.review_status == Vurderingsstatus.DUE_SOON
    assert Varseltype.VURDERING_FORFALLER in snart.open_alerts
    assert paa_dagen.review_status == Vurderingsstatus.DUE_SOON
    assert forfalt.review_status == Vurderingsstatus.OVERDUE
    assert Varseltype.VURDERING_FORFALT in forfalt.open_alerts


def test_measures_without_a_cadence_have_no_review_fields():
    tilstand = innvilget().tilstand(FOM)

    assert (tilstand.next_review_due, tilstand.review_status) == (None, None)
    assert (tilstand.current_rate, tilstand.next_rate_change_date) == (None, None)


def test_the_rate_step_down_is_computed_and_announced_never_written():
    lop = innvilget(tiltakstype="MIDLERTIDIG_LONNSTILSKUDD", malgruppe=NAE, tom=date(2026, 8, 14))

    foer = lop.tilstand(date(2025, 7, 15))
    varsel = lop.tilstand(date(2025, 7, 16))
    etter = lop.tilstand(date(2025, 8, 15))

    assert foer.current_rate == 60
    assert foer.next_rate_change_date == date(2025, 8, 15)
    assert Varseltype.RATE_ENDRES not in foer.open_alerts
    assert Varseltype.RATE_ENDRES in varsel.open_alerts
    assert (etter.current_rate, etter.next_rate_change_date) == (50, None)
    assert lop.collect_events() == []


def test_the_alerts_with_their_frist_are_the_boards_open_alerts_on_every_day():
    """`varsler_med_frist` (what the alert worker decides from) lists exactly `tilstand(per).open_alerts`,
    each with the frist the board shows for it, on every day of a løp's life and after it."""
    lonn = innvilget(tiltakstype="MIDLERTIDIG_LONNSTILSKUDD", malgruppe=NAE, tom=date(2026, 8, 14))
    aft = innvilget(tiltakstype="AFT", malgruppe=NAE)  # reviews every few months
    avsluttet = innvilget(tom=date(2025, 1, 31))
    avsluttet.avslutt(AvsluttLop(sluttdato=date(2024, 12, 31), aarsak="FULLFORT"), KONTEKST)
    sett: set[Varseltype] = set()
    for lop in (lonn, aft, avsluttet):
        for dag in (FOM + timedelta(days=d) for d in range(0, 800, 3)):
            t = lop.tilstand(dag)
            frist = {
                Varseltype.CAP_NAERMER_SEG: t.total_cap_tom,
                Varseltype.TOM_NAERMER_SEG: lop.tom,
                Varseltype.VURDERING_FORFALLER: t.next_review_due,
                Varseltype.VURDERING_FORFALT: t.next_review_due,
                Varseltype.RATE_ENDRES: t.next_rate_change_date,
            }
            assert lop.varsler_med_frist(dag, STANDARD) == tuple((v, frist[v]) for v in t.open_alerts), (lop, dag)
            sett |= set(t.open_alerts)
    assert sett == set(Varseltype)  # every type was open on some day


def test_a_change_to_arbeidssoker_never_shortens_but_warns_tom_over_new_cap():
    lop = innvilget(tiltakstype="IPS", malgruppe=NAE, tom=date(2026, 8, 14))

    lop.endre_malgruppe(
        EndreMalgruppe(ny_malgruppe="ARBEIDSSOKER", fom=date(2025, 1, 1), vedtak_ref="AEV-3"), KONTEKST
    )
    tilstand = lop.tilstand(date(2025, 1, 2))

    assert lop.tom == date(2026, 8, 14)
    assert tilstand.total_cap_tom == date(2025, 8, 14)
    assert "TOM_OVER_NY_CAP" in tilstand.warnings
    assert not tilstand.extension_possible.mulig


def test_a_target_group_change_must_fall_within_the_lop_and_be_eligible():
    lop = innvilget(tiltakstype="AFT", malgruppe=NAE)

    avvist_uten_hendelser(
        "TARGET_GROUP_NOT_ELIGIBLE",
        lop,
        lop.endre_malgruppe,
        EndreMalgruppe(ny_malgruppe="ARBEIDSSOKER", fom=date(2025, 1, 1), vedtak_ref="AEV-4"),
        KONTEKST,
    )
    avvist_uten_hendelser(
        "INVALID_DATE_RANGE",
        lop,
        lop.endre_malgruppe,
        EndreMalgruppe(ny_malgruppe=NAE, fom=date(2025, 8, 15), vedtak_ref="AEV-4"),
        KONTEKST,
    )


def test_closed_lop_shows_no_alerts_and_no_extension():
    lop = innvilget(tom=date(2024, 12, 31))
    lop.avslutt(AvsluttLop(sluttdato=date(2024, 12, 31), aarsak="FULLFORT"), KONTEKST)

    tilstand = lop.tilstand(date(2024, 12, 20))

    assert tilstand.open_alerts == ()
    assert not tilstand.extension_possible.mulig


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["ARBEIDSTRENING", "OPPFOLGING", "MENTOR", "IPS_UNG", "AVKLARING", "KVP", "AFT"]),
    st.sampled_from(["ARBEIDSSOKER", NAE]),
    st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31)),
)
def test_the_what_if_agrees_with_the_extension_command_at_and_past_each_limit(tiltakstype, malgruppe, fom):
    if tiltakstype == "AFT" and malgruppe != NAE:
        return
    tom = fom + timedelta(days=6)
    lop = innvilget(
        tiltakstype=tiltakstype, malgruppe=malgruppe, fom=fom, tom=tom, fodselsdato=date(2000, 1, 1)
    )

    grunner = lop.forlengelse_muligheter().grunner

    for grunn in grunner:
        assert grunn.max_tom is not None
        try:
            lop.forleng(
                Forleng(ny_tom=grunn.max_tom + timedelta(days=1), aarsak=grunn.aarsak, begrunnelse="x"),
                KONTEKST,
            )
            raise AssertionError("past the what-if limit must be refused")
        except DomainError as feil:
            assert feil.code in {"EXCEEDS_MAX_DURATION", "EXTENSION_REASON_NOT_ALLOWED"}
        kopi = innvilget(
            tiltakstype=tiltakstype, malgruppe=malgruppe, fom=fom, tom=tom, fodselsdato=date(2000, 1, 1)
        )
        kopi.forleng(Forleng(ny_tom=grunn.max_tom, aarsak=grunn.aarsak, begrunnelse="x"), KONTEKST)
        assert kopi.tom == grunn.max_tom
