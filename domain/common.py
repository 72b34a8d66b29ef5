"""What every event carries besides its own fields: who acted, for which office, and why (correlation).

Every `@event` method of an aggregate takes `kontekst: Kontekst` and `regelsett_id: str`, so both are
stored on every event (issue 2: actor, rule_set_id and correlation id on each event). The hash link to the
previous event is added by the store's mapper over the bytes as stored, not here: the domain does no I/O
and knows nothing of transcoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

SYSTEM_IDENT = "SYSTEM"


@dataclass(frozen=True, slots=True)
class Aktor:
    """The actor of a change: a NAV ident and office (`{"nav_ident": "SYSTEM", "enhet": null}` for automation)."""

    nav_ident: str
    enhet: str | None = None


@dataclass(frozen=True, slots=True)
class Kontekst:
    """Who, and under which correlation, a command runs. `command_id` is LOP-12's idempotency key."""

    aktor: Aktor
    correlation_id: UUID
    command_id: str | None = None
    begrunnelse: str | None = field(default=None)


class Malgruppe(StrEnum):
    ARBEIDSSOKER = "ARBEIDSSOKER"
    NEDSATT_ARBEIDSEVNE = "NEDSATT_ARBEIDSEVNE"


class SamtykkeForeldre(StrEnum):
    BEGGE = "BEGGE"
    EN = "EN"
    INGEN = "INGEN"


FYLKESKODER = frozenset(
    ["03", "11", "15", "18", "30", "31", "32", "33", "34", "38", "39", "40", "42", "46", "50", "54", "55", "56"]
)


def gyldig_nav_enhet(enhet: str) -> bool:
    """A NAV office: 4 digits whose first two are a county code (contract.md §2)."""
    return (
        isinstance(enhet, str) and len(enhet) == 4 and enhet.isascii() and enhet.isdigit() and enhet[:2] in FYLKESKODER
    )
