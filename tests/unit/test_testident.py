"""`forlop testident` and `domain.ident.syntetisk_ident`: synthetic fødselsnummer (month + 80) that the API
accepts (both control digits valid), for the birth date the body carries, never a real person's number."""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner

from domain.ident import Fodselsnummer, gyldig_ident, syntetisk_ident
from workers.cli import forlop

DAGER = [date(1990, 8, 15), date(2003, 5, 20), date(1999, 12, 31), date(2000, 2, 29), date(1860, 1, 1)]


@pytest.mark.parametrize("fodselsdato", DAGER, ids=str)
def test_every_number_is_valid_synthetic_and_carries_the_birth_date(fodselsdato: date) -> None:
    identer = {syntetisk_ident(fodselsdato, n) for n in range(300)}

    assert all(gyldig_ident(i) for i in identer)
    for i in identer:
        assert (int(i[:2]), int(i[2:4]), int(i[4:6])) == (
            fodselsdato.day, fodselsdato.month + 80, fodselsdato.year % 100,
        )
        Fodselsnummer(i)
    assert len(identer) > 100  # many persons per birth date


def test_the_individual_number_follows_the_birth_year() -> None:
    assert int(syntetisk_ident(date(1990, 8, 15))[6:9]) < 500
    assert int(syntetisk_ident(date(2003, 5, 20))[6:9]) >= 500


def test_a_birth_year_outside_the_ranges_is_refused() -> None:
    with pytest.raises(ValueError):
        syntetisk_ident(date(2040, 1, 1))


def test_forlop_testident_prints_valid_numbers_for_the_birth_date() -> None:
    runner = CliRunner()

    ut = runner.invoke(forlop, ["testident", "--fodselsdato", "2003-05-20", "--antall", "3"])
    fast = runner.invoke(forlop, ["testident", "--nr", "7"])

    assert ut.exit_code == 0, ut.output
    identer = ut.output.split()
    assert len(set(identer)) == 3 and all(gyldig_ident(i) and i.startswith("208503") for i in identer)
    assert fast.exit_code == 0 and fast.output == runner.invoke(forlop, ["testident", "--nr", "7"]).output
    assert fast.output.strip() == syntetisk_ident(date(1990, 8, 15), 7)
