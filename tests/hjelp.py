"""Small helpers the test modules share: synthetic identifiers and a command context."""

from __future__ import annotations

from uuid import uuid4

from domain.felles import Aktor, Kontekst
from domain.ident import med_kontrollsiffer


def identer(antall: int, fodt: str = "150890") -> list[str]:
    """`antall` valid synthetic identifiers with the date part `fodt` (DDMMYY): individual numbers whose
    mod-11 control digits both exist. The birth date in a command is authoritative, not this."""
    out = [i for i in (med_kontrollsiffer(f"{fodt}{nr:03d}") for nr in range(1000)) if i is not None]
    if len(out) < antall:
        raise AssertionError(f"only {len(out)} identifiers for {fodt}")
    return out[:antall]


def ktx(nav_ident: str = "Z990001", enhet: str | None = "0315") -> Kontekst:
    return Kontekst(aktor=Aktor(nav_ident, enhet), correlation_id=uuid4())
