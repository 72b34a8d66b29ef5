"""`GET /api/v1/frister`: the deadline board, read from the `oversikt` views (contract.md §2)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException
from litestar.params import Parameter

from api import examples
from api.auth import User, bruker
from api.common import API, SettingsDep, today
from api.read_log import logg_innsyn
from domain.errors import DomainError
from projections import as_known, queries
from projections.runner import wait_until
from store.dto import garanti_visning, lop_visning
from store.encryption import er_glemt

PROJEKSJON = "oversikt"


class ViewsBehind(DomainError):
    status = 503

    def __init__(self, min_posisjon: int) -> None:
        super().__init__(
            "VIEWS_BEHIND", "the views did not reach the position within 5 s", min_posisjon=min_posisjon
        )


class FristSide(msgspec.Struct, kw_only=True):
    """One page of the board: rows of open løp and guarantees (their read fields for `per`, plus `aggregat`
    and `aggregat_id`); pass `neste` back as `?etter=` for the next page (null on the last)."""

    elementer: list[dict[str, Any]]
    neste: str | None


def offices_for(user: User, enhet: list[str] | None) -> list[str] | None:
    """Office scoping: a SAKSBEHANDLER sees its own offices, and naming another is 403."""
    if user.sees_all:
        return enhet or None
    if enhet:
        if any(e not in user.enheter for e in enhet):
            raise PermissionDeniedException("another office's cases")
        return enhet
    return list(user.enheter)


async def wait_for_views(state: State, min_posisjon: int | None) -> None:
    """Read-your-writes (`?min_posisjon=`): wait up to 5 s until the views have reached it, else 503."""
    if min_posisjon is not None and not await wait_until(state.pool, PROJEKSJON, min_posisjon, 5.0):
        raise ViewsBehind(min_posisjon)


class ReplayMangler(DomainError):
    status = 404

    def __init__(self, kjent_per: datetime) -> None:
        super().__init__(
            "NOT_FOUND",
            "no replay for that instant: run `forlop replay --kjent-per` with it first",
            kjent_per=kjent_per.isoformat(),
        )


async def _frister_kjent_per(state: State, kjent_per: datetime, **filtre: Any) -> tuple[list[Any], str | None]:
    """The board from the views as the system knew them at `kjent_per` (a schema of their own)."""
    skjema = as_known.schema_for(kjent_per)
    async with state.pool.acquire() as conn:
        if not await as_known.finnes(conn, kjent_per):
            raise ReplayMangler(kjent_per)
        async with conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {skjema}, public")
            return await queries.frister(conn, **filtre)


class FristController(Controller):
    path = f"{API}/frister"
    tags = ["frister"]

    @get(
        "/", summary="The deadline board: one row per open løp or guarantee, evaluated for `per`",
        responses=examples.frister_svar(FristSide),
    )
    async def frister(
        self,
        request: Request[Any, Any, Any],
        state: State,
        settings: SettingsDep,
        enhet: list[str] | None = Parameter(default=None, description="NAV office(s); repeat for several"),
        fra: date | None = Parameter(default=None, description="earliest `frist` of the alert (inclusive)"),
        til: date | None = Parameter(default=None, description="latest `frist` of the alert (inclusive)"),
        type: str | None = Parameter(default=None, description="an alert type of rules.md §8.5/§5.3"),
        per: date | None = Parameter(default=None, description="business date (default: today)"),
        etter: str | None = Parameter(default=None, description="the `neste` cursor of the previous page"),
        antall: int = Parameter(default=100, ge=1, le=1000),
        min_posisjon: int | None = Parameter(default=None, ge=0, le=2**63 - 1, description="wait until the views reach it"),
        kjent_per: datetime | None = Parameter(
            default=None,
            description="the board as the system knew it at this instant (built by `forlop replay --kjent-per`)",
        ),
    ) -> FristSide:
        enheter = offices_for(bruker(request), enhet)
        per = per or today(settings)
        if kjent_per is None:
            await wait_for_views(state, min_posisjon)
            rader, neste = await queries.frister(
                state.pool, per=per, enheter=enheter, type=type, fra=fra, til=til, etter=etter, antall=antall
            )
        else:
            rader, neste = await _frister_kjent_per(
                state, kjent_per, per=per, enheter=enheter, type=type, fra=fra, til=til, etter=etter, antall=antall
            )
        oversikt = state.oversikt
        elementer = []
        vist: list[tuple[Any, str, Any]] = []
        await oversikt.forbered(state.pool, [rad.tilstand for rad in rader])
        for rad in rader:
            aggregat = oversikt.dekod(rad.aggregat_id, rad.versjon, rad.tilstand)
            if er_glemt(aggregat):  # its person was forgotten a moment ago; the row is on its way out
                continue
            if rad.aggregat == "tiltakslop":
                visning: Any = lop_visning(aggregat, per, settings.regler)
            else:
                visning = garanti_visning(aggregat, per, settings.regler)
            element = msgspec.to_builtins(visning)
            element.update(aggregat=rad.aggregat, aggregat_id=str(rad.aggregat_id))
            elementer.append(element)
            vist.append((aggregat.person, rad.aggregat, rad.aggregat_id))
        logg_innsyn(request, vist)
        return FristSide(elementer=elementer, neste=neste)
