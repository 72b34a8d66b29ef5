"""`GET /api/v1/varsler`: the caseworker's inbox, the alerts decided for an office (contract.md §2), read
from the alert worker's outbox (`forlop_varsler`, workers/varsler.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import Parameter

from api import examples
from api.auth import bruker
from api.common import API, SettingsDep, today
from api.frister import offices_for
from api.read_log import logg_innsyn, personer_for
from domain.errors import InvalidRequest
from domain.tiltakslop import Varseltype as LopVarsel
from domain.ungdomsgaranti import Varseltype as GarantiVarsel

TABELL = "forlop_varsler"  # the outbox workers/varsler.py writes (api imports no worker)
VARSELTYPER = frozenset(v.value for v in LopVarsel) | frozenset(v.value for v in GarantiVarsel)


class VarselElement(msgspec.Struct, kw_only=True):
    """An alert: the FORLOP_VARSLER payload fields plus `publisert` (null while unsent)."""

    varsel_id: UUID
    type: str
    frist: date
    dager_igjen: int
    aggregat: str
    aggregat_id: UUID
    nav_enhet: str
    kontaktperson: str | None
    per: date
    forsinket: bool
    publisert: datetime | None


class VarselSide(msgspec.Struct, kw_only=True):
    """One page, newest fire date first; pass `neste` back as `?etter=` (null on the last page)."""

    elementer: list[VarselElement]
    neste: str | None


def read_cursor(etter: str | None) -> tuple[date, UUID] | None:
    """The cursor `neste` is `<per>:<varsel_id>` of the last element of the page before."""
    if etter is None:
        return None
    per, _, ident = etter.partition(":")
    try:
        return date.fromisoformat(per), UUID(ident)
    except ValueError:
        raise InvalidRequest("etter: not a cursor from `neste`", felt="etter") from None


async def hent_varsler(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    per: date,
    enheter: list[str] | None,
    type: str | None,
    etter: str | None,
    antall: int,
) -> tuple[list[VarselElement], str | None]:
    """One page of the alerts whose fire date is on or before `per`, ordered by fire date (newest first),
    then id; and the next cursor."""
    if type is not None and type not in VARSELTYPER:
        raise InvalidRequest(f"type: {type!r} is not an alert type of rules.md §8.5/§5.3", felt="type")
    args: list[Any] = [per]
    where = ["per <= $1"]
    if enheter is not None:
        args.append(enheter)
        where.append(f"nav_enhet = ANY(${len(args)}::text[])")
    if type is not None:
        args.append(type)
        where.append(f"type = ${len(args)}")
    markor = read_cursor(etter)
    if markor is not None:
        args += list(markor)
        m_per, m_id = f"${len(args) - 1}", f"${len(args)}"
        where.append(f"(per < {m_per} OR (per = {m_per} AND varsel_id > {m_id}))")
    args.append(antall + 1)
    try:
        rows = await conn.fetch(
            "SELECT varsel_id, type, frist, dager_igjen, aggregat, aggregat_id, nav_enhet, kontaktperson, per, "
            f"forsinket, publisert FROM {TABELL} WHERE {' AND '.join(where)} "
            f"ORDER BY per DESC, varsel_id LIMIT ${len(args)}",
            *args,
        )
    except asyncpg.UndefinedTableError:  # the alert worker has not run yet: nothing decided
        return [], None
    elementer = [VarselElement(**dict(r)) for r in rows[:antall]]
    if len(rows) > antall:
        siste = elementer[-1]
        return elementer, f"{siste.per.isoformat()}:{siste.varsel_id}"
    return elementer, None


class VarselController(Controller):
    path = f"{API}/varsler"
    tags = ["varsler"]

    @get(
        "/", summary="The alerts decided for an office for business dates up to `per` (the inbox)",
        responses=examples.varsler_svar(VarselSide),
    )
    async def varsler(
        self,
        request: Request[Any, Any, Any],
        state: State,
        settings: SettingsDep,
        enhet: list[str] | None = Parameter(default=None, description="NAV office(s); repeat for several"),
        per: date | None = Parameter(default=None, description="business date (default: today)"),
        type: str | None = Parameter(default=None, description="an alert type of rules.md §8.5/§5.3"),
        etter: str | None = Parameter(default=None, description="the `neste` cursor of the previous page"),
        antall: int = Parameter(default=100, ge=1, le=1000),
    ) -> VarselSide:
        enheter = offices_for(bruker(request), enhet)
        elementer, neste = await hent_varsler(
            state.pool, per=per or today(settings), enheter=enheter, type=type, etter=etter, antall=antall
        )
        if elementer:  # each alert is about one person's case: recorded in the read log
            personer = await personer_for(state, [(v.aggregat, v.aggregat_id) for v in elementer])
            logg_innsyn(request, [(personer.get(v.aggregat_id), v.aggregat, v.aggregat_id) for v in elementer])
        return VarselSide(elementer=elementer, neste=neste)
