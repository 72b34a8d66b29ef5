"""Person identifiers: fødselsnummer, D-nummer and synthetic test numbers (11 digits, two mod-11 digits).

The text form is masked, so an identifier that reaches a log line or an exception message by accident
shows nothing personal. The value itself is reached only through `.verdi`.
"""

from __future__ import annotations

import calendar
import operator
from dataclasses import dataclass
from datetime import date

from domain.errors import InvalidRequest

_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _kontrollsiffer(digits: list[int], weights: tuple[int, ...]) -> int | None:
    rest = sum(map(operator.mul, digits, weights)) % 11  # pairs up to the shorter, as zip does
    k = 11 - rest
    if k == 11:
        return 0
    if k == 10:
        return None
    return k


def gyldig_ident(value: str) -> bool:
    """11 digits, both control digits valid, and a plausible day and month.

    D-nummer adds 4 to the first digit; synthetic numbers (NAV's and Skatteetaten's test numbers) add 40
    or 80 to the month. `fodselsdato` travels separately and is authoritative, so the date part is only
    checked for plausibility (day 1..31, month 1..12 after removing the offsets).
    """
    if len(value) != 11 or not value.isascii() or not value.isdigit():
        return False
    digits = [c - 48 for c in value.encode()]  # ASCII digits (checked above)
    k1 = _kontrollsiffer(digits[:9], _K1)
    if k1 is None or k1 != digits[9]:
        return False
    k2 = _kontrollsiffer(digits[:10], _K2)
    if k2 is None or k2 != digits[10]:
        return False
    day = int(value[0:2])
    month = int(value[2:4])
    if day > 40:
        day -= 40  # D-nummer
    if month > 80:
        month -= 80
    elif month > 40:
        month -= 40
    if not 1 <= month <= 12:
        return False
    return 1 <= day <= calendar.monthrange(2000, month)[1]


@dataclass(frozen=True, slots=True)
class Fodselsnummer:
    """A validated person identifier whose text form never shows the digits."""

    verdi: str

    def __post_init__(self) -> None:
        if not isinstance(self.verdi, str) or not gyldig_ident(self.verdi):
            raise InvalidRequest("person.ident is not a valid identifier (11 digits, mod-11)")

    def __str__(self) -> str:
        return "***********"

    @classmethod
    def fra_lager(cls, verdi: str) -> Fodselsnummer:
        """An identifier read back from authenticated storage (store/encryption.py: AES-GCM), checked when
        it was first accepted and checked again here (a few µs), as msgspec checks one it decodes."""
        return cls(verdi)

    def __repr__(self) -> str:
        return "Fodselsnummer(***********)"

    def __format__(self, spec: str) -> str:
        return str(self)


def med_kontrollsiffer(ni_siffer: str) -> str | None:
    """The 11-digit identifier whose first nine digits are `ni_siffer`, or None when no valid control
    digit exists for them (a remainder of 1 in either mod-11 sum)."""
    siffer = [int(c) for c in ni_siffer]
    k1 = _kontrollsiffer(siffer, _K1)
    if k1 is None:
        return None
    k2 = _kontrollsiffer([*siffer, k1], _K2)
    return None if k2 is None else f"{ni_siffer}{k1}{k2}"


def syntetisk_ident(fodselsdato: date, lopenummer: int = 0) -> str:
    """A synthetic test number for a person born on `fodselsdato` (NAV's: the month plus 80), valid in both
    control digits: never a real person's fødselsnummer. `lopenummer` picks among the individual numbers of
    the birth year's range (000–499 for 1900–1999, 500–999 for 2000–2039, 500–749 for 1854–1899), so
    different numbers give different persons born the same day; the first with valid control digits from
    there on (wrapping round) is taken."""
    if 1900 <= fodselsdato.year <= 1999:
        forste, antall = 0, 500
    elif 2000 <= fodselsdato.year <= 2039:
        forste, antall = 500, 500
    elif 1854 <= fodselsdato.year <= 1899:
        forste, antall = 500, 250
    else:
        raise ValueError("synthetic numbers cover birth years 1854–2039")
    stamme = f"{fodselsdato.day:02d}{fodselsdato.month + 80:02d}{fodselsdato.year % 100:02d}"
    for steg in range(antall):
        individ = forste + (lopenummer + steg) % antall
        ident = med_kontrollsiffer(f"{stamme}{individ:03d}")
        if ident is not None:
            return ident
    raise ValueError(f"no individual number gives valid control digits on {fodselsdato}")  # pragma: no cover
