"""rules.md §2: date arithmetic, with examples from the catalogue and hypothesis properties."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.dates import (
    add_months,
    add_years,
    alder,
    forfalt,
    fyller,
    innen_uker,
    latest_tom,
    neste_forfall,
    overlapper,
    under_alder,
    varseldato,
)

datoer = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
maaneder = st.integers(min_value=0, max_value=120)
skuddager = st.integers(min_value=1904, max_value=2096).filter(calendar.isleap).map(lambda y: date(y, 2, 29))
maanedsslutt = st.builds(
    lambda y, m: date(y, m, calendar.monthrange(y, m)[1]),
    st.integers(min_value=1900, max_value=2099),
    st.integers(min_value=1, max_value=12),
)


def test_date_1_a_period_includes_both_its_fom_and_its_tom():
    fom, tom = date(2024, 1, 1), date(2024, 1, 31)

    deler_siste_dag = overlapper(fom, tom, tom, date(2024, 2, 10))
    dagen_etter = overlapper(fom, tom, tom + timedelta(days=1), date(2024, 2, 10))

    assert deler_siste_dag
    assert not dagen_etter


@given(datoer, st.integers(0, 400), st.integers(0, 400))
def test_date_1_closed_intervals_touching_on_one_day_overlap(fom, lengde_a, lengde_b):
    tom_a = fom + timedelta(days=lengde_a)

    resultat = overlapper(fom, tom_a, tom_a, tom_a + timedelta(days=lengde_b))

    assert resultat
    assert not overlapper(fom, tom_a, tom_a + timedelta(days=1), None)
    assert overlapper(fom, None, tom_a + timedelta(days=1), None)


def test_date_2_catalogue_examples_clamp_to_the_end_of_the_month():
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 8, 31), 6) == date(2025, 2, 28)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)


@given(datoer, maaneder)
def test_date_2_adding_months_lands_in_the_target_month_on_the_clamped_day(start, n):
    resultat = add_months(start, n)

    aar, maaned0 = divmod(start.year * 12 + start.month - 1 + n, 12)
    assert (resultat.year, resultat.month) == (aar, maaned0 + 1)
    assert resultat.day == min(start.day, calendar.monthrange(resultat.year, resultat.month)[1])


@given(skuddager, st.integers(1, 4))
def test_date_2_29_february_plus_whole_years_never_raises(start, aar):
    resultat = add_years(start, aar)

    assert resultat.month == 2
    assert resultat.day == (29 if calendar.isleap(resultat.year) else 28)


def test_date_3_up_to_n_years_ends_the_day_before_the_anniversary():
    assert latest_tom(date(2024, 8, 15), years=3) == date(2027, 8, 14)
    assert latest_tom(date(2024, 2, 29), years=3) == date(2027, 2, 27)
    assert latest_tom(date(2024, 1, 1), weeks=4) == date(2024, 1, 28)


@given(datoer, st.integers(1, 60))
def test_date_3_n_weeks_is_exactly_seven_n_days_inclusive(fom, uker):
    tom = latest_tom(fom, weeks=uker)

    assert (tom - fom).days + 1 == 7 * uker


@given(st.one_of(datoer, skuddager, maanedsslutt), maaneder)
def test_date_3_latest_tom_is_one_day_before_the_calendar_addition(fom, n):
    assert latest_tom(fom, months=n) == add_months(fom, n) - timedelta(days=1)


def test_date_4_caps_are_one_addition_from_the_original_fom_not_chained():
    fom = date(2024, 2, 29)

    cap = latest_tom(fom, years=3 + 1)
    kjedet = add_years(latest_tom(fom, years=3) + timedelta(days=1), 1) - timedelta(days=1)

    assert cap == date(2028, 2, 28)
    assert kjedet == date(2028, 2, 27)


@given(st.one_of(skuddager, maanedsslutt), st.integers(1, 60), st.integers(1, 60))
def test_date_4_one_addition_is_never_earlier_than_chaining(fom, a, b):
    en_addisjon = latest_tom(fom, months=a + b)

    kjedet = latest_tom(latest_tom(fom, months=a) + timedelta(days=1), months=b)

    assert en_addisjon >= kjedet


def test_date_5_born_29_february_turns_n_on_28_february():
    fodt = date(2000, 2, 29)

    assert fyller(fodt, 18) == date(2018, 2, 28)
    assert alder(fodt, date(2018, 2, 27)) == 17
    assert alder(fodt, date(2018, 2, 28)) == 18
    assert under_alder(fodt, 30, date(2030, 2, 27))
    assert not under_alder(fodt, 30, date(2030, 2, 28))


@given(datoer, st.integers(0, 90), st.integers(-400, 400))
def test_date_5_under_n_is_the_same_as_not_having_completed_n_years(fodt, n, forskyvning):
    dag = fyller(fodt, n) + timedelta(days=forskyvning)

    assert under_alder(fodt, n, dag) == (alder(fodt, dag) < n)


def test_date_6_a_review_on_its_due_date_is_on_time_and_overdue_the_day_after():
    forfall = neste_forfall(date(2024, 11, 30), months=3)

    assert forfall == date(2025, 2, 28)
    assert not forfalt(forfall, forfall)
    assert forfalt(forfall, forfall + timedelta(days=1))


@given(st.one_of(datoer, maanedsslutt), st.integers(1, 24))
def test_date_6_next_due_is_a_rolling_calendar_addition_from_the_anchor(anker, intervall):
    assert neste_forfall(anker, months=intervall) == add_months(anker, intervall)


@given(datoer)
def test_date_7_within_eight_weeks_means_on_or_before_day_56(referanse):
    assert innen_uker(referanse, 8, referanse + timedelta(days=56))
    assert not innen_uker(referanse, 8, referanse + timedelta(days=57))


@given(datoer, st.integers(0, 365))
def test_date_8_an_alert_fires_lead_days_before_its_due_date(frist, lead):
    assert (frist - varseldato(frist, lead)).days == lead
