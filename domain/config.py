"""The configurable values of rules.md (contract.md §1's TOML layout), with the catalogue's defaults.

The settings module reads the TOML file and builds a `Regelkonfig`; the domain only ever receives one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class AlderRegel(StrEnum):
    """OPP-AGE: how "over 19 år" is read."""

    COMPLETED_YEARS = "COMPLETED_YEARS"
    CALENDAR_YEAR = "CALENDAR_YEAR"


@dataclass(frozen=True, slots=True)
class PilotVindu:
    """A pilot's window and area: `fom` earliest løp fom, `tom` latest løp tom, `fylker` county prefixes."""

    fom: date | None = None
    tom: date | None = None
    fylker: tuple[str, ...] | None = None  # None: open everywhere


def _default_piloter() -> dict[str, PilotVindu]:
    return {
        "OPPLAERING_LENGRE_VARIGHET_FORSOK": PilotVindu(
            fom=date(2023, 9, 1), fylker=("03", "46", "30", "31", "32", "33")
        ),
        "FIREARIG_LONNSTILSKUDD_FORSOK": PilotVindu(fom=date(2026, 8, 1), tom=date(2032, 12, 31)),
    }


def _default_lead_days() -> dict[str, int]:
    # rules.md §8.5; VURDERING_FORFALT, SAMTALE_FORFALT and KONTAKTPERSON_MANGLER take no lead.
    return {
        "CAP_NAERMER_SEG": 90,
        "TOM_NAERMER_SEG": 30,
        "VURDERING_FORFALLER": 14,
        "ALDERSGRENSE_NAERMER_SEG": 90,
        "RATE_ENDRES": 30,
        "SAMTALE_FORFALLER": 7,
    }


def _default_vurderinger() -> dict[str, int]:
    # rules.md §8.2, months; VTA is the [D] suggestion of 12.
    return {
        "AFT": 3,
        "MIDLERTIDIG_LONNSTILSKUDD": 6,
        "VARIG_LONNSTILSKUDD": 6,
        "FIREARIG_LONNSTILSKUDD_FORSOK": 6,
        "VTAO": 12,
        "VTA": 12,
    }


@dataclass(frozen=True)
class Regelkonfig:
    samtale_intervall_dager: int = 30
    kontaktperson_frist_dager: int = 14
    max_caseload: int = 20
    lead_days: dict[str, int] = field(default_factory=_default_lead_days)
    piloter: dict[str, PilotVindu] = field(default_factory=_default_piloter)
    alder_regel: AlderRegel = AlderRegel.COMPLETED_YEARS
    vurdering_intervall_maaneder: dict[str, int] = field(default_factory=_default_vurderinger)


STANDARD = Regelkonfig()
