"""The youth guarantee's code sets (rules.md §5): apart from the aggregate, so that the commands
(`domain.commands`) can document them in the OpenAPI document without importing the aggregate.

`domain.ungdomsgaranti` imports them from here; the measures' code sets are in `domain.katalog`.
"""

from __future__ import annotations

from enum import StrEnum


class Kanal(StrEnum):
    MOTE = "MOTE"
    TELEFON = "TELEFON"
    VIDEO = "VIDEO"
    DIGITAL = "DIGITAL"


class AktivitetKind(StrEnum):
    TILTAK = "TILTAK"
    UTDANNING = "UTDANNING"
    MEDISINSK_BEHANDLING = "MEDISINSK_BEHANDLING"
    ARBEID = "ARBEID"


class Instans(StrEnum):
    UTDANNING = "UTDANNING"
    BARNEVERN = "BARNEVERN"
    HELSE = "HELSE"
    OPPFOLGINGSTJENESTEN = "OPPFOLGINGSTJENESTEN"
    ANNET = "ANNET"


class Avslutningsaarsak(StrEnum):
    """UG-D5. Starting a job, education or a measure is deliberately not a reason (UG-6)."""

    FYLT_30 = "FYLT_30"
    BEHOV_OPPHORT = "BEHOV_OPPHORT"
    BRUKER_AVSLO_TILBUD = "BRUKER_AVSLO_TILBUD"
    FLYTTET_UTLAND = "FLYTTET_UTLAND"
    DOD = "DOD"
    ANNET = "ANNET"
