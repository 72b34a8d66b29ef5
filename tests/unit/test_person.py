"""Cross-løp rules judged on the per-person aggregate: overlaps (rules.md §6.3, LOP-8) and UG-D1."""

from datetime import date
from uuid import UUID, uuid4

import pytest

from domain.common import Aktor, Kontekst
from domain.errors import DomainError
from domain.person import Person, overlapp_feilkode

KTX = Kontekst(aktor=Aktor("Z990001", "0315"), correlation_id=UUID(int=1))


def ny_person() -> Person:
    person = Person(id=uuid4(), kontekst=KTX, regelsett_id="SEED-2024")
    person.collect_events()
    return person


def med_lop(tiltakstype: str, fom: date, tom: date | None) -> tuple[Person, UUID]:
    person = ny_person()
    lop_id = uuid4()
    person.registrer_lop(lop_id, tiltakstype, fom, tom, KTX, "SEED-2024")
    person.collect_events()
    return person, lop_id


def test_lop_8_overlapping_arbeidstrening_and_aft_refused():
    person, _ = med_lop("ARBEIDSTRENING", date(2025, 1, 1), date(2025, 12, 31))

    with pytest.raises(DomainError) as err:
        person.registrer_lop(uuid4(), "AFT", date(2025, 12, 31), date(2026, 6, 30), KTX, "SEED-2024")

    assert err.value.code == "OVERLAPPING_MEASURE"
    assert err.value.limits["overlapper_tom"] == date(2025, 12, 31)
    assert person.collect_events() == []


def test_lop_8_adjacent_periods_do_not_overlap():
    person, _ = med_lop("ARBEIDSTRENING", date(2025, 1, 1), date(2025, 12, 31))

    person.registrer_lop(uuid4(), "AFT", date(2026, 1, 1), date(2026, 6, 30), KTX, "SEED-2024")

    assert len(person.collect_events()) == 1


def test_aft_5_aft_overlapping_opplaering_is_exclusive_refusal():
    person, _ = med_lop("OPPLAERING", date(2025, 1, 1), date(2027, 12, 31))

    with pytest.raises(DomainError) as err:
        person.registrer_lop(uuid4(), "AFT", date(2026, 1, 1), date(2026, 12, 31), KTX, "SEED-2024")

    assert err.value.code == "OVERLAPPING_EXCLUSIVE_MEASURE"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("OPPLAERING", "MENTOR"),  # OPP-7
        ("OPPLAERING_LENGRE_VARIGHET_FORSOK", "OPPFOLGING"),
        ("OPPFOLGING", "ARBEIDSTRENING"),  # OPF-2
        ("OPPFOLGING", "VARIG_LONNSTILSKUDD"),
        ("MIDLERTIDIG_LONNSTILSKUDD", "MENTOR"),  # LTS-8
        ("ARBEIDSTRENING", "INKLUDERINGSTILSKUDD"),
        ("VTAO", "INKLUDERINGSTILSKUDD"),
        ("AFT", "INKLUDERINGSTILSKUDD"),
        ("IPS", "VTA"),  # IPS-4
        ("IPS_UNG", "OPPLAERING"),
        ("KVP", "ARBEIDSTRENING"),
    ],
)
def test_lop_8_allowed_combinations_overlap_both_ways(a, b):
    assert overlapp_feilkode(a, b) is None
    assert overlapp_feilkode(b, a) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [("AFT", "ARBEIDSTRENING"), ("VTA", "VTAO"), ("OPPFOLGING", "OPPFOLGING"), ("MENTOR", "AVKLARING")],
)
def test_lop_8_any_other_pair_refused_both_ways(a, b):
    assert overlapp_feilkode(a, b) == "OVERLAPPING_MEASURE"
    assert overlapp_feilkode(b, a) == "OVERLAPPING_MEASURE"


def test_lop_8_open_ended_lop_overlaps_everything_after_it():
    person, _ = med_lop("VTA", date(2020, 1, 1), None)

    with pytest.raises(DomainError) as err:
        person.registrer_lop(uuid4(), "ARBEIDSTRENING", date(2040, 1, 1), date(2040, 6, 30), KTX, "SEED-2024")

    assert err.value.code == "OVERLAPPING_MEASURE"


def test_lop_8_annulled_lop_is_ignored():
    person, lop_id = med_lop("ARBEIDSTRENING", date(2025, 1, 1), date(2025, 12, 31))
    person.annuller_lop(lop_id, KTX, "SEED-2024")

    person.registrer_lop(uuid4(), "AFT", date(2025, 6, 1), date(2026, 5, 31), KTX, "SEED-2024")

    assert len(person.collect_events()) == 2


def test_lop_8_extension_into_a_later_lop_refused():
    person, first = med_lop("ARBEIDSTRENING", date(2025, 1, 1), date(2025, 6, 30))
    person.registrer_lop(uuid4(), "AFT", date(2025, 7, 1), date(2026, 6, 30), KTX, "SEED-2024")
    person.collect_events()

    with pytest.raises(DomainError) as err:
        person.endre_periode(first, date(2025, 1, 1), date(2025, 12, 31), KTX, "SEED-2024")

    assert err.value.code == "OVERLAPPING_MEASURE"
    assert person.collect_events() == []


def test_ug_d1_second_active_guarantee_refused_until_the_first_ends():
    person = ny_person()
    first = uuid4()
    person.registrer_garanti(first, KTX, "SEED-2024")

    with pytest.raises(DomainError) as err:
        person.registrer_garanti(uuid4(), KTX, "SEED-2024")
    person.avslutt_garanti(first, KTX, "SEED-2024")
    person.registrer_garanti(uuid4(), KTX, "SEED-2024")

    assert err.value.code == "ALREADY_ACTIVE"
    assert len(person.aktive_garantier) == 1
