"""Date arithmetic of rules.md §2 (DATE-1..8). Periods are closed intervals [fom, tom]."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def add_months(d: date, months: int) -> date:
    """DATE-2: calendar addition clamped to the last valid day of the target month."""
    total = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(total, 12)
    month = month0 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def add_years(d: date, years: int) -> date:
    """DATE-2 for years (29 February + 1 year = 28 February)."""
    return add_months(d, 12 * years)


def add_days(d: date, days: int) -> date:
    return d + timedelta(days=days)


def latest_tom(fom: date, *, years: int = 0, months: int = 0, weeks: int = 0, days: int = 0) -> date:
    """DATE-3/DATE-4: "up to N" from `fom` ends the day before `add(fom, N)`.

    Always one addition of the whole duration from the original start (DATE-4); never chained.
    """
    end = add_months(fom, 12 * years + months)
    return end + timedelta(days=7 * weeks + days - 1)


def alder(fodselsdato: date, paa: date) -> int:
    """DATE-5: age in completed years; someone born 29 February turns N on 28 February."""
    years = paa.year - fodselsdato.year
    if add_years(fodselsdato, years) > paa:
        years -= 1
    return years


def fyller(fodselsdato: date, n: int) -> date:
    """DATE-5: the date a person reaches age `n`."""
    return add_years(fodselsdato, n)


def under_alder(fodselsdato: date, n: int, paa: date) -> bool:
    """DATE-5: "under N" on `paa` ⇔ paa < add(birth, N years)."""
    return paa < fyller(fodselsdato, n)


def neste_forfall(anker: date, *, months: int = 0, days: int = 0) -> date:
    """DATE-6: next due date of a rolling review, from the last review (or the start)."""
    return add_days(add_months(anker, months), days)


def forfalt(forfall: date, paa: date) -> bool:
    """DATE-6: overdue on any day after the due date; a review on the due date is on time."""
    return paa > forfall


def innen_uker(referanse: date, uker: int, handling: date) -> bool:
    """DATE-7: "within N weeks" of `referanse` means on or before referanse + 7·N days."""
    return handling <= referanse + timedelta(days=7 * uker)


def varseldato(frist: date, lead_days: int) -> date:
    """DATE-8: an alert fires `lead_days` before its due date."""
    return frist - timedelta(days=lead_days)


def overlapper(a_fom: date, a_tom: date | None, b_fom: date, b_tom: date | None) -> bool:
    """DATE-1: closed intervals overlap; `None` as tom is open-ended."""
    return (a_tom is None or b_fom <= a_tom) and (b_tom is None or a_fom <= b_tom)


def dager_mellom(fra: date, til: date) -> int:
    return (til - fra).days
