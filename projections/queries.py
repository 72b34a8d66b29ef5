"""Queries over the views: the deadline board (GET /frister), a person's history, a contact person's load.

Boards read the views and never replay a stream (ARCHITECTURE.md); each row's date-dependent fields are
computed by the caller from the row's state for the asked business date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from domain.errors import InvalidRequest
from projections.oversikt import tabeller

# rules.md §8.5: the `frist` of each alert type, as a column expression ($1 is the business date).
LOP_FRISTER = {
    "TOM_NAERMER_SEG": "tom",
    "CAP_NAERMER_SEG": "total_cap_tom",
    "VURDERING_FORFALLER": "next_review_due",
    "VURDERING_FORFALT": "next_review_due",
    "RATE_ENDRES": "(SELECT min(d) FROM unnest(satsendringer) AS d WHERE d > $1)",
}
GARANTI_FRISTER = {
    "SAMTALE_FORFALLER": "next_samtale_due",
    "SAMTALE_FORFALT": "next_samtale_due",
    "ALDERSGRENSE_NAERMER_SEG": "aldersgrense_dato",
    "KONTAKTPERSON_MANGLER": "CASE WHEN kontaktperson IS NULL THEN kontaktperson_frist END",
}
AGGREGATER = ("tiltakslop", "ungdomsgaranti")


@dataclass(frozen=True, slots=True)
class Rad:
    aggregat: str
    aggregat_id: UUID
    versjon: int
    tilstand: bytes


def read_cursor(etter: str | None) -> tuple[str, UUID] | None:
    """The cursor `neste` is `<aggregat>:<id>`: the last row of the page before."""
    if etter is None:
        return None
    aggregat, _, ident = etter.partition(":")
    try:
        if aggregat not in AGGREGATER:
            raise ValueError(aggregat)
        return aggregat, UUID(ident)
    except ValueError:
        raise InvalidRequest("etter: not a cursor from `neste`", felt="etter") from None


async def frister(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    per: date,
    enheter: list[str] | None,
    type: str | None,
    fra: date | None,
    til: date | None,
    etter: str | None,
    antall: int,
) -> tuple[list[Rad], str | None]:
    """One page of the board: open løp, then open guarantees, each ordered by id; and the next cursor."""
    if type is not None and type not in LOP_FRISTER and type not in GARANTI_FRISTER:
        raise InvalidRequest(f"type: {type!r} is not an alert type of rules.md §8.5/§5.3", felt="type")
    markor = read_cursor(etter)
    rader: list[Rad] = []
    deler = [
        (
            "tiltakslop",
            "lop_id",
            tabeller()[0],
            LOP_FRISTER,
            "NOT annullert AND (NOT avsluttet OR opptatt_tom >= $1)",
        ),
        (
            "ungdomsgaranti",
            "garanti_id",
            tabeller()[1],
            GARANTI_FRISTER,
            "(aktiv OR tom >= $1) AND $1 < aldersgrense_dato",
        ),
    ]
    for aggregat, kolonne, tabell, fristkolonner, apen in deler:
        if markor is not None and AGGREGATER.index(aggregat) < AGGREGATER.index(markor[0]):
            continue
        if type is not None and type not in fristkolonner:
            continue
        args: list[Any] = [per]
        where = [apen]
        if enheter is not None and len(enheter) == 1:
            args.append(enheter[0])  # equality lets the (nav_enhet, id) index serve the page in id order
            where.append(f"nav_enhet = ${len(args)}")
        elif enheter is not None:
            args.append(enheter)
            where.append(f"nav_enhet = ANY(${len(args)}::text[])")
        if fra is not None or til is not None:
            uttrykk = (
                [fristkolonner[type]] if type is not None else list(dict.fromkeys(fristkolonner.values()))
            )
            args += [fra or date.min, til or date.max]
            lo, hi = f"${len(args) - 1}", f"${len(args)}"
            where.append("(" + " OR ".join(f"({u}) BETWEEN {lo} AND {hi}" for u in uttrykk) + ")")
        if markor is not None and markor[0] == aggregat:
            args.append(markor[1])
            where.append(f"{kolonne} > ${len(args)}")
        args.append(antall - len(rader) + 1)
        rows = await conn.fetch(
            f"SELECT {kolonne}, versjon, tilstand FROM {tabell} WHERE {' AND '.join(where)} "
            f"ORDER BY {kolonne} LIMIT ${len(args)}",
            *args,
        )
        rader += [Rad(aggregat, r[0], r[1], bytes(r[2])) for r in rows]
        if len(rader) > antall:
            break
    if len(rader) > antall:
        rader = rader[:antall]
        return rader, f"{rader[-1].aggregat}:{rader[-1].aggregat_id}"
    return rader, None


async def tiltakshistorikk(conn: asyncpg.Connection | asyncpg.Pool, person: UUID) -> list[Rad]:
    """§8.4 Tiltakshistorikk: every løp of the person (closed, annulled and corrected ones too) by start."""
    rows = await conn.fetch(
        f"SELECT lop_id, versjon, tilstand FROM {tabeller()[0]} WHERE person = $1 ORDER BY fom, lop_id",
        person,
    )
    return [Rad("tiltakslop", r[0], r[1], bytes(r[2])) for r in rows]


async def kontaktperson_caseload(
    conn: asyncpg.Connection | asyncpg.Pool, max_caseload: int
) -> list[dict[str, Any]]:
    """§5.3 KontaktpersonCaseload: active guarantees per contact person, flagged above `max_caseload`."""
    rows = await conn.fetch(
        f"SELECT kontaktperson, count(*) FROM {tabeller()[1]} WHERE aktiv AND kontaktperson IS NOT NULL "
        "GROUP BY kontaktperson ORDER BY kontaktperson"
    )
    return [{"nav_ident": r[0], "antall": r[1], "over_maks": r[1] > max_caseload} for r in rows]
