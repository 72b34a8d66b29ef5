"""The read log over HTTP: recording the reads that show a person's data, and `GET /revisjon/innsyn`.

`logg_innsyn(request, personer)` is called by every read handler that shows a person's data, after its access
check and before it answers (store/read_log.py: what a row holds, how the queue is written, the bound).
`GET /api/v1/revisjon/innsyn` (REVISOR only; SYSTEM may not use `/revisjon/*`, contract.md §2) lists the
log, oldest first, with the list conventions of §2: `{"elementer": [...], "neste": ...}`, `?etter=<neste>`,
`antall` 1–1000 (default 100); filters `person_pseudonym`, `nav_ident`, `fra` and `til` (instants, inclusive).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, Request, get
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter

from api import examples
from api.auth import Role, bruker
from api.common import API
from api.observability import correlation_id
from domain.errors import InvalidRequest, NotFound
from domain.ident import Fodselsnummer
from projections.oversikt import tabeller
from store import read_log
from store.mapper import as_uuid
from store.read_log import ReadLog

_PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")


def logg_innsyn(
    request: Request[Any, Any, Any],
    personer: Sequence[tuple[Fodselsnummer | str | None, str | None, UUID | None]],
) -> None:
    """Record that this request shows the data of `personer` (person, aggregat, aggregat_id): one row each.

    No I/O; raises `ReadLogFull` (503) when the log cannot keep up, so the read is not answered unlogged."""
    logg: ReadLog = request.app.state.innsynslogg
    user = bruker(request)
    mal = request.scope.get("path_template") or request.url.path
    logg.registrer(
        nav_ident=user.ident,
        roller=[r.value for r in user.roller],
        endepunkt=f"{request.method} {mal}",
        correlation_id=correlation_id.get() or UUID(int=0),
        personer=personer,
    )


async def revisor(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for `/revisjon/*`: REVISOR only (SYSTEM and SAKSBEHANDLER are 403)."""
    if Role.REVISOR not in bruker(connection).roller:
        raise PermissionDeniedException("only REVISOR may read the audit endpoints")


class InnsynElement(msgspec.Struct, kw_only=True):
    """One read: who (`nav_ident`, `roller`), when (`tidspunkt`), whose data (`person_pseudonym`, the same
    keyed hash NATS carries; never the identifier), through which endpoint (`endepunkt` is the method and
    route template, with `aggregat` / `aggregat_id`; both null for a person lookup that showed no case), and
    the request's `correlation_id`. `nr` is the row's place in the log."""

    nr: int
    tidspunkt: datetime
    nav_ident: str
    roller: list[str]
    person_pseudonym: str
    endepunkt: str
    aggregat: str | None
    aggregat_id: UUID | None
    correlation_id: UUID


class InnsynSide(msgspec.Struct, kw_only=True):
    """One page, oldest first; pass `neste` back as `?etter=` (null on the last page)."""

    elementer: list[InnsynElement]
    neste: str | None


class InnsynController(Controller):
    path = f"{API}/revisjon"
    tags = ["revisjon"]

    @get(
        "/innsyn", guards=[revisor], summary="The read log: who read which person's data, when and through which endpoint",
        responses=examples.innsyn_svar(InnsynSide),
    )
    async def innsyn(
        self,
        state: State,
        etter: str | None = Parameter(default=None, description="the `neste` cursor of the previous page"),
        antall: int = Parameter(default=100, ge=1, le=1000),
        person_pseudonym: str | None = Parameter(
            default=None, description="the person's pseudonym (lowercase hex HMAC-SHA256, as on NATS)"
        ),
        nav_ident: str | None = Parameter(default=None, description="the reader's NAV ident"),
        fra: datetime | None = Parameter(default=None, description="earliest instant read (inclusive, RFC 3339)"),
        til: datetime | None = Parameter(default=None, description="latest instant read (inclusive, RFC 3339)"),
    ) -> InnsynSide:
        if person_pseudonym is not None and not _PSEUDONYM.match(person_pseudonym.lower()):
            raise InvalidRequest("person_pseudonym: 64 hex digits", felt="person_pseudonym")
        logg: ReadLog = state.innsynslogg
        await logg.skriv()  # every read this instance has answered so far is in what follows
        try:
            side = await read_log.les(
                state.pool, etter=etter, antall=antall, person_pseudonym=person_pseudonym, nav_ident=nav_ident,
                fra=fra, til=til,
            )
        except asyncpg.DataError:
            raise InvalidRequest("a query value is out of range") from None
        return InnsynSide(elementer=[InnsynElement(**e) for e in side.elementer], neste=side.neste)


async def personer_for(state: State, saker: Sequence[tuple[str, UUID]]) -> dict[UUID, Any]:
    """The person of each (aggregat, aggregat_id), for reads whose rows do not carry it (the alert inbox):
    from the deadline views in one query, and from the store for a case the views have not reached yet."""
    ids = {agg_id: aggregat for aggregat, agg_id in saker}
    if not ids:
        return {}
    lop_tabell, garanti_tabell = tabeller()
    rows = await state.pool.fetch(
        f"SELECT lop_id AS id, versjon, tilstand FROM {lop_tabell} WHERE lop_id = ANY($1::uuid[]) "
        f"UNION ALL SELECT garanti_id, versjon, tilstand FROM {garanti_tabell} WHERE garanti_id = ANY($1::uuid[])",
        list(ids),
    )
    personer: dict[UUID, Any] = {}
    await state.oversikt.forbered(state.pool, [row["tilstand"] for row in rows])  # field keys, if encrypted
    for row in rows:
        agg_id = as_uuid(row["id"])
        personer[agg_id] = state.oversikt.dekod(agg_id, row["versjon"], row["tilstand"]).person
    for agg_id in ids.keys() - personer.keys():
        with contextlib.suppress(NotFound):
            personer[agg_id] = (await state.service.store.get(agg_id)).person
    return personer
