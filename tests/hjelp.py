"""Small helpers the test modules share: synthetic identifiers and a command context."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from domain.common import Aktor, Kontekst
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


async def ta_igjen(database_url: str, projeksjon: Any) -> None:
    """Run the projection runner's batches until the views have every stored event."""
    import asyncpg

    from projections.runner import Runner

    runner = Runner(database_url, projeksjon)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        while await runner.run_batch(pool):
            pass
    finally:
        await pool.close()
